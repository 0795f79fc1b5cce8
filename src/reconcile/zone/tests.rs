//! Tests of the zone job: batching a zone's changes within the provider's limit.

use super::*;
use dnsfailback_provider::{Change, RecordSet, RecordType};

fn pending(index: usize, values: usize) -> Pending {
    let name = Fqdn::new(&format!("s{index}.example.test")).unwrap_or_else(|e| panic!("{e}"));
    let set = |v: &str| RecordSet::new(name.clone(), RecordType::A, 30, vec![v.into(); values]);
    let mut changes = ChangeSet::new(Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}")));
    changes.changes.push(Change::Update {
        old: set("192.0.2.1"),
        new: set("192.0.2.2"),
    });
    Pending {
        index,
        intent_id: index as i64,
        changes,
    }
}

#[test]
fn batches_fill_up_to_the_providers_limit_and_never_split_a_service() {
    // 700 services of one value: an update counts 2 records, so 500 fit in 1,000.
    let sizes: Vec<usize> = batches((0..700).map(|i| pending(i, 1)).collect(), 1000)
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(sizes, vec![500, 200]);
    // No limit: one batch.
    assert_eq!(
        batches((0..700).map(|i| pending(i, 1)).collect(), 0).len(),
        1
    );
    // A service larger than the limit still goes alone (the provider then says why).
    let big = batches(vec![pending(0, 3), pending(1, 600), pending(2, 3)], 1000);
    assert_eq!(big.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 1]);
}
