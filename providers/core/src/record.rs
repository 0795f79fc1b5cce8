//! Record sets: the unit every provider reads and writes.
//!
//! Sits at the provider end of the flow (plan -> **provider** -> verify): the planner builds
//! desired [`RecordSet`]s, adapters translate them to their API, and the verifier compares what
//! an adapter reads back with what was planned. Values are kept in RFC 1035 presentation
//! format, so every adapter and the audit log see the same text.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A fully-qualified, lower-case domain name with a trailing dot.
///
/// Providers disagree on case and on the trailing dot; normalising once here means a plan
/// never shows a spurious change because `Shop.Example.` and `shop.example` differ as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fqdn(String);

impl Fqdn {
    /// Parses and normalises a name; rejects empty labels, labels over 63 octets and names
    /// over 253 octets, which no provider would accept either.
    pub fn new(name: &str) -> Result<Self, String> {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return Err("a domain name cannot be empty".into());
        }
        if trimmed == "." {
            return Ok(Fqdn(".".into()));
        }
        let body = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if body.len() > 253 {
            return Err(format!(
                "domain name `{name}` is longer than 253 characters"
            ));
        }
        for label in body.split('.') {
            if label.is_empty() {
                return Err(format!("domain name `{name}` has an empty label"));
            }
            if label.len() > 63 {
                return Err(format!("a label of `{name}` is longer than 63 characters"));
            }
            if !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*')
            {
                return Err(format!(
                    "domain name `{name}` has a character outside letters, digits, `-`, `_` and `*`"
                ));
            }
        }
        Ok(Fqdn(format!("{}.", body.to_ascii_lowercase())))
    }

    /// The name with its trailing dot, as DNS presentation format writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name without its trailing dot, as HTTP APIs such as Cloudflare's expect it.
    pub fn without_dot(&self) -> &str {
        self.0.strip_suffix('.').unwrap_or(&self.0)
    }

    /// True when `self` equals `zone` or lies below it; changes outside their zone are refused.
    pub fn is_in_zone(&self, zone: &Fqdn) -> bool {
        zone.0 == "." || self.0 == zone.0 || self.0.ends_with(&format!(".{}", zone.0))
    }
}

impl fmt::Display for Fqdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Fqdn {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Fqdn::new(&value)
    }
}

impl From<Fqdn> for String {
    fn from(value: Fqdn) -> Self {
        value.0
    }
}

impl FromStr for Fqdn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fqdn::new(s)
    }
}

/// The record types a failover controller moves. Others are read and preserved, never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecordType {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
    #[serde(rename = "CNAME")]
    Cname,
    #[serde(rename = "MX")]
    Mx,
    #[serde(rename = "SRV")]
    Srv,
    #[serde(rename = "TXT")]
    Txt,
}

impl RecordType {
    /// Every type the controller moves, in the order messages list them.
    pub const ALL: [RecordType; 6] = [
        RecordType::A,
        RecordType::Aaaa,
        RecordType::Cname,
        RecordType::Mx,
        RecordType::Srv,
        RecordType::Txt,
    ];

    /// The mnemonic as it appears in zone files and provider APIs.
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Mx => "MX",
            RecordType::Srv => "SRV",
            RecordType::Txt => "TXT",
        }
    }

    /// Checks one value in presentation format and returns its canonical text, so that
    /// `2001:DB8::1` and `2001:db8::1` plan as the same value.
    pub fn normalize_value(&self, value: &str) -> Result<String, String> {
        let v = value.trim();
        match self {
            RecordType::A => Ipv4Addr::from_str(v)
                .map(|ip| ip.to_string())
                .map_err(|_| format!("`{value}` is not an IPv4 address (type A)")),
            RecordType::Aaaa => Ipv6Addr::from_str(v)
                .map(|ip| ip.to_string())
                .map_err(|_| format!("`{value}` is not an IPv6 address (type AAAA)")),
            RecordType::Cname => Fqdn::new(v).map(|n| n.to_string()),
            RecordType::Mx => {
                let mut parts = v.split_whitespace();
                let (Some(pref), Some(host), None) = (parts.next(), parts.next(), parts.next())
                else {
                    return Err(format!("`{value}` is not `PREFERENCE HOST` (type MX)"));
                };
                let pref: u16 = pref
                    .parse()
                    .map_err(|_| format!("MX preference `{pref}` is not a number 0-65535"))?;
                Ok(format!("{pref} {}", Fqdn::new(host)?))
            }
            RecordType::Srv => {
                let parts: Vec<&str> = v.split_whitespace().collect();
                let [prio, weight, port, host] = parts.as_slice() else {
                    return Err(format!(
                        "`{value}` is not `PRIORITY WEIGHT PORT TARGET` (type SRV)"
                    ));
                };
                let num = |s: &str, what: &str| {
                    s.parse::<u16>()
                        .map_err(|_| format!("SRV {what} `{s}` is not a number 0-65535"))
                };
                Ok(format!(
                    "{} {} {} {}",
                    num(prio, "priority")?,
                    num(weight, "weight")?,
                    num(port, "port")?,
                    Fqdn::new(host)?
                ))
            }
            RecordType::Txt => crate::txt::normalize_txt(value),
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "A" => Ok(RecordType::A),
            "AAAA" => Ok(RecordType::Aaaa),
            "CNAME" => Ok(RecordType::Cname),
            "MX" => Ok(RecordType::Mx),
            "SRV" => Ok(RecordType::Srv),
            "TXT" => Ok(RecordType::Txt),
            other => Err(format!(
                "record type `{other}` is not one of A, AAAA, CNAME, MX, SRV, TXT"
            )),
        }
    }
}

/// Identity of one record set: name, type and, for weighted members, the set identifier.
///
/// Route 53 and the embedded server keep several weighted sets under one name and type, told
/// apart by `set_id`; a plain record set has none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordKey {
    pub name: Fqdn,
    pub rtype: RecordType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_id: Option<String>,
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.set_id {
            Some(id) => write!(f, "{} {} [{}]", self.name, self.rtype, id),
            None => write!(f, "{} {}", self.name, self.rtype),
        }
    }
}

/// All records of one name, type (and weighted set identifier), with one TTL.
///
/// `meta` carries provider attributes the controller does not manage but must preserve
/// (Cloudflare's `proxied`, a Route 53 health-check id); planners copy it from the old set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSet {
    pub name: Fqdn,
    pub rtype: RecordType,
    pub ttl: u32,
    /// Values in presentation format, sorted and de-duplicated by [`RecordSet::normalized`].
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_id: Option<String>,
    /// Relative weight among the sets sharing name and type; only with `set_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

impl RecordSet {
    /// A plain (unweighted) record set.
    pub fn new(name: Fqdn, rtype: RecordType, ttl: u32, values: Vec<String>) -> Self {
        RecordSet {
            name,
            rtype,
            ttl,
            values,
            set_id: None,
            weight: None,
            meta: BTreeMap::new(),
        }
    }

    /// A weighted member: one of several sets of the same name and type.
    pub fn weighted(
        name: Fqdn,
        rtype: RecordType,
        ttl: u32,
        values: Vec<String>,
        set_id: impl Into<String>,
        weight: u32,
    ) -> Self {
        RecordSet {
            set_id: Some(set_id.into()),
            weight: Some(weight),
            ..RecordSet::new(name, rtype, ttl, values)
        }
    }

    /// The identity under which providers store this set.
    pub fn key(&self) -> RecordKey {
        RecordKey {
            name: self.name.clone(),
            rtype: self.rtype,
            set_id: self.set_id.clone(),
        }
    }

    /// Canonical form: every value checked and normalised, sorted, duplicates removed.
    /// Errors name the set and the bad value.
    pub fn normalized(mut self) -> Result<Self, String> {
        let mut values = Vec::with_capacity(self.values.len());
        for v in &self.values {
            values.push(
                self.rtype
                    .normalize_value(v)
                    .map_err(|e| format!("{}: {e}", self.key()))?,
            );
        }
        values.sort();
        values.dedup();
        self.values = values;
        Ok(self)
    }

    /// True when the two sets would answer the same (values, TTL, weight), ignoring `meta`.
    pub fn same_answer(&self, other: &RecordSet) -> bool {
        self.key() == other.key()
            && self.ttl == other.ttl
            && self.weight == other.weight
            && sorted(&self.values) == sorted(&other.values)
    }
}

fn sorted(values: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = values.iter().collect();
    v.sort();
    v
}

impl fmt::Display for RecordSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ttl={} [{}]",
            self.key(),
            self.ttl,
            self.values.join(", ")
        )?;
        if let Some(w) = self.weight {
            write!(f, " weight={w}")?;
        }
        Ok(())
    }
}

/// The parts of a zone's SOA that matter to failover: the negative-caching TTL bounds how long
/// resolvers remember "no such name" (RFC 2308).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Soa {
    pub serial: u32,
    pub minimum: u32,
    pub ttl: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_is_normalised() {
        assert_eq!(
            Fqdn::new("Shop.Example.TEST").map(|f| f.to_string()),
            Ok("shop.example.test.".to_string())
        );
        assert!(Fqdn::new("a..b").is_err());
        assert!(Fqdn::new("").is_err());
        assert!(Fqdn::new("bad name").is_err());
    }

    #[test]
    fn zone_membership() -> Result<(), String> {
        let zone = Fqdn::new("example.test")?;
        assert!(Fqdn::new("shop.example.test")?.is_in_zone(&zone));
        assert!(Fqdn::new("example.test")?.is_in_zone(&zone));
        assert!(!Fqdn::new("badexample.test")?.is_in_zone(&zone));
        Ok(())
    }

    #[test]
    fn values_are_normalised_and_checked() {
        assert_eq!(
            RecordType::Aaaa.normalize_value("2001:DB8:0::1"),
            Ok("2001:db8::1".into())
        );
        assert!(RecordType::A.normalize_value("not-an-ip").is_err());
        assert_eq!(
            RecordType::Srv.normalize_value("10 60 5060 Sip.Example."),
            Ok("10 60 5060 sip.example.".into())
        );
        assert!(RecordType::Mx.normalize_value("mail.example.").is_err());
    }

    #[test]
    fn same_answer_ignores_value_order() -> Result<(), String> {
        let n = Fqdn::new("a.example")?;
        let a = RecordSet::new(
            n.clone(),
            RecordType::A,
            60,
            vec!["1.1.1.1".into(), "2.2.2.2".into()],
        );
        let b = RecordSet::new(
            n,
            RecordType::A,
            60,
            vec!["2.2.2.2".into(), "1.1.1.1".into()],
        );
        assert!(a.same_answer(&b));
        Ok(())
    }
}
