//! Verify: the last stage of the flow, plan -> provider -> **verify**. After an apply, the
//! zone job (and crash recovery) reads the records back and compares them with what was
//! planned; a provider that said "OK" but serves something else is an error, not a success.

use dnsfailback_provider::{Change, ChangeSet, RecordSet};

/// Why `got` does not hold what `changes` promised, if it does not.
pub(super) fn mismatch(got: &[RecordSet], changes: &ChangeSet) -> Option<String> {
    for c in &changes.changes {
        let ok = match c {
            Change::Create { new } | Change::Update { new, .. } => {
                got.iter().any(|g| g.same_answer(new))
            }
            Change::Delete { old } => !got.iter().any(|g| g.key() == old.key()),
        };
        if !ok {
            return Some(format!(
                "read-back mismatch: planned {c}, provider serves [{}]",
                got.iter()
                    .map(|g| g.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsfailback_provider::{Fqdn, RecordType};

    fn set(ttl: u32, ip: &str) -> RecordSet {
        let name = Fqdn::new("shop.example.test").unwrap_or_else(|e| panic!("{e}"));
        RecordSet::new(name, RecordType::A, ttl, vec![ip.into()])
    }

    #[test]
    fn a_provider_serving_something_else_is_a_mismatch() {
        let zone = Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}"));
        let mut cs = ChangeSet::new(zone);
        cs.changes.push(Change::Update {
            old: set(300, "192.0.2.1"),
            new: set(30, "192.0.2.2"),
        });
        assert_eq!(mismatch(&[set(30, "192.0.2.2")], &cs), None);
        let why = mismatch(&[set(300, "192.0.2.2")], &cs).unwrap_or_default();
        assert!(
            why.starts_with("read-back mismatch: planned ~ update"),
            "{why}"
        );
        cs.changes = vec![Change::Delete {
            old: set(30, "192.0.2.2"),
        }];
        assert!(mismatch(&[set(30, "192.0.2.2")], &cs).is_some());
        assert_eq!(mismatch(&[], &cs), None);
    }
}
