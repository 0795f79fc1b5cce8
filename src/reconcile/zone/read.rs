//! The zone job's first step (plan -> **provider**): the provider's records as they are now,
//! and each service's plan against them. `plan` uses the same function, so a plan shows
//! exactly the change sets the next tick sends.

use std::collections::BTreeMap;

use dnsfailback_provider::{Fqdn, Provider, ProviderError, RecordSet, RecordType};

use super::{Item, READ_ZONE_FROM};
use crate::config::Service;
use crate::plan::{desired_sets, diff, Plan};

pub(in crate::reconcile) type Observed = BTreeMap<(Fqdn, RecordType), Vec<RecordSet>>;

/// Reads the records of `services` in `zone`: the whole zone once for many, each record for
/// few (a zone of 10,000 names is not listed to change one) or when reads are local (an
/// in-process server: a copy of the whole zone would be the only cost).
pub(in crate::reconcile) async fn read_records<'a>(
    provider: &dyn Provider,
    zone: &Fqdn,
    services: impl ExactSizeIterator<Item = &'a Service>,
) -> Result<Observed, ProviderError> {
    let mut out: Observed = BTreeMap::new();
    if services.len() >= READ_ZONE_FROM && !provider.reads_are_local() {
        for set in provider.read_zone(zone).await? {
            out.entry((set.name.clone(), set.rtype))
                .or_default()
                .push(set);
        }
        return Ok(out);
    }
    for s in services {
        let sets = provider.read(&s.zone, &s.record, s.rtype).await?;
        out.insert((s.record.clone(), s.rtype), sets);
    }
    Ok(out)
}

pub(in crate::reconcile) fn observed_for<'a>(
    observed: &'a Observed,
    s: &Service,
) -> &'a [RecordSet] {
    observed
        .get(&(s.record.clone(), s.rtype))
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The plan of every item of one zone against the provider's records as they are now: the
/// one planning step shared by the zone job and `plan` (so a plan shows exactly the change
/// sets the next tick sends).
pub(in crate::reconcile) async fn plan_items(
    provider: &dyn Provider,
    zone: &Fqdn,
    items: &[Item],
) -> Result<Vec<Plan>, ProviderError> {
    Ok(plan_items_observed(provider, zone, items).await?.0)
}

/// [`plan_items`], also returning the records the plans were made against (a reviewed
/// plan file carries them and their fingerprint).
pub(in crate::reconcile) async fn plan_items_observed(
    provider: &dyn Provider,
    zone: &Fqdn,
    items: &[Item],
) -> Result<(Vec<Plan>, Observed), ProviderError> {
    let observed = read_records(provider, zone, items.iter().map(|i| i.service.as_ref())).await?;
    let caps = provider.capabilities();
    let plans = items
        .iter()
        .map(|item| {
            let want = desired_sets(&item.service, &item.desired, caps.weighted);
            let changes = diff(zone, observed_for(&observed, &item.service), &want);
            Plan::new(&item.service.name, changes, &caps)
        })
        .collect();
    Ok((plans, observed))
}
