//! Translation of record-set values (RFC 1035 presentation text, as the planner writes them)
//! into hickory record data for the wire.
//!
//! Sits at the serving end of the provider step (plan -> **provider** -> verify): record sets
//! are stored as the shared presentation text so `read` returns exactly what was applied, and
//! are turned into wire records only when a query is answered. Values were checked when they
//! were applied or loaded, so a failure here is logged and the value skipped, never a panic.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use dnsfailback_provider::{RecordSet, RecordType};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType as WireType};

/// The wire type of a record type the controller manages.
#[cfg(test)]
pub fn wire_type(rtype: RecordType) -> WireType {
    match rtype {
        RecordType::A => WireType::A,
        RecordType::Aaaa => WireType::AAAA,
        RecordType::Cname => WireType::CNAME,
        RecordType::Mx => WireType::MX,
        RecordType::Srv => WireType::SRV,
        RecordType::Txt => WireType::TXT,
    }
}

/// The managed record type for a queried wire type; `None` for types this server never holds.
pub fn managed_type(wire: WireType) -> Option<RecordType> {
    match wire {
        WireType::A => Some(RecordType::A),
        WireType::AAAA => Some(RecordType::Aaaa),
        WireType::CNAME => Some(RecordType::Cname),
        WireType::MX => Some(RecordType::Mx),
        WireType::SRV => Some(RecordType::Srv),
        WireType::TXT => Some(RecordType::Txt),
        _ => None,
    }
}

/// A domain name in presentation format as a hickory name (always fully qualified).
pub fn name(text: &str) -> Result<Name, String> {
    let mut n = Name::from_str(text).map_err(|e| format!("`{text}` is not a domain name: {e}"))?;
    n.set_fqdn(true);
    Ok(n)
}

/// One value of a set as record data.
pub fn value_to_rdata(rtype: RecordType, value: &str) -> Result<RData, String> {
    let v = value.trim();
    let num = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("`{s}` is not a number 0-65535 in `{v}`"))
    };
    match rtype {
        RecordType::A => Ipv4Addr::from_str(v)
            .map(|ip| RData::A(A(ip)))
            .map_err(|_| format!("`{v}` is not an IPv4 address")),
        RecordType::Aaaa => Ipv6Addr::from_str(v)
            .map(|ip| RData::AAAA(AAAA(ip)))
            .map_err(|_| format!("`{v}` is not an IPv6 address")),
        RecordType::Cname => Ok(RData::CNAME(CNAME(name(v)?))),
        RecordType::Mx => match v.split_whitespace().collect::<Vec<_>>().as_slice() {
            [pref, host] => Ok(RData::MX(MX::new(num(pref)?, name(host)?))),
            _ => Err(format!("`{v}` is not `PREFERENCE HOST`")),
        },
        RecordType::Srv => match v.split_whitespace().collect::<Vec<_>>().as_slice() {
            [prio, weight, port, target] => Ok(RData::SRV(SRV::new(
                num(prio)?,
                num(weight)?,
                num(port)?,
                name(target)?,
            ))),
            _ => Err(format!("`{v}` is not `PRIORITY WEIGHT PORT TARGET`")),
        },
        RecordType::Txt => Ok(RData::TXT(TXT::new(txt_strings(v)))),
    }
}

/// Every value of `set` as a wire record; values that cannot be translated are logged and left
/// out.
pub fn set_to_records(set: &RecordSet) -> Vec<Record> {
    let Ok(owner) = name(set.name.as_str()) else {
        tracing::warn!(set = %set.key(), "owner name cannot be encoded; not answered");
        return Vec::new();
    };
    set.values
        .iter()
        .filter_map(|v| match value_to_rdata(set.rtype, v) {
            Ok(rdata) => Some(Record::from_rdata(owner.clone(), set.ttl, rdata)),
            Err(e) => {
                tracing::warn!(set = %set.key(), "value not answered: {e}");
                None
            }
        })
        .collect()
}

/// The character-strings of a TXT value.
///
/// A value written as quoted strings (`"v=spf1 -all"` or `"part one" "part two"`, the form
/// Route 53 and zone files use) is split on the quotes, with `\"` and `\\` unescaped; any other
/// text is one string. Strings longer than 255 octets are cut into 255-octet pieces, as a
/// character-string cannot hold more.
pub fn txt_strings(value: &str) -> Vec<String> {
    let v = value.trim();
    let raw = if v.starts_with('"') {
        quoted_strings(v)
    } else {
        vec![v.to_string()]
    };
    raw.into_iter().flat_map(|s| chunk(&s)).collect()
}

fn quoted_strings(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        s.push(next);
                    }
                }
                '"' => break,
                other => s.push(other),
            }
        }
        out.push(s);
    }
    out
}

fn chunk(s: &str) -> Vec<String> {
    if s.len() <= 255 {
        return vec![s.to_string()];
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if cur.len() + c.len_utf8() > 255 {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_managed_type_translates() {
        for (t, v) in [
            (RecordType::A, "192.0.2.1"),
            (RecordType::Aaaa, "2001:db8::1"),
            (RecordType::Cname, "target.example.test."),
            (RecordType::Mx, "10 mail.example.test."),
            (RecordType::Srv, "10 60 5060 sip.example.test."),
            (RecordType::Txt, "\"v=spf1 -all\""),
        ] {
            let rdata = value_to_rdata(t, v);
            assert!(rdata.is_ok(), "{t} {v}: {rdata:?}");
            assert_eq!(rdata.map(|r| r.record_type()).ok(), Some(wire_type(t)));
            assert_eq!(managed_type(wire_type(t)), Some(t));
        }
        assert!(value_to_rdata(RecordType::A, "nope").is_err());
        assert!(value_to_rdata(RecordType::Mx, "mail.example.").is_err());
    }

    #[test]
    fn txt_values_split_on_quotes_and_length() {
        assert_eq!(txt_strings("\"a b\" \"c\\\"d\""), vec!["a b", "c\"d"]);
        assert_eq!(txt_strings("plain text"), vec!["plain text"]);
        let long = "x".repeat(600);
        let parts = txt_strings(&long);
        assert_eq!(
            parts.iter().map(String::len).collect::<Vec<_>>(),
            vec![255, 255, 90]
        );
    }
}
