//! Record sets (presentation text, as the planner writes them) as wire records for answers.
//!
//! Sits at the serving end of the provider step (plan -> **provider** -> verify): record sets
//! are stored as the shared presentation text so `read` returns exactly what was applied, and
//! are turned into wire records only when a query is answered, through the same conversion the
//! RFC 2136 adapter uses ([`dnsfailback_provider::wire`]). Values were checked when they were
//! applied or loaded, so a failure here is logged and the value skipped, never a panic. It
//! happens per query, so it is logged at `debug` (never `info` or above, which would flood the
//! log under load).

use std::str::FromStr;

use dnsfailback_provider::wire::to_rdata;
use dnsfailback_provider::RecordSet;
use hickory_proto::rr::{Name, Record};

pub use dnsfailback_provider::wire::managed_type;

/// A domain name in presentation format as a hickory name (always fully qualified).
pub fn name(text: &str) -> Result<Name, String> {
    let mut n = Name::from_str(text).map_err(|e| format!("`{text}` is not a domain name: {e}"))?;
    n.set_fqdn(true);
    Ok(n)
}

/// Every value of `set` as a wire record; values that cannot be translated are logged and left
/// out.
pub fn set_to_records(set: &RecordSet) -> Vec<Record> {
    let Ok(owner) = name(set.name.as_str()) else {
        tracing::debug!(set = %set.key(), "owner name cannot be encoded; not answered");
        return Vec::new();
    };
    set.values
        .iter()
        .filter_map(|v| match to_rdata(set.rtype, v) {
            Ok(rdata) => Some(Record::from_rdata(owner.clone(), set.ttl, rdata)),
            Err(e) => {
                tracing::debug!(set = %set.key(), "value not answered: {e}");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsfailback_provider::{Fqdn, RecordType};
    use hickory_proto::rr::RData;

    #[test]
    fn a_txt_set_answers_with_its_character_strings() -> Result<(), String> {
        let set = RecordSet::new(
            Fqdn::new("t.example.test")?,
            RecordType::Txt,
            60,
            vec!["\"part one\" \"part two\"".into(), "bad \"".into()],
        );
        let records = set_to_records(&set);
        assert_eq!(
            records.len(),
            2,
            "plain text with a quote is still one string"
        );
        let RData::TXT(t) = &records[0].data else {
            return Err(format!("{:?}", records[0]));
        };
        assert_eq!(t.txt_data.len(), 2);
        assert_eq!(&*t.txt_data[1], b"part two");
        Ok(())
    }
}
