//! Quorum across vantage points: one target, judged from several places.
//!
//! Second stage of the flow, probe -> **health** -> policy -> plan -> provider -> verify. The
//! controller is one vantage point; remote probe agents are others. Each vantage point judges
//! the target on its own (thresholds, windows); [`VantageQuorum`] combines their verdicts so
//! that one agent with a broken network can never move traffic on its own.
//!
//! Rules (with `k` = [`VantageQuorum::required`]):
//! * a report older than `stale_after`, or a vantage point that was [expected](
//!   VantageQuorum::expect) but never reported, counts as **Unknown**, never as Down;
//! * **Down** when at least `k` fresh reports say Down;
//! * **Up** when at least one fresh report says Up *and* Down is out of reach: the Down
//!   reports plus everything unknown or stale stay below `k`, so even if every silent vantage
//!   point turned out to see Down, the quorum would not be met. This mirrors
//!   [`quorum_state`](super::quorum_state) across a target's checks;
//! * **Unknown** otherwise. Policy never moves traffic on Unknown: the active target stays.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::threshold::State;

/// The combined verdict of every vantage point about one target, with the evidence.
///
/// Each list holds vantage ids in sorted order; every known vantage point is in exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VantageVerdict {
    /// The target's state across vantage points.
    pub state: State,
    /// Fresh reports saying Down.
    pub down: Vec<String>,
    /// Fresh reports saying Up.
    pub up: Vec<String>,
    /// Fresh reports saying Unknown, and expected vantage points that never reported.
    pub unknown: Vec<String>,
    /// Reports older than `stale_after`; counted as Unknown.
    pub stale: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
struct Report {
    state: State,
    at: Instant,
}

/// Per-target collector of vantage verdicts, and the k-of-n rule that combines them.
#[derive(Debug, Clone)]
pub struct VantageQuorum {
    required: usize,
    stale_after: Duration,
    /// (vantage id, its latest report; `None` = expected, nothing heard yet), sorted by id.
    /// A sorted vector, not a map: every target has one of these and most have one or two
    /// vantage points, where a map's node costs half a kilobyte (10,000 services: 10 MB).
    reports: Vec<(Arc<str>, Option<Report>)>,
}

impl VantageQuorum {
    /// Down needs `required` vantage points (at least 1; 0 is treated as 1 so that an empty
    /// report set can never be Down); a report older than `stale_after` is ignored.
    pub fn new(required: usize, stale_after: Duration) -> Self {
        VantageQuorum {
            required: required.max(1),
            stale_after,
            reports: Vec::new(),
        }
    }

    /// How many vantage points must agree on Down (`k`).
    pub fn required(&self) -> usize {
        self.required
    }

    /// How old a report may get before it counts as Unknown.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// Registers a vantage point that should report, so that its silence shows up as Unknown
    /// (and keeps Up honest) even before its first report. No-op if already known.
    /// Pass a shared `Arc<str>` to keep one copy of the id for every target.
    pub fn expect(&mut self, vantage: impl Into<Arc<str>>) {
        let vantage = vantage.into();
        if let Err(at) = self.position(&vantage) {
            // One slot at a time: most targets have one or two vantage points.
            self.reports.reserve_exact(1);
            self.reports.insert(at, (vantage, None));
        }
    }

    fn position(&self, vantage: &str) -> Result<usize, usize> {
        self.reports
            .binary_search_by(|(id, _)| id.as_ref().cmp(vantage))
    }

    /// Records `vantage`'s verdict, made at `at` on the controller's clock (stamp remote reports
    /// when they arrive). A report older than the one already held is ignored, so late
    /// out-of-order deliveries cannot roll a vantage point back.
    pub fn report(&mut self, vantage: &str, state: State, at: Instant) {
        let i = match self.position(vantage) {
            Ok(i) => i,
            Err(i) => {
                self.reports.insert(i, (Arc::from(vantage), None));
                i
            }
        };
        let Some((_, slot)) = self.reports.get_mut(i) else {
            return;
        };
        if slot.is_none_or(|r| r.at <= at) {
            *slot = Some(Report { state, at });
        }
    }

    /// Drops a vantage point (an agent removed from the configuration).
    pub fn forget(&mut self, vantage: &str) {
        if let Ok(i) = self.position(vantage) {
            self.reports.remove(i);
        }
    }

    /// The combined verdict at `now`; see the module docs for the rules.
    pub fn verdict(&self, now: Instant) -> VantageVerdict {
        let mut v = VantageVerdict {
            state: State::Unknown,
            down: Vec::new(),
            up: Vec::new(),
            unknown: Vec::new(),
            stale: Vec::new(),
        };
        for (id, report) in &self.reports {
            let list = match report {
                None => &mut v.unknown,
                Some(r) if now.saturating_duration_since(r.at) > self.stale_after => &mut v.stale,
                Some(r) => match r.state {
                    State::Down => &mut v.down,
                    State::Up => &mut v.up,
                    State::Unknown => &mut v.unknown,
                },
            };
            list.push(id.to_string());
        }
        v.state = self.rule(v.down.len(), v.up.len(), v.unknown.len() + v.stale.len());
        v
    }

    /// The verdict's state alone, without its lists: what the loop reads of every target on
    /// every tick (the lists are only worth building when several vantage points vote).
    pub fn state(&self, now: Instant) -> State {
        let (mut down, mut up, mut undecided) = (0, 0, 0);
        for (_, report) in &self.reports {
            match report {
                Some(r) if now.saturating_duration_since(r.at) <= self.stale_after => {
                    match r.state {
                        State::Down => down += 1,
                        State::Up => up += 1,
                        State::Unknown => undecided += 1,
                    }
                }
                _ => undecided += 1,
            }
        }
        self.rule(down, up, undecided)
    }

    /// How many vantage points vote (the controller included).
    pub fn voters(&self) -> usize {
        self.reports.len()
    }

    /// Down needs k vantage points. Up needs a fresh "up" and either more "up" than "down"
    /// reports, or no way for the "down" ones to reach k even if every silent vantage point
    /// said down. Silent or stale vantage points never make a target down, and a dead agent
    /// alone cannot freeze every failback.
    fn rule(&self, down: usize, up: usize, undecided: usize) -> State {
        if down >= self.required {
            State::Down
        } else if up > 0 && (up > down || down + undecided < self.required) {
            State::Up
        } else {
            State::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALE: Duration = Duration::from_secs(30);

    fn quorum(k: usize, ids: &[&str]) -> VantageQuorum {
        let mut q = VantageQuorum::new(k, STALE);
        for id in ids {
            q.expect(*id);
        }
        q
    }

    #[tokio::test(start_paused = true)]
    async fn one_bad_agent_never_moves_traffic() {
        let t0 = Instant::now();
        let mut q = quorum(2, &["controller", "agent-a", "agent-b"]);
        q.report("controller", State::Up, t0);
        q.report("agent-a", State::Down, t0);
        q.report("agent-b", State::Up, t0);
        let v = q.verdict(t0);
        assert_eq!(v.state, State::Up);
        assert_eq!(v.down, ["agent-a"]);
        assert_eq!(v.up, ["agent-b", "controller"]);
    }

    #[tokio::test(start_paused = true)]
    async fn k_of_n_takes_the_target_down() {
        let t0 = Instant::now();
        let mut q = quorum(2, &["controller", "agent-a", "agent-b"]);
        q.report("controller", State::Down, t0);
        q.report("agent-a", State::Down, t0);
        q.report("agent-b", State::Up, t0);
        let v = q.verdict(t0);
        assert_eq!(v.state, State::Down);
        assert_eq!(v.down, ["agent-a", "controller"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_agent_is_unknown_not_down() {
        let t0 = Instant::now();
        let mut q = quorum(2, &["controller", "agent-a", "agent-b"]);
        q.report("controller", State::Down, t0);
        q.report("agent-a", State::Down, t0);
        q.report("agent-b", State::Up, t0);
        tokio::time::advance(Duration::from_secs(20)).await;
        let t1 = Instant::now();
        q.report("controller", State::Down, t1);
        q.report("agent-b", State::Up, t1);
        // agent-a is now 40 s old: stale, so its Down no longer counts.
        let v = q.verdict(t1 + Duration::from_secs(20));
        assert_eq!(v.stale, ["agent-a"]);
        assert_eq!(v.down, ["controller"]);
        assert_eq!(v.state, State::Unknown, "1 down + 1 stale could still be 2");
    }

    #[tokio::test(start_paused = true)]
    async fn never_reported_agent_counts_as_unknown() {
        let t0 = Instant::now();
        let mut q = quorum(2, &["controller", "agent-a", "agent-b"]);
        q.report("controller", State::Up, t0);
        q.report("agent-b", State::Up, t0);
        let v = q.verdict(t0);
        assert_eq!(v.unknown, ["agent-a"]);
        assert_eq!(v.state, State::Up, "one unknown cannot make a quorum of 2");

        let mut lonely = quorum(2, &["controller", "agent-a", "agent-b"]);
        lonely.report("controller", State::Up, t0);
        assert_eq!(
            lonely.verdict(t0).state,
            State::Up,
            "silent agents are no evidence: they neither make Down nor freeze Up"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn all_stale_is_unknown_even_if_they_said_down() {
        let t0 = Instant::now();
        let mut q = quorum(1, &["controller"]);
        q.report("controller", State::Down, t0);
        assert_eq!(q.verdict(t0).state, State::Down);
        assert_eq!(
            q.verdict(t0 + STALE).state,
            State::Down,
            "at the limit is fresh"
        );
        let v = q.verdict(t0 + STALE + Duration::from_millis(1));
        assert_eq!(v.state, State::Unknown);
        assert_eq!(v.stale, ["controller"]);
    }

    #[tokio::test(start_paused = true)]
    async fn out_of_order_reports_do_not_roll_back() {
        let t0 = Instant::now();
        let mut q = VantageQuorum::new(1, STALE);
        q.report("a", State::Up, t0 + Duration::from_secs(5));
        q.report("a", State::Down, t0);
        assert_eq!(q.verdict(t0 + Duration::from_secs(5)).state, State::Up);
    }

    #[tokio::test(start_paused = true)]
    async fn empty_and_zero_quorum_are_never_down() {
        let t0 = Instant::now();
        let q = VantageQuorum::new(0, STALE);
        assert_eq!(q.required(), 1);
        assert_eq!(q.stale_after(), STALE);
        assert_eq!(q.verdict(t0).state, State::Unknown);
    }

    #[tokio::test(start_paused = true)]
    async fn forgotten_agent_no_longer_counts() {
        let t0 = Instant::now();
        let mut q = quorum(2, &["controller", "agent-a", "agent-b"]);
        q.report("controller", State::Up, t0);
        q.report("agent-a", State::Down, t0);
        assert_eq!(
            q.verdict(t0).state,
            State::Unknown,
            "one up, one down: undecided"
        );
        q.forget("agent-b");
        let v = q.verdict(t0);
        assert_eq!(
            v.state,
            State::Up,
            "1 down of the 2 needed, nobody left to make it 2"
        );
        assert!(
            v.unknown.is_empty() && v.stale.is_empty(),
            "agent-b is no longer listed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_state_alone_follows_the_same_rule_as_the_verdict() {
        let t0 = Instant::now();
        let states = [State::Up, State::Down, State::Unknown];
        // Every k, and for three vantage points every mix of up / down / unknown / silent /
        // stale reports: `state` must say what `verdict` says.
        for k in 1..=3 {
            for code in 0..5usize.pow(3) {
                let mut q = quorum(k, &["a", "b", "c"]);
                for (i, id) in ["a", "b", "c"].iter().enumerate() {
                    match (code / 5usize.pow(i as u32)) % 5 {
                        n @ 0..=2 => q.report(id, states[n], t0 + STALE),
                        3 => {}
                        _ => q.report(id, State::Down, t0),
                    }
                }
                let now = t0 + STALE + Duration::from_millis(1);
                assert_eq!(q.state(now), q.verdict(now).state, "k={k} code={code}");
            }
        }
    }
}
