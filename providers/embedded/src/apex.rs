//! What every served zone holds besides the managed record sets: its SOA, its NS records and
//! the addresses of the name servers that live inside a served zone, built once from the
//! `soa`, `nameservers` and `ns_ttl` settings and checked the way BIND checks a zone it loads.
//!
//! Sits beside the provider step (plan -> **provider** -> verify): none of this is changed by
//! an apply, but resolvers need it to reach the zone at all. An NS name inside the zone with no
//! address is unreachable, so BIND refuses to load such a zone ("NS has no address records");
//! [`ZoneSettings::build`] refuses the configuration the same way, naming the key and the fix.

use std::collections::BTreeMap;
use std::net::IpAddr;

use dnsfailback_provider::{Change, ChangeSet, Fqdn, RecordType};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType as WireType};

use crate::config::Config;
use crate::rdata::name;
use crate::state::zone_for;
use crate::statics::StaticRecords;

/// Largest value of a 32-bit DNS time field (RFC 2181 section 8: the top bit is zero).
const MAX_TIME: u32 = i32::MAX as u32;

/// Names of one zone's apex records.
#[derive(Debug, Clone, PartialEq)]
struct Apex {
    mname: Name,
    rname: Name,
    ns: Vec<Name>,
}

/// SOA, NS and name-server addresses of every served zone; see the module docs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZoneSettings {
    apexes: BTreeMap<Fqdn, Apex>,
    /// A and AAAA records of each name server inside a served zone, by host name.
    hosts: BTreeMap<Fqdn, Vec<Record>>,
    refresh: u32,
    retry: u32,
    expire: u32,
    minimum: u32,
    ns_ttl: u32,
    /// The `records` of the settings.
    pub statics: StaticRecords,
}

/// Checks what needs no zone list (run when the settings are parsed, so `validate` shows it):
/// the SOA fields, the name server table, and that the default name server has an address.
/// In-zone name servers are checked against the zones listed in `zones` only.
pub fn check_static(config: &Config) -> Result<(), String> {
    ZoneSettings::build(config, &config.zones, false)
        .map(|_| ())
        .map_err(|problems| problems.join("; "))
}

impl ZoneSettings {
    /// The settings of the `served` zones, or every problem found, one sentence each naming
    /// the key and the fix. With `complete`, `served` is every zone the server will answer
    /// for, so name servers outside all of them must not carry addresses.
    pub fn build(config: &Config, served: &[Fqdn], complete: bool) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        check_timers(config, &mut problems);
        let rname = config
            .soa
            .rname
            .as_deref()
            .map(mailbox)
            .transpose()
            .unwrap_or_else(|e| {
                problems.push(format!("soa.rname: {e}"));
                None
            });
        let servers = name_servers(config, served, complete, &mut problems);
        let hosts: Vec<&Fqdn> = servers.keys().collect();
        let statics =
            StaticRecords::build(&config.records, served, complete, &hosts, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut settings = ZoneSettings {
            refresh: config.soa.refresh,
            retry: config.soa.retry,
            expire: config.soa.expire,
            minimum: config.negative_ttl,
            ns_ttl: config.ns_ttl,
            statics,
            ..ZoneSettings::default()
        };
        for (host, addresses) in servers.iter().filter(|(_, a)| !a.is_empty()) {
            settings.hosts.insert(
                host.clone(),
                address_records(host, addresses, config.ns_ttl),
            );
        }
        for zone in served {
            match apex(config, zone, &servers, rname.as_ref()) {
                Ok(a) => {
                    settings.apexes.insert(zone.clone(), a);
                }
                Err(e) => problems.push(e),
            }
        }
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems)
        }
    }

    /// The SOA of `zone` with `serial`; its TTL is the negative TTL, so negative answers are
    /// cached for exactly that long (RFC 2308 takes the smaller of the two).
    pub fn soa_record(&self, zone: &Fqdn, serial: u32) -> Option<Record> {
        let apex = self.apexes.get(zone)?;
        let owner = name(zone.as_str()).ok()?;
        let soa = SOA::new(
            apex.mname.clone(),
            apex.rname.clone(),
            serial,
            time(self.refresh),
            time(self.retry),
            time(self.expire),
            self.minimum,
        );
        Some(Record::from_rdata(owner, self.minimum, RData::SOA(soa)))
    }

    /// The NS records at the apex of `zone`.
    pub fn ns_records(&self, zone: &Fqdn) -> Vec<Record> {
        let (Some(apex), Ok(owner)) = (self.apexes.get(zone), name(zone.as_str())) else {
            return Vec::new();
        };
        apex.ns
            .iter()
            .map(|ns| Record::from_rdata(owner.clone(), self.ns_ttl, RData::NS(NS(ns.clone()))))
            .collect()
    }

    /// The addresses of `host` of type `qtype` (A, AAAA or ANY) when `host` is a configured
    /// name server; `None` for any other name, whose addresses are managed record sets.
    pub fn host_records(&self, host: &Fqdn, qtype: WireType) -> Option<Vec<Record>> {
        let records = self.hosts.get(host)?;
        Some(
            records
                .iter()
                .filter(|r| qtype == WireType::ANY || r.record_type() == qtype)
                .cloned()
                .collect(),
        )
    }

    /// True when a name server's address or a static record is at `name` or below it, so
    /// `name` exists (an empty non-terminal answers NODATA, not NXDOMAIN).
    pub fn holds_name(&self, name: &Fqdn) -> bool {
        self.hosts.keys().any(|h| h.is_in_zone(name)) || self.statics.holds_name(name)
    }

    /// Name-server addresses and static records owned by `zone` (not by a more specific
    /// served zone), in the order answers use, for a zone transfer.
    pub fn records_in(&self, zone: &Fqdn, served: &[Fqdn]) -> Vec<Record> {
        let mine = |n: &Fqdn| zone_for(served, n) == Some(zone);
        let mut out: Vec<Record> = self
            .hosts
            .iter()
            .filter(|(host, _)| mine(host))
            .flat_map(|(_, records)| records.iter().cloned())
            .collect();
        out.extend(
            self.statics
                .all()
                .filter(|(name, _)| mine(name))
                .map(|(_, r)| r.clone()),
        );
        out
    }

    /// Addresses of the name servers in `ns` (NS records) that this server knows, for the
    /// additional section of an NS answer.
    pub fn glue(&self, ns: &[Record]) -> Vec<Record> {
        ns.iter()
            .filter_map(|r| match &r.data {
                RData::NS(NS(target)) => Fqdn::new(&target.to_ascii()).ok(),
                _ => None,
            })
            .filter_map(|host| self.hosts.get(&host))
            .flatten()
            .cloned()
            .collect()
    }

    /// Record sets of `changes` that would hide or contradict a name server's configured
    /// addresses (an A, AAAA or CNAME at its name) or a static record; each problem names the
    /// set and the key.
    pub fn conflicts(&self, changes: &ChangeSet) -> Vec<String> {
        let reserved = [RecordType::A, RecordType::Aaaa, RecordType::Cname];
        let mut out = self.statics.conflicts(changes);
        let hosts = changes
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Create { new } | Change::Update { new, .. } => Some(new),
                Change::Delete { .. } => None,
            })
            .filter(|set| reserved.contains(&set.rtype) && self.hosts.contains_key(&set.name))
            .map(|set| {
                format!(
                    "{} {}: {} is a name server of the zone; its addresses come from \
                     `nameservers` in the provider settings, not from record sets",
                    set.name, set.rtype, set.name
                )
            });
        out.extend(hosts);
        out
    }
}

/// A checked time field (at most [`MAX_TIME`]) as the signed type hickory's SOA uses.
fn time(seconds: u32) -> i32 {
    i32::try_from(seconds).unwrap_or(i32::MAX)
}

fn check_timers(config: &Config, problems: &mut Vec<String>) {
    let soa = &config.soa;
    // A negative TTL of 0 is legal (negative answers are not cached); a zero timer or NS TTL
    // is not useful anywhere.
    for (key, value, least) in [
        ("soa.refresh", soa.refresh, 1),
        ("soa.retry", soa.retry, 1),
        ("soa.expire", soa.expire, 1),
        ("negative_ttl", config.negative_ttl, 0),
        ("ns_ttl", config.ns_ttl, 1),
    ] {
        if value < least || value > MAX_TIME {
            problems.push(format!(
                "{key} = {value}: must be between {least} and {MAX_TIME} seconds (RFC 2181 \
                 section 8)"
            ));
        }
    }
    if u64::from(soa.expire) < u64::from(soa.refresh) + u64::from(soa.retry) {
        problems.push(format!(
            "soa.expire = {} is shorter than soa.refresh + soa.retry = {}: a secondary would drop \
             the zone before its first retry; raise soa.expire (RFC 1912 suggests 1209600, two \
             weeks)",
            soa.expire,
            u64::from(soa.refresh) + u64::from(soa.retry)
        ));
    }
}

/// `soa.rname` as a domain name: `hostmaster.example.test` as written, or a mail address
/// `hostmaster@example.test` with its local part as the first label (dots kept inside it).
fn mailbox(text: &str) -> Result<Name, String> {
    let Some((local, domain)) = text.split_once('@') else {
        let fqdn = Fqdn::new(text)?;
        return name(fqdn.as_str());
    };
    let domain = name(Fqdn::new(domain)?.as_str())?;
    let ok = |c: char| c.is_ascii_alphanumeric() || "._+-".contains(c);
    if local.is_empty() || local.len() > 63 || !local.chars().all(ok) {
        return Err(format!(
            "`{text}`: the part before @ must be 1-63 letters, digits, `.`, `_`, `+` or `-`"
        ));
    }
    Name::from_labels([local.as_bytes()])
        .and_then(|n| n.append_domain(&domain))
        .map_err(|e| format!("`{text}` is not a valid mailbox name: {e}"))
}

/// The configured name servers with their addresses, or the default one per zone
/// (`ns1.<zone>` at the address of `listen`).
fn name_servers(
    config: &Config,
    served: &[Fqdn],
    complete: bool,
    problems: &mut Vec<String>,
) -> BTreeMap<Fqdn, Vec<IpAddr>> {
    let mut out = BTreeMap::new();
    if config.nameservers.is_empty() {
        let ip = config.listen.ip();
        if ip.is_unspecified() {
            problems.push(format!(
                "listen = \"{}\" does not say at which address resolvers reach the zone's name \
                 server (ns1.<zone> by default), and an NS name inside the zone without an \
                 address makes the zone unreachable (BIND refuses to load it); add a \
                 [[nameservers]] table with name = \"ns1.<zone>\" and addresses = [\"<this \
                 server's public address>\"], or listen on that address",
                config.listen
            ));
            return out;
        }
        for zone in served {
            match Fqdn::new(&format!("ns1.{zone}")) {
                Ok(host) => {
                    out.insert(host, vec![ip]);
                }
                Err(e) => problems.push(format!("zone {zone}: default name server: {e}")),
            }
        }
        return out;
    }
    for (i, ns) in config.nameservers.iter().enumerate() {
        let key = format!("nameservers[{i}]");
        if out.contains_key(&ns.name) {
            problems.push(format!("{key}: name server {} is listed twice", ns.name));
        }
        if let Some(bad) = ns
            .addresses
            .iter()
            .find(|a| a.is_unspecified() || a.is_multicast())
        {
            problems.push(format!(
                "{key}.addresses: {bad} is not an address a resolver can send queries to"
            ));
        }
        match (zone_for(served, &ns.name), ns.addresses.is_empty()) {
            (Some(zone), true) => problems.push(format!(
                "{key}: name server {} is inside the served zone {zone} but has no addresses, so \
                 no resolver could reach it (BIND refuses to load such a zone); add addresses = \
                 [\"<its public IPv4 or IPv6 address>\"] to it, or use a name server outside \
                 the zone",
                ns.name
            )),
            (None, false) if complete => problems.push(format!(
                "{key}.addresses: name server {} is outside every served zone ({}), so this \
                 server cannot publish its addresses; remove addresses (its own zone publishes \
                 them) or serve its zone here",
                ns.name,
                served
                    .iter()
                    .map(Fqdn::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => {}
        }
        out.insert(ns.name.clone(), ns.addresses.clone());
    }
    out
}

fn apex(
    config: &Config,
    zone: &Fqdn,
    servers: &BTreeMap<Fqdn, Vec<IpAddr>>,
    rname: Option<&Name>,
) -> Result<Apex, String> {
    // The default name server of a zone is its own `ns1.<zone>`; configured ones serve all.
    let own = Fqdn::new(&format!("ns1.{zone}")).ok();
    let hosts: Vec<&Fqdn> = if config.nameservers.is_empty() {
        own.iter().filter(|h| servers.contains_key(*h)).collect()
    } else {
        config.nameservers.iter().map(|n| &n.name).collect()
    };
    let ns = hosts
        .iter()
        .map(|h| name(h.as_str()))
        .collect::<Result<Vec<Name>, String>>()?;
    let mname = match (&config.soa.mname, ns.first()) {
        (Some(m), _) => name(m.as_str())?,
        (None, Some(first)) => first.clone(),
        (None, None) => return Err(format!("zone {zone}: no name server")),
    };
    let rname = match rname {
        Some(r) => r.clone(),
        None => name(&format!("hostmaster.{zone}"))?,
    };
    Ok(Apex { mname, rname, ns })
}

fn address_records(host: &Fqdn, addresses: &[IpAddr], ttl: u32) -> Vec<Record> {
    let Ok(owner) = name(host.as_str()) else {
        return Vec::new();
    };
    let mut v4: Vec<Record> = Vec::new();
    let mut v6: Vec<Record> = Vec::new();
    for ip in addresses {
        match ip {
            IpAddr::V4(a) => v4.push(Record::from_rdata(owner.clone(), ttl, RData::A(A(*a)))),
            IpAddr::V6(a) => v6.push(Record::from_rdata(
                owner.clone(),
                ttl,
                RData::AAAA(AAAA(*a)),
            )),
        }
    }
    v4.extend(v6);
    v4
}

#[cfg(test)]
mod tests;
