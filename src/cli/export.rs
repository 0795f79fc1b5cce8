//! `dnsfailback export --provider NAME [--zone ZONE] [--out FILE]`: a zone as an RFC 1035
//! master file, to take it to another DNS service or keep it as a backup.
//!
//! Beside the flow, reading the provider end of it (plan -> **provider**): the zone is read
//! through the adapter's own zone listing ([`Provider::read_zone`]: AXFR for RFC 2136, the
//! list APIs for Route 53 and Cloudflare, the data file for the embedded server), every
//! value becomes a hickory [`Record`] and is written by hickory's presentation format, never
//! formatted here. Before anything is written the text is parsed back with hickory's zone
//! parser and compared with what was read, so an export that would not load elsewhere is an
//! error, not a file. Record types the controller does not manage (SOA, NS, ...) are not
//! part of an adapter's zone listing and are not exported; the SOA's serial and negative TTL
//! are given in a comment. Weighted sets are written as plain records with a comment: a
//! master file has no weights.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context};
use dnsfailback_provider::wire::{rdata_value, to_name, to_rdata};
use dnsfailback_provider::{Fqdn, Provider, RecordSet, RecordType};
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::txt::Parser;

use super::out;

/// One exported answer: name, type, TTL and sorted values (weights and set ids dropped).
type Answers = BTreeMap<(String, RecordType), (u32, Vec<String>)>;

/// Reads the zone and writes it (stdout without `--out`). Exit 0, or 2 for a bad config.
pub async fn export(
    config: &Path,
    provider_name: &str,
    zone: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<u8> {
    let config = match crate::config::load(config) {
        Ok((c, _)) => c,
        Err(e) => {
            eprint!("{e}");
            return Ok(2);
        }
    };
    let zone = pick_zone(&config.provider_zones(), provider_name, zone)?;
    let provider = offline_provider(&config, provider_name)?;
    let text = master_file(provider.as_ref(), &zone).await?;
    match file {
        Some(f) => {
            std::fs::write(f, &text).with_context(|| format!("cannot write {}", f.display()))?;
            eprintln!(
                "zone {zone} from `{provider_name}` written to {}",
                f.display()
            );
        }
        None => out::print(&text)?,
    }
    Ok(0)
}

/// The zone to export: the one given, or the only zone the provider's services use.
/// The provider `name` of `config`, built in this process (no running controller needed):
/// what `export` and `plan --to` read the records from. The embedded server is not started;
/// its records are read from its data file.
pub(super) fn offline_provider(
    config: &crate::config::Config,
    name: &str,
) -> anyhow::Result<std::sync::Arc<dyn Provider>> {
    let built = crate::providers::build(
        &config.providers,
        &config.provider_zones(),
        &config.controller.state,
    )
    .map_err(|e| anyhow!(e))?;
    built
        .providers
        .get(name)
        .cloned()
        .ok_or_else(|| anyhow!("no provider named `{name}`"))
}

fn pick_zone(pairs: &[(String, Fqdn)], provider: &str, zone: Option<&str>) -> anyhow::Result<Fqdn> {
    if let Some(z) = zone {
        return Fqdn::new(z).map_err(|e| anyhow!("--zone: {e}"));
    }
    let mut zones: Vec<&Fqdn> = pairs
        .iter()
        .filter(|(p, _)| p == provider)
        .map(|(_, z)| z)
        .collect();
    zones.sort();
    zones.dedup();
    match zones.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(anyhow!(
            "no service uses provider `{provider}`; name the zone with --zone"
        )),
        many => Err(anyhow!(
            "provider `{provider}` serves several zones ({}); pick one with --zone",
            many.iter()
                .map(|z| z.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The zone as master-file text, checked to parse back to the records read.
pub async fn master_file(provider: &dyn Provider, zone: &Fqdn) -> anyhow::Result<String> {
    let mut sets = provider.read_zone(zone).await?;
    sets.sort_by(|a, b| (&a.name, a.rtype, &a.set_id).cmp(&(&b.name, b.rtype, &b.set_id)));
    let soa = provider.soa(zone).await.ok().flatten();
    let mut text = format!(
        "; zone {zone} exported by dnsfailback from provider `{}`\n",
        provider.name()
    );
    if let Some(soa) = &soa {
        text.push_str(&format!(
            "; SOA serial {}, negative TTL {} (SOA and NS are not exported)\n",
            soa.serial, soa.minimum
        ));
    }
    for set in &sets {
        if let (Some(id), Some(w)) = (&set.set_id, set.weight) {
            text.push_str(&format!("; weighted set `{id}` weight {w}\n"));
        }
        for record in records(set)? {
            text.push_str(&format!("{record}\n"));
        }
    }
    let back = parse(&text, zone)?;
    let read = answers(&sets);
    if back != read {
        return Err(anyhow!(
            "the exported text does not parse back to the records read (read {read:?}, parsed {back:?}); nothing written"
        ));
    }
    Ok(text)
}

/// A set's values as hickory records (hickory formats them).
fn records(set: &RecordSet) -> anyhow::Result<Vec<Record>> {
    let name = to_name(&set.name).map_err(|e| anyhow!(e))?;
    set.values
        .iter()
        .map(|v| {
            let rdata = to_rdata(set.rtype, v).map_err(|e| anyhow!("{}: {e}", set.key()))?;
            Ok(Record::from_rdata(name.clone(), set.ttl, rdata))
        })
        .collect()
}

/// What the sets answer, merged per name and type as a master file merges them.
pub fn answers(sets: &[RecordSet]) -> Answers {
    let mut out: Answers = BTreeMap::new();
    for s in sets {
        let e = out
            .entry((s.name.to_string(), s.rtype))
            .or_insert((s.ttl, Vec::new()));
        e.0 = e.0.min(s.ttl);
        e.1.extend(s.values.iter().cloned());
    }
    for v in out.values_mut() {
        v.1.sort();
        v.1.dedup();
    }
    out
}

/// Parses master-file text with hickory's zone parser into the same shape as [`answers`].
pub fn parse(text: &str, zone: &Fqdn) -> anyhow::Result<Answers> {
    let origin = Name::from_ascii(zone.as_str()).map_err(|e| anyhow!("{zone}: {e}"))?;
    let (_, rrsets) = Parser::new(text, None, Some(origin))
        .parse()
        .map_err(|e| anyhow!("the master file does not parse: {e}"))?;
    let mut out: Answers = BTreeMap::new();
    for set in rrsets.values() {
        for r in set.records_without_rrsigs() {
            let Some((rtype, value)) = rdata_value(&r.data) else {
                continue;
            };
            let name = r.name.to_ascii().to_lowercase();
            let e = out.entry((name, rtype)).or_insert((r.ttl, Vec::new()));
            e.0 = e.0.min(r.ttl);
            e.1.push(value);
        }
    }
    for v in out.values_mut() {
        v.1.sort();
        v.1.dedup();
    }
    Ok(out)
}
