//! Weighted answers, Route 53 semantics: one member set per query, drawn in proportion to its
//! weight.
//!
//! Sits at the serving end of the provider step (plan -> **provider** -> verify): the planner
//! expresses a canary split as weighted record sets, and this module is what turns weights into
//! a traffic share for real resolvers. A weight of 0 is never chosen unless every member has
//! weight 0, in which case all members are equally likely (as Route 53 does).
//!
//! The generator is SplitMix64: tiny, fast, statistically good enough for traffic splitting,
//! and seedable so tests get a repeatable sequence. It is not used for anything secret.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use dnsfailback_provider::RecordSet;

/// A small seedable pseudo-random generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct WeightRng {
    state: u64,
}

impl WeightRng {
    /// A generator with a fixed seed: the same seed gives the same sequence of choices.
    pub fn seeded(seed: u64) -> Self {
        WeightRng { state: seed }
    }

    /// A generator seeded from the standard library's per-process random keys.
    pub fn from_entropy() -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x6a09_e667_f3bc_c908);
        WeightRng { state: h.finish() }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` without modulo bias worth speaking of (`bound` > 0); used for
    /// weighted choices and to rotate round-robin sets.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

/// Picks the sets to answer among all sets of one name and type.
///
/// Plain sets (no `set_id`) are answered in full. When there are weighted members, exactly one
/// is answered, chosen in proportion to its weight. The apply path refuses to mix the two kinds
/// under one name and type; if a hand-edited data file mixes them anyway, the plain sets win.
pub fn choose<'a>(sets: &'a [RecordSet], rng: &mut WeightRng) -> Vec<&'a RecordSet> {
    let plain: Vec<&RecordSet> = sets.iter().filter(|s| s.set_id.is_none()).collect();
    if !plain.is_empty() {
        return plain;
    }
    let total: u64 = sets.iter().map(|s| u64::from(s.weight.unwrap_or(0))).sum();
    if total == 0 {
        let n = sets.len() as u64;
        if n == 0 {
            return Vec::new();
        }
        let i = rng.below(n) as usize;
        return sets.get(i).into_iter().collect();
    }
    let mut point = rng.below(total);
    for set in sets {
        let w = u64::from(set.weight.unwrap_or(0));
        if point < w {
            return vec![set];
        }
        point -= w;
    }
    // Unreachable while `point < total`; answer nothing rather than panic.
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsfailback_provider::{Fqdn, RecordType};

    fn member(id: &str, ip: &str, weight: u32) -> Result<RecordSet, String> {
        Ok(RecordSet::weighted(
            Fqdn::new("www.example.test")?,
            RecordType::A,
            60,
            vec![ip.into()],
            id,
            weight,
        ))
    }

    fn share(sets: &[RecordSet], id: &str, draws: usize, seed: u64) -> f64 {
        let mut rng = WeightRng::seeded(seed);
        let hits = (0..draws)
            .filter(|_| {
                choose(sets, &mut rng)
                    .first()
                    .is_some_and(|s| s.set_id.as_deref() == Some(id))
            })
            .count();
        hits as f64 / draws as f64
    }

    #[test]
    fn shares_follow_weights() -> Result<(), String> {
        let sets = [member("p", "192.0.2.1", 5)?, member("b", "192.0.2.2", 95)?];
        let p = share(&sets, "p", 100_000, 1);
        assert!((p - 0.05).abs() < 0.005, "primary share {p}");
        Ok(())
    }

    #[test]
    fn zero_weight_is_never_chosen_unless_all_are_zero() -> Result<(), String> {
        let sets = [member("p", "192.0.2.1", 0)?, member("b", "192.0.2.2", 1)?];
        assert_eq!(share(&sets, "p", 10_000, 2), 0.0);
        let zeros = [member("p", "192.0.2.1", 0)?, member("b", "192.0.2.2", 0)?];
        let p = share(&zeros, "p", 10_000, 3);
        assert!((p - 0.5).abs() < 0.03, "share with all-zero weights {p}");
        Ok(())
    }

    #[test]
    fn plain_sets_answer_in_full_and_seed_repeats() -> Result<(), String> {
        let plain = RecordSet::new(
            Fqdn::new("www.example.test")?,
            RecordType::A,
            60,
            vec!["192.0.2.1".into(), "192.0.2.2".into()],
        );
        let sets = [plain];
        assert_eq!(choose(&sets, &mut WeightRng::seeded(0)).len(), 1);
        assert!(choose(&[], &mut WeightRng::seeded(0)).is_empty());
        let (mut a, mut b) = (WeightRng::seeded(9), WeightRng::seeded(9));
        assert_eq!(a.next_u64(), b.next_u64());
        Ok(())
    }
}
