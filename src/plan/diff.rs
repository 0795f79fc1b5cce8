//! Rendering a publication as record sets, and diffing them against the provider's sets.

use dnsfailback_provider::{Change, ChangeSet, RecordSet};

use crate::config::Service;
use crate::policy::Publication;

fn values_of(service: &Service, target: &str) -> Vec<String> {
    service
        .target(target)
        .map(|t| t.values.clone())
        .unwrap_or_default()
}

/// The record sets that express `publication` for `service`. A split becomes two weighted
/// sets (set identifier = target name) where the provider has weights; elsewhere both
/// targets' values share one plain set, the closest split round-robin can give (about even),
/// which [`split_note`] declares.
pub fn desired_sets(
    service: &Service,
    publication: &Publication,
    weighted: bool,
) -> Vec<RecordSet> {
    if let Publication::Split {
        primary,
        backup,
        primary_share,
        ttl,
    } = publication
    {
        return split_sets(service, primary, backup, *primary_share, *ttl, weighted);
    }
    let values: Vec<String> = match publication {
        Publication::Target { target, .. } => service
            .target(target)
            .map(|t| t.values.clone())
            .unwrap_or_default(),
        Publication::All { .. } if service.rtype == dnsfailback_provider::RecordType::Cname => {
            service.primary().values.clone()
        }
        Publication::All { .. } | Publication::Split { .. } => {
            let mut v: Vec<String> = service
                .targets
                .iter()
                .flat_map(|t| t.values.clone())
                .collect();
            v.sort();
            v.dedup();
            v
        }
    };
    if values.is_empty() {
        return Vec::new();
    }
    vec![RecordSet::new(
        service.record.clone(),
        service.rtype,
        publication.ttl(),
        values,
    )]
}

/// The sets of a split: two weighted sets where the provider weighs answers; elsewhere one
/// plain set with both sides' values (a CNAME, which holds one value, goes to the larger side).
fn split_sets(
    service: &Service,
    primary: &str,
    backup: &str,
    primary_share: u32,
    ttl: u32,
    weighted: bool,
) -> Vec<RecordSet> {
    let set =
        |values: Vec<String>| RecordSet::new(service.record.clone(), service.rtype, ttl, values);
    if weighted {
        let side = |target: &str, share: u32| {
            RecordSet::weighted(
                service.record.clone(),
                service.rtype,
                ttl,
                values_of(service, target),
                target.to_string(),
                share,
            )
        };
        return vec![
            side(primary, primary_share),
            side(backup, 100 - primary_share),
        ];
    }
    if service.rtype == dnsfailback_provider::RecordType::Cname {
        let side = if primary_share >= 50 { primary } else { backup };
        return vec![set(values_of(service, side))];
    }
    let mut v = values_of(service, primary);
    v.extend(values_of(service, backup));
    v.sort();
    v.dedup();
    vec![set(v)]
}

/// How a split is really expressed on a provider, when that differs from what was asked.
pub fn split_note(publication: &Publication, weighted: bool) -> Option<String> {
    match publication {
        Publication::Split { primary_share, .. } if !weighted => Some(format!(
            "requested {primary_share} % for the primary; this provider has no weights, so both targets are published together (about 50 % each by round robin)"
        )),
        _ => None,
    }
}

/// The changes that turn `observed` into `desired` for one name and type: creates for missing
/// sets, updates (old beside new, provider attributes kept) for different ones, deletes for
/// sets under the managed name/type that the publication no longer has.
pub fn diff(
    zone: &dnsfailback_provider::Fqdn,
    observed: &[RecordSet],
    desired: &[RecordSet],
) -> ChangeSet {
    let mut cs = ChangeSet::new(zone.clone());
    for want in desired {
        match observed.iter().find(|o| o.key() == want.key()) {
            None => cs.changes.push(Change::Create { new: want.clone() }),
            Some(have) if have.same_answer(want) => {}
            Some(have) => {
                let mut new = want.clone();
                new.meta = have.meta.clone();
                cs.changes.push(Change::Update {
                    old: have.clone(),
                    new,
                });
            }
        }
    }
    for have in observed {
        if !desired.iter().any(|d| d.key() == have.key()) {
            cs.changes.push(Change::Delete { old: have.clone() });
        }
    }
    // Deletes first: a provider that applies in order must drop a plain set before creating
    // weighted members under the same name (and vice versa).
    cs.changes.sort_by_key(|c| match c {
        Change::Delete { .. } => 0,
        Change::Update { .. } => 1,
        Change::Create { .. } => 2,
    });
    cs
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsfailback_provider::{Fqdn, RecordType};

    fn fq(s: &str) -> Fqdn {
        Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn set(ttl: u32, v: &[&str]) -> RecordSet {
        RecordSet::new(
            fq("shop.example.test"),
            RecordType::A,
            ttl,
            v.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn missing_set_is_created() {
        let cs = diff(&fq("example.test"), &[], &[set(300, &["192.0.2.1"])]);
        assert_eq!(
            cs.changes,
            vec![Change::Create {
                new: set(300, &["192.0.2.1"])
            }]
        );
    }

    #[test]
    fn equal_sets_plan_nothing_whatever_the_order() {
        let cs = diff(
            &fq("example.test"),
            &[set(300, &["192.0.2.2", "192.0.2.1"])],
            &[set(300, &["192.0.2.1", "192.0.2.2"])],
        );
        assert!(cs.is_empty());
    }

    #[test]
    fn ttl_or_value_change_is_an_update_that_keeps_provider_meta() {
        let mut old = set(300, &["192.0.2.1"]);
        old.meta.insert("proxied".into(), "true".into());
        let cs = diff(
            &fq("example.test"),
            std::slice::from_ref(&old),
            &[set(30, &["198.51.100.2"])],
        );
        let mut new = set(30, &["198.51.100.2"]);
        new.meta.insert("proxied".into(), "true".into());
        assert_eq!(cs.changes, vec![Change::Update { old, new }]);
    }

    #[test]
    fn unwanted_weighted_members_are_deleted_first() {
        let w = RecordSet::weighted(
            fq("shop.example.test"),
            RecordType::A,
            30,
            vec!["192.0.2.1".into()],
            "primary",
            5,
        );
        let cs = diff(
            &fq("example.test"),
            std::slice::from_ref(&w),
            &[set(30, &["192.0.2.1"])],
        );
        assert_eq!(
            cs.changes,
            vec![
                Change::Delete { old: w },
                Change::Create {
                    new: set(30, &["192.0.2.1"])
                }
            ]
        );
    }
}
