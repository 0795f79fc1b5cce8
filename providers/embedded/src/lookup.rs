//! How one question is answered: zone selection, positive answers, CNAME chasing, NXDOMAIN
//! versus NODATA and REFUSED, with no networking, so it is unit-tested directly.
//!
//! Sits at the serving end of the provider step (plan -> **provider** -> **verify**): what this
//! module returns is what `dig`, resolvers and the controller's verifier see after an apply.
//!
//! CNAMEs are chased as RFC 1034 section 4.3.2 says: the target is looked up again from the
//! top, in whichever served zone holds it; a target outside every served zone ends the chain
//! (the resolver chases it). The end of the chain decides the rest (RFC 2308 section 2, RFC
//! 6604): a target without data of the asked type is NODATA and one that does not exist is
//! NXDOMAIN, both with the SOA of the target's zone in the authority section.

use dnsfailback_provider::wire::to_wire_type;
use dnsfailback_provider::{Fqdn, RecordType};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType as WireType};

use crate::apex::ZoneSettings;
use crate::rdata::{managed_type, name, set_to_records};
use crate::state::{zone_for, Store, ZoneState};
use crate::weighted::{choose, WeightRng};

/// Longest CNAME chain followed, so a loop cannot hang a query.
const MAX_CNAME_CHAIN: usize = 8;

/// The answer to one question, before it is put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// NOERROR, NXDOMAIN or REFUSED.
    pub rcode: ResponseCode,
    /// True when the name is in one of our zones (the AA bit).
    pub authoritative: bool,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section: the zone's SOA on NXDOMAIN and NODATA.
    pub authorities: Vec<Record>,
    /// Additional section: addresses of the name servers in an NS answer.
    pub additionals: Vec<Record>,
}

impl Resolution {
    fn new(rcode: ResponseCode, authoritative: bool) -> Self {
        Resolution {
            rcode,
            authoritative,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }
}

/// What the resolver needs besides the zone content.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    /// Zones served, apex names.
    pub served: &'a [Fqdn],
    /// SOA, NS and name-server addresses of each served zone.
    pub zones: &'a ZoneSettings,
}

/// The zone content and settings one question is answered from.
struct Ctx<'a> {
    store: &'a Store,
    params: Params<'a>,
    empty: ZoneState,
}

impl Ctx<'_> {
    fn state(&self, zone: &Fqdn) -> &ZoneState {
        self.store.zones.get(zone).map_or(&self.empty, |z| &**z)
    }

    /// Marks `res` as a negative answer for `name` in `zone`: NXDOMAIN unless the name exists,
    /// and the zone's SOA in the authority section either way.
    fn negative(&self, zone: &Fqdn, name: &Fqdn, res: &mut Resolution) {
        let state = self.state(zone);
        let exists =
            name == zone || state.records.has_name(name) || self.params.zones.holds_name(name);
        if !exists {
            res.rcode = ResponseCode::NXDomain;
        }
        res.authorities
            .extend(self.params.zones.soa_record(zone, state.serial));
    }
}

/// Answers `qname`/`qtype` from `store`.
pub fn resolve(
    store: &Store,
    params: Params<'_>,
    qname: &Name,
    qtype: WireType,
    rng: &mut WeightRng,
) -> Resolution {
    // A name `Fqdn` rejects (odd characters) can still be inside a zone: find the zone with
    // hickory's own comparison, then answer NXDOMAIN since no such name can be stored.
    let zone = params
        .served
        .iter()
        .filter(|z| name(z.as_str()).is_ok_and(|zn| zn.zone_of(qname)))
        .max_by_key(|z| z.as_str().len());
    let Some(zone) = zone else {
        return Resolution::new(ResponseCode::Refused, false);
    };
    let ctx = Ctx {
        store,
        params,
        empty: ZoneState::default(),
    };
    let mut res = Resolution::new(ResponseCode::NoError, true);
    let Ok(fqdn) = Fqdn::new(&qname.to_ascii()) else {
        res.rcode = ResponseCode::NXDomain;
        res.authorities
            .extend(params.zones.soa_record(zone, ctx.state(zone).serial));
        return res;
    };
    if qtype == WireType::ANY {
        res.answers = records_at(&ctx, zone, &fqdn, qtype, rng);
        if res.answers.is_empty() {
            ctx.negative(zone, &fqdn, &mut res);
        }
        return res;
    }
    chase(&ctx, zone, fqdn, qtype, rng, &mut res);
    if qtype == WireType::NS {
        res.additionals = params.zones.glue(&res.answers);
    }
    res
}

/// Answers `qtype` at `start`, following CNAMEs through the served zones (module docs).
fn chase(
    ctx: &Ctx<'_>,
    zone: &Fqdn,
    start: Fqdn,
    qtype: WireType,
    rng: &mut WeightRng,
    res: &mut Resolution,
) {
    let (mut zone, mut current) = (zone, start);
    let mut seen: Vec<Fqdn> = Vec::new();
    for _ in 0..MAX_CNAME_CHAIN {
        let direct = records_at(ctx, zone, &current, qtype, rng);
        if !direct.is_empty() {
            res.answers.extend(direct);
            return;
        }
        let cname = if qtype == WireType::CNAME {
            None
        } else {
            let statics = &ctx.params.zones.statics;
            statics
                .cname(&current)
                .or_else(|| cname_at(ctx.state(zone), &current, rng))
        };
        let Some((records, target)) = cname else {
            ctx.negative(zone, &current, res);
            return;
        };
        res.answers.extend(records);
        seen.push(current);
        // A target outside our zones is for the resolver to chase; a loop ends the chain.
        match target.and_then(|t| zone_for(ctx.params.served, &t).map(|z| (z, t))) {
            Some((z, t)) if !seen.contains(&t) => (zone, current) = (z, t),
            _ => return,
        }
    }
}

/// The CNAME at `name` (one member when weighted) and its target.
fn cname_at(
    state: &ZoneState,
    name: &Fqdn,
    rng: &mut WeightRng,
) -> Option<(Vec<Record>, Option<Fqdn>)> {
    let sets = state.records.get(name, RecordType::Cname);
    let chosen = choose(&sets, rng);
    let set = chosen.first()?;
    let target = set.values.first().and_then(|v| Fqdn::new(v).ok());
    Some((set_to_records(set), target))
}

/// Every record of `qtype` (or of every type, for ANY) held at `name` in `zone`: apex SOA and
/// NS, a name server's configured addresses, static records, and the managed record sets (a
/// static record or a name server's address takes the place of managed sets of its type).
fn records_at(
    ctx: &Ctx<'_>,
    zone: &Fqdn,
    name: &Fqdn,
    qtype: WireType,
    rng: &mut WeightRng,
) -> Vec<Record> {
    let state = ctx.state(zone);
    let settings = ctx.params.zones;
    let mut out = Vec::new();
    let any = qtype == WireType::ANY;
    if name == zone {
        if any || qtype == WireType::SOA {
            out.extend(settings.soa_record(zone, state.serial));
        }
        if any || qtype == WireType::NS {
            out.extend(settings.ns_records(zone));
        }
    }
    let host = settings.host_records(name, qtype);
    let managed: Vec<RecordType> = match managed_type(qtype) {
        Some(t) => vec![t],
        None if any => RecordType::ALL.to_vec(),
        None => Vec::new(),
    };
    for t in managed {
        // A name server's addresses come from the settings, never from record sets.
        let configured = (host.is_some() && matches!(t, RecordType::A | RecordType::Aaaa))
            || settings.statics.has(name, to_wire_type(t));
        if !configured {
            out.extend(answer_sets(state, name, t, rng));
        }
    }
    out.extend(host.into_iter().flatten());
    let mut fixed = settings.statics.at(name, qtype);
    if !any && fixed.len() > 1 {
        let offset = rng.below(fixed.len() as u64) as usize;
        fixed.rotate_left(offset);
    }
    out.extend(fixed);
    out
}

/// The records of the chosen sets of `t` at `name`, each set rotated by a random offset so
/// that every value of a round-robin set comes first about equally often.
fn answer_sets(state: &ZoneState, name: &Fqdn, t: RecordType, rng: &mut WeightRng) -> Vec<Record> {
    let sets = state.records.get(name, t);
    let mut out = Vec::new();
    for set in choose(&sets, rng) {
        let mut records = set_to_records(set);
        if records.len() > 1 {
            let offset = rng.below(records.len() as u64) as usize;
            records.rotate_left(offset);
        }
        out.extend(records);
    }
    out
}

#[cfg(test)]
mod tests;
