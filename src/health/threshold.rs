//! Rise/fall thresholds: N consecutive results before a check changes state.
//!
//! Second stage of the flow (probe -> **health** -> policy): one lost packet must never move
//! traffic, so a check goes down only after `fall` consecutive failures and up only after
//! `rise` consecutive successes.

use serde::{Deserialize, Serialize};

/// A check's or a target's judged state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not enough results yet: never a reason to move traffic.
    Unknown,
    Up,
    Down,
}

/// Consecutive-result counter for one check.
#[derive(Debug, Clone)]
pub struct Threshold {
    rise: u32,
    fall: u32,
    successes: u32,
    failures: u32,
    state: State,
}

impl Threshold {
    /// A counter starting in [`State::Unknown`].
    pub fn new(rise: u32, fall: u32) -> Self {
        Threshold {
            rise: rise.max(1),
            fall: fall.max(1),
            successes: 0,
            failures: 0,
            state: State::Unknown,
        }
    }

    /// Feeds one result; returns the (possibly new) state.
    pub fn observe(&mut self, ok: bool) -> State {
        if ok {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
            if self.successes >= self.rise {
                self.state = State::Up;
            }
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
            if self.failures >= self.fall {
                self.state = State::Down;
            }
        }
        self.state
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failure_does_not_take_a_check_down() {
        let mut t = Threshold::new(2, 3);
        t.observe(true);
        assert_eq!(t.observe(true), State::Up);
        assert_eq!(t.observe(false), State::Up);
        assert_eq!(t.observe(false), State::Up);
        assert_eq!(
            t.observe(true),
            State::Up,
            "a success resets the failure count"
        );
        t.observe(false);
        t.observe(false);
        assert_eq!(t.observe(false), State::Down);
    }

    #[test]
    fn starts_unknown_and_rises_after_rise_successes() {
        let mut t = Threshold::new(3, 1);
        assert_eq!(t.state(), State::Unknown);
        assert_eq!(t.observe(true), State::Unknown);
        assert_eq!(t.observe(true), State::Unknown);
        assert_eq!(t.observe(true), State::Up);
        assert_eq!(t.observe(false), State::Down);
        assert_eq!(t.observe(true), State::Down, "rise needs 3 in a row again");
    }
}
