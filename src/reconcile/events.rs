//! Failure events: many services failing over for one cause are one event.
//!
//! Sits between policy and plan in the flow (probe -> health -> policy -> **events** -> plan):
//! an automatic failover away from a primary is admitted into the event of the primary's
//! failure domain (its `site`, or its address when no site is configured). A whole site going
//! dark is one event however many services it moves; the `max_failovers` cap counts events,
//! so it still stops a controller that fails unrelated services over one after another, but
//! never strands half a site. Events are reported once, in the log and in the audit trail under
//! the pseudo-service [`EVENTS_LOG`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The audit trail's name for failure events (`dnsfailback history @events`).
pub const EVENTS_LOG: &str = "@events";

/// Failovers of one domain within this long of the previous one join its event: long enough
/// for every service's checks to cross their thresholds (interval x fall, plus jitter).
const JOIN_MS: u64 = 60_000;

/// One failure event.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Event {
    pub id: u64,
    /// `site a`, or `address 192.0.2.10` for targets without a site.
    pub domain: String,
    pub opened_ms: u64,
    pub last_ms: u64,
    pub services: BTreeSet<String>,
    /// How many services the last report named.
    pub reported: usize,
}

impl Event {
    /// How status and the audit trail name the event.
    pub fn label(&self) -> String {
        format!("event {} ({} down)", self.id, self.domain)
    }
}

/// Open events and the `max_failovers` cap over them. `Clone` so that a plan can admit into
/// a scratch copy exactly as the tick will admit into the real one.
#[derive(Debug, Clone)]
pub(super) struct Events {
    max: usize,
    window_ms: u64,
    next_id: u64,
    open: BTreeMap<String, Event>,
    /// When recent events opened, for the cap.
    opened: VecDeque<u64>,
    /// Events closed since the last report.
    closed: Vec<Event>,
}

impl Events {
    /// At most `max` events in any `window_ms`.
    pub fn new(max: usize, window_ms: u64) -> Self {
        Events {
            max,
            window_ms,
            next_id: 1,
            open: BTreeMap::new(),
            opened: VecDeque::new(),
            closed: Vec::new(),
        }
    }

    /// An automatic failover of `service` away from `domain` is due at `now`: the label of the
    /// event it belongs to, or why the cap holds it. A service already in the domain's open
    /// event (it failed back and over again) opens a new event: flapping is counted.
    pub fn admit(&mut self, domain: &str, service: &str, now: u64) -> Result<String, String> {
        self.expire(now);
        if let Some(ev) = self.open.get_mut(domain) {
            if !ev.services.contains(service) {
                ev.services.insert(service.to_string());
                ev.last_ms = now;
                return Ok(ev.label());
            }
        }
        if self.opened.len() >= self.max {
            return Err(format!(
                "max_failovers: {} failure events in the last {}s; holding this failover of \
                 {domain} (a wider problem, or the controller's own network? see `status`)",
                self.opened.len(),
                self.window_ms / 1000
            ));
        }
        let ev = Event {
            id: self.next_id,
            domain: domain.to_string(),
            opened_ms: now,
            last_ms: now,
            services: BTreeSet::from([service.to_string()]),
            reported: 0,
        };
        self.next_id += 1;
        self.opened.push_back(now);
        let label = ev.label();
        self.open.insert(domain.to_string(), ev);
        Ok(label)
    }

    /// Events that gained services since they were last reported, marked as reported; the
    /// flag says whether it is the event's first report.
    pub fn take_news(&mut self) -> Vec<(Event, bool)> {
        self.open
            .values_mut()
            .filter(|e| e.services.len() > e.reported)
            .map(|e| {
                let first = e.reported == 0;
                e.reported = e.services.len();
                (e.clone(), first)
            })
            .collect()
    }

    /// Events that closed (a quiet minute) since the last call.
    pub fn take_closed(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.closed)
    }

    /// Closes quiet events and forgets openings older than the cap's window; call every tick.
    pub fn expire(&mut self, now: u64) {
        let quiet: Vec<String> = self
            .open
            .iter()
            .filter(|(_, e)| now.saturating_sub(e.last_ms) > JOIN_MS)
            .map(|(k, _)| k.clone())
            .collect();
        for k in quiet {
            if let Some(e) = self.open.remove(&k) {
                self.closed.push(e);
            }
        }
        while self
            .opened
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= self.window_ms)
        {
            self.opened.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_site_is_one_event_and_does_not_reach_the_cap() {
        let mut ev = Events::new(2, 600_000);
        for i in 0..1000 {
            let r = ev.admit("site a", &format!("s{i}"), 1000 + i * 10);
            assert_eq!(r.as_deref(), Ok("event 1 (site a down)"), "service {i}");
        }
        let news = ev.take_news();
        assert_eq!(news.len(), 1);
        assert_eq!((news[0].0.services.len(), news[0].1), (1000, true));
        assert!(ev.take_news().is_empty(), "reported once");
    }

    #[test]
    fn unrelated_failovers_one_after_another_are_capped() {
        let mut ev = Events::new(3, 600_000);
        for i in 0..3u64 {
            assert!(ev
                .admit(&format!("address 192.0.2.{i}"), "x", i * 1000)
                .is_ok());
        }
        let held = ev.admit("address 192.0.2.9", "y", 5000);
        assert!(
            held.as_ref()
                .is_err_and(|e| e.starts_with("max_failovers: 3 failure events")),
            "{held:?}"
        );
        // The window passes: events may open again.
        assert!(ev.admit("address 192.0.2.9", "y", 601_000).is_ok());
    }

    #[test]
    fn a_flapping_service_opens_a_new_event_each_time() {
        let mut ev = Events::new(2, 600_000);
        assert!(ev.admit("site a", "shop", 0).is_ok());
        assert_eq!(
            ev.admit("site a", "shop", 20_000).as_deref(),
            Ok("event 2 (site a down)")
        );
        assert!(ev.admit("site a", "shop", 40_000).is_err());
    }

    #[test]
    fn an_event_closes_after_a_quiet_minute() {
        let mut ev = Events::new(5, 600_000);
        assert!(ev.admit("site a", "s1", 0).is_ok());
        assert_eq!(
            ev.admit("site a", "s2", 30_000).as_deref(),
            Ok("event 1 (site a down)")
        );
        assert_eq!(
            ev.admit("site a", "s3", 200_000).as_deref(),
            Ok("event 2 (site a down)")
        );
        let closed = ev.take_closed();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].services.len(), 2);
    }
}
