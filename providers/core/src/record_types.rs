//! [`RecordTypes`]: the set of record types an adapter can publish.
//!
//! Part of [`crate::Capabilities`], so that configuration validation can refuse a service whose
//! type its provider cannot publish before anything runs, and [`crate::ChangeSet::validate`]
//! refuses such a change at run time. A bit set rather than a `Vec` so that capabilities stay
//! `const` (the controller's provider registry holds them in a static list).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::record::RecordType;

/// A set of [`RecordType`]s. Serialised as a list of mnemonics (`["A", "AAAA"]`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordTypes(u8);

impl RecordTypes {
    /// No type at all.
    pub const NONE: RecordTypes = RecordTypes(0);
    /// Every type the controller moves ([`RecordType::ALL`]).
    pub const ALL: RecordTypes = RecordTypes::of(&RecordType::ALL);

    /// The set holding exactly `types`; usable in `const` capability declarations.
    pub const fn of(types: &[RecordType]) -> RecordTypes {
        let mut bits = 0u8;
        let mut i = 0;
        while i < types.len() {
            bits |= bit(types[i]);
            i += 1;
        }
        RecordTypes(bits)
    }

    /// Whether `rtype` is in the set.
    pub const fn contains(self, rtype: RecordType) -> bool {
        self.0 & bit(rtype) != 0
    }

    /// The types in the set, in [`RecordType::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = RecordType> {
        RecordType::ALL
            .into_iter()
            .filter(move |t| self.contains(*t))
    }
}

const fn bit(rtype: RecordType) -> u8 {
    1 << (rtype as u8)
}

impl Default for RecordTypes {
    /// Every type: what each adapter of this project can publish.
    fn default() -> Self {
        RecordTypes::ALL
    }
}

impl fmt::Display for RecordTypes {
    /// `A, AAAA, CNAME` (or `none`), for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(|t| t.as_str()).collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(", "))
        }
    }
}

impl fmt::Debug for RecordTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<RecordType> for RecordTypes {
    fn from_iter<I: IntoIterator<Item = RecordType>>(iter: I) -> Self {
        RecordTypes(iter.into_iter().fold(0, |bits, t| bits | bit(t)))
    }
}

impl Serialize for RecordTypes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for RecordTypes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<RecordType>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_exactly_what_it_was_given() {
        let some = RecordTypes::of(&[RecordType::A, RecordType::Txt]);
        assert!(some.contains(RecordType::A));
        assert!(some.contains(RecordType::Txt));
        assert!(!some.contains(RecordType::Aaaa));
        assert_eq!(some.to_string(), "A, TXT");
        assert_eq!(RecordTypes::NONE.to_string(), "none");
        assert_eq!(RecordTypes::ALL.to_string(), "A, AAAA, CNAME, MX, SRV, TXT");
        assert!(RecordType::ALL
            .iter()
            .all(|t| RecordTypes::ALL.contains(*t)));
    }

    #[test]
    fn round_trips_as_a_list_of_mnemonics() -> Result<(), serde_json::Error> {
        let some = RecordTypes::of(&[RecordType::Aaaa, RecordType::Mx]);
        let text = serde_json::to_string(&some)?;
        assert_eq!(text, r#"["AAAA","MX"]"#);
        assert_eq!(serde_json::from_str::<RecordTypes>(&text)?, some);
        Ok(())
    }
}
