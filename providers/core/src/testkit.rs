//! The conformance suite every adapter runs against its real peer (BIND/Knot, moto, Prism with
//! a fake, the embedded server), so all adapters honour the same contract.
//!
//! Steps are skipped only when [`Capabilities`] say the provider cannot do them, and the
//! returned report lists what ran and what was skipped and why: nothing is skipped silently.

use std::time::Duration;

use crate::capability::Capabilities;
use crate::change::{Change, ChangeSet};
use crate::provider::Provider;
use crate::record::{Fqdn, RecordSet, RecordType};

/// What the suite did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConformanceReport {
    pub passed: Vec<&'static str>,
    pub skipped: Vec<(&'static str, &'static str)>,
}

fn fail(step: &str, msg: impl std::fmt::Display) -> String {
    format!("conformance step `{step}` failed: {msg}")
}

fn name(prefix: &str, label: &str, zone: &Fqdn) -> Result<Fqdn, String> {
    Fqdn::new(&format!("{label}.{prefix}.{}", zone.as_str()))
}

async fn read_one(
    p: &dyn Provider,
    zone: &Fqdn,
    n: &Fqdn,
    step: &str,
) -> Result<Vec<RecordSet>, String> {
    read_typed(p, zone, n, RecordType::A, step).await
}

async fn read_typed(
    p: &dyn Provider,
    zone: &Fqdn,
    n: &Fqdn,
    rtype: RecordType,
    step: &str,
) -> Result<Vec<RecordSet>, String> {
    let mut sets = p
        .read(zone, n, rtype)
        .await
        .map_err(|e| fail(step, format!("read failed: {e}")))?;
    sets.sort_by(|a, b| a.set_id.cmp(&b.set_id));
    Ok(sets)
}

async fn apply(
    p: &dyn Provider,
    zone: &Fqdn,
    changes: Vec<Change>,
    step: &str,
) -> Result<(), String> {
    let cs = ChangeSet {
        zone: zone.clone(),
        changes,
    };
    p.apply(&cs)
        .await
        .map(|_| ())
        .map_err(|e| fail(step, format!("apply failed: {e}")))
}

/// Applies `changes`, then reads `name` back and expects exactly `want`.
async fn apply_and_read_back(
    p: &dyn Provider,
    zone: &Fqdn,
    changes: Vec<Change>,
    name: &Fqdn,
    want: &[RecordSet],
    step: &str,
) -> Result<(), String> {
    apply(p, zone, changes, step).await?;
    expect_same(step, &read_one(p, zone, name, step).await?, want)
}

fn expect_same(step: &str, got: &[RecordSet], want: &[RecordSet]) -> Result<(), String> {
    let ok = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g.same_answer(w));
    if ok {
        Ok(())
    } else {
        Err(fail(step, format!("read back {got:?}, expected {want:?}")))
    }
}

/// Runs the suite under `<label>.<prefix>.<zone>` names. `prefix` must be a label no other
/// test uses, so parallel runs against one server do not collide. Uses TTLs >= 60 and
/// addresses from the documentation ranges.
pub async fn run_conformance(
    p: &dyn Provider,
    zone: &Fqdn,
    prefix: &str,
) -> Result<ConformanceReport, String> {
    let caps: Capabilities = p.capabilities();
    let mut report = ConformanceReport::default();
    // A normal TTL and a lower failover TTL, both acceptable to the provider.
    let ttl = caps.min_ttl.max(300);
    let www = name(prefix, "www", zone)?;
    let sibling = name(prefix, "sibling", zone)?;

    // 1. Reading a name that does not exist yields no sets, not an error.
    let step = "read_absent";
    if !read_one(p, zone, &www, step).await?.is_empty() {
        return Err(fail(
            step,
            format!("{www} should not exist before the suite; clean the zone"),
        ));
    }
    report.passed.push(step);

    // 2. Create a plain set and a sibling; read back exactly what was written.
    let step = "create";
    let v1 = RecordSet::new(www.clone(), RecordType::A, ttl, vec!["192.0.2.1".into()]);
    let sib = RecordSet::new(
        sibling.clone(),
        RecordType::A,
        ttl,
        vec!["192.0.2.99".into()],
    );
    apply_and_read_back(
        p,
        zone,
        vec![
            Change::Create { new: v1.clone() },
            Change::Create { new: sib.clone() },
        ],
        &www,
        std::slice::from_ref(&v1),
        step,
    )
    .await?;
    report.passed.push(step);

    // 3. Creating it again is a conflict and changes nothing.
    let step = "create_existing_conflicts";
    let dup = RecordSet::new(www.clone(), RecordType::A, ttl, vec!["192.0.2.7".into()]);
    match p
        .apply(&ChangeSet {
            zone: zone.clone(),
            changes: vec![Change::Create { new: dup }],
        })
        .await
    {
        Err(e) if e.is_conflict() => {}
        Err(e) => {
            return Err(fail(
                step,
                format!("expected a conflict, got {:?}: {e}", e.kind),
            ))
        }
        Ok(_) => return Err(fail(step, "creating an existing set succeeded")),
    }
    expect_same(
        step,
        &read_one(p, zone, &www, step).await?,
        std::slice::from_ref(&v1),
    )?;
    report.passed.push(step);

    // 4. Failover: update values and lower the TTL in one change.
    let step = "update_values_and_ttl";
    let low_ttl = caps.min_ttl.max(60);
    let v2 = RecordSet::new(
        www.clone(),
        RecordType::A,
        low_ttl,
        vec!["198.51.100.2".into()],
    );
    apply_and_read_back(
        p,
        zone,
        vec![Change::Update {
            old: v1.clone(),
            new: v2.clone(),
        }],
        &www,
        std::slice::from_ref(&v2),
        step,
    )
    .await?;
    report.passed.push(step);

    // 5. An update whose `old` is stale (someone else changed the zone) is a conflict.
    let step = "stale_update_conflicts";
    let v3 = RecordSet::new(www.clone(), RecordType::A, ttl, vec!["203.0.113.3".into()]);
    match p
        .apply(&ChangeSet {
            zone: zone.clone(),
            changes: vec![Change::Update {
                old: v1.clone(),
                new: v3,
            }],
        })
        .await
    {
        Err(e) if e.is_conflict() => {}
        Err(e) => {
            return Err(fail(
                step,
                format!("expected a conflict, got {:?}: {e}", e.kind),
            ))
        }
        Ok(_) => {
            return Err(fail(
                step,
                "an update with a stale `old` overwrote the zone",
            ))
        }
    }
    expect_same(
        step,
        &read_one(p, zone, &www, step).await?,
        std::slice::from_ref(&v2),
    )?;
    report.passed.push(step);

    // 6. TTL restore: back to the original TTL and values.
    let step = "ttl_restore";
    apply_and_read_back(
        p,
        zone,
        vec![Change::Update {
            old: v2.clone(),
            new: v1.clone(),
        }],
        &www,
        std::slice::from_ref(&v1),
        step,
    )
    .await?;
    report.passed.push(step);

    // 6b. TXT: several strings, escaped quotes and a value over 255 octets read back as the
    // same text every adapter uses (crate::txt), then go.
    let step = "txt_values";
    if caps.record_types.contains(RecordType::Txt) {
        let txt_name = name(prefix, "txt", zone)?;
        let long = format!("v=long {}", "x".repeat(300));
        let txt = RecordSet::new(
            txt_name.clone(),
            RecordType::Txt,
            ttl,
            vec![
                "\"v=spf1 -all\"".into(),
                "\"part one\" \"say \\\"two\\\"\"".into(),
                long,
            ],
        )
        .normalized()
        .map_err(|e| fail(step, e))?;
        apply(p, zone, vec![Change::Create { new: txt.clone() }], step).await?;
        let got = read_typed(p, zone, &txt_name, RecordType::Txt, step).await?;
        expect_same(step, &got, std::slice::from_ref(&txt))?;
        apply(p, zone, vec![Change::Delete { old: txt }], step).await?;
        report.passed.push(step);
    } else {
        report
            .skipped
            .push((step, "capabilities().record_types has no TXT"));
    }

    // 7. Weighted sets: convert to two weighted members, shift weights, convert back.
    let step = "weighted";
    if caps.weighted {
        let w = |id: &str, ip: &str, weight: u32| {
            RecordSet::weighted(www.clone(), RecordType::A, ttl, vec![ip.into()], id, weight)
        };
        let (pa, ba) = (
            w("primary", "192.0.2.1", 5),
            w("backup", "198.51.100.2", 95),
        );
        apply_and_read_back(
            p,
            zone,
            vec![
                Change::Delete { old: v1.clone() },
                Change::Create { new: pa.clone() },
                Change::Create { new: ba.clone() },
            ],
            &www,
            &[ba.clone(), pa.clone()],
            step,
        )
        .await?;
        let (pb, bb) = (
            w("primary", "192.0.2.1", 50),
            w("backup", "198.51.100.2", 50),
        );
        apply_and_read_back(
            p,
            zone,
            vec![
                Change::Update {
                    old: pa.clone(),
                    new: pb.clone(),
                },
                Change::Update {
                    old: ba.clone(),
                    new: bb.clone(),
                },
            ],
            &www,
            &[bb.clone(), pb.clone()],
            step,
        )
        .await?;
        apply_and_read_back(
            p,
            zone,
            vec![
                Change::Delete { old: pb },
                Change::Delete { old: bb },
                Change::Create { new: v1.clone() },
            ],
            &www,
            std::slice::from_ref(&v1),
            step,
        )
        .await?;
        report.passed.push(step);
    } else {
        report
            .skipped
            .push((step, "capabilities().weighted is false"));
    }

    // 8. Cancellation: a dropped apply leaves the set either fully old or fully new. Only an
    // atomic provider can promise that; for the others (one request per record) a cancelled
    // apply may leave part of the change, which is what their capabilities declare.
    let step = "cancel_mid_apply";
    let current = if !caps.atomic_batch {
        report
            .skipped
            .push((step, "capabilities().atomic_batch is false"));
        v1.clone()
    } else {
        let v4 = RecordSet::new(
            www.clone(),
            RecordType::A,
            ttl,
            vec!["192.0.2.4".into(), "192.0.2.5".into()],
        );
        let cs = ChangeSet {
            zone: zone.clone(),
            changes: vec![Change::Update {
                old: v1.clone(),
                new: v4.clone(),
            }],
        };
        let _ = tokio::time::timeout(Duration::from_millis(1), p.apply(&cs)).await;
        let now = read_one(p, zone, &www, step).await?;
        let current = if expect_same(step, &now, std::slice::from_ref(&v1)).is_ok() {
            v1.clone()
        } else {
            expect_same(step, &now, std::slice::from_ref(&v4))?;
            v4
        };
        report.passed.push(step);
        current
    };

    // 9. Delete; the sibling nobody named is untouched; then clean up.
    let step = "delete_leaves_others";
    apply(p, zone, vec![Change::Delete { old: current }], step).await?;
    if !read_one(p, zone, &www, step).await?.is_empty() {
        return Err(fail(step, "set still present after delete"));
    }
    expect_same(
        step,
        &read_one(p, zone, &sibling, step).await?,
        std::slice::from_ref(&sib),
    )?;
    apply(p, zone, vec![Change::Delete { old: sib }], step).await?;
    report.passed.push(step);

    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryProvider;

    #[tokio::test]
    async fn memory_provider_passes_conformance() -> Result<(), String> {
        let zone = Fqdn::new("example.test")?;
        let p = MemoryProvider::new("memory", std::slice::from_ref(&zone));
        let report = run_conformance(&p, &zone, "conf").await?;
        assert!(report.skipped.is_empty(), "{report:?}");
        assert_eq!(report.passed.len(), 10);
        Ok(())
    }

    #[tokio::test]
    async fn unweighted_provider_skips_weighted_step_loudly() -> Result<(), String> {
        let zone = Fqdn::new("example.test")?;
        let p = MemoryProvider::new("memory", std::slice::from_ref(&zone))
            .with_capabilities(Capabilities::default());
        let report = run_conformance(&p, &zone, "conf").await?;
        assert_eq!(
            report.skipped,
            vec![
                ("weighted", "capabilities().weighted is false"),
                ("cancel_mid_apply", "capabilities().atomic_batch is false")
            ]
        );
        Ok(())
    }
}
