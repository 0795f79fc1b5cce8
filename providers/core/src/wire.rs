//! Record values <-> hickory wire records: the one conversion every DNS-speaking adapter uses.
//!
//! Part of the provider step (plan -> **provider** -> verify). The embedded server answers
//! queries from these records and the RFC 2136 adapter writes UPDATE messages with them and
//! reads zones back through them, so a value published by one and read by the other is the
//! same text. Behind the `wire` feature so the core crate stays free of hickory for adapters
//! that speak HTTP.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, SRV, TXT};
use hickory_proto::rr::{Name, RData, RecordType as WireType};

use crate::txt::{txt_strings, txt_text};
use crate::{Fqdn, RecordType};

/// A normalised name as hickory's fully-qualified [`Name`].
pub fn to_name(name: &Fqdn) -> Result<Name, String> {
    Name::from_ascii(name.as_str()).map_err(|e| format!("{name}: not a valid DNS name: {e}"))
}

/// The wire type of a managed record type.
pub fn to_wire_type(rtype: RecordType) -> WireType {
    match rtype {
        RecordType::A => WireType::A,
        RecordType::Aaaa => WireType::AAAA,
        RecordType::Cname => WireType::CNAME,
        RecordType::Mx => WireType::MX,
        RecordType::Srv => WireType::SRV,
        RecordType::Txt => WireType::TXT,
    }
}

/// The managed record type of a wire type; `None` for types the controller never touches.
pub fn managed_type(wire: WireType) -> Option<RecordType> {
    Some(match wire {
        WireType::A => RecordType::A,
        WireType::AAAA => RecordType::Aaaa,
        WireType::CNAME => RecordType::Cname,
        WireType::MX => RecordType::Mx,
        WireType::SRV => RecordType::Srv,
        WireType::TXT => RecordType::Txt,
        _ => return None,
    })
}

/// One value in presentation format as wire record data. Parses the text directly (no
/// normalising round trip first): the embedded server calls it for every answer.
pub fn to_rdata(rtype: RecordType, value: &str) -> Result<RData, String> {
    let v = value.trim();
    let host = |s: &str| Fqdn::new(s).and_then(|f| to_name(&f));
    let num = |s: &str, what: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("{what} `{s}` is not a number 0-65535"))
    };
    Ok(match rtype {
        RecordType::A => RData::A(A(
            Ipv4Addr::from_str(v).map_err(|_| format!("`{v}` is not an IPv4 address"))?
        )),
        RecordType::Aaaa => RData::AAAA(AAAA(
            Ipv6Addr::from_str(v).map_err(|_| format!("`{v}` is not an IPv6 address"))?,
        )),
        RecordType::Cname => RData::CNAME(CNAME(host(v)?)),
        RecordType::Mx => {
            let parts: Vec<&str> = v.split_whitespace().collect();
            let [pref, exch] = parts.as_slice() else {
                return Err(format!("`{v}` is not `PREFERENCE HOST`"));
            };
            RData::MX(MX::new(num(pref, "MX preference")?, host(exch)?))
        }
        RecordType::Srv => {
            let parts: Vec<&str> = v.split_whitespace().collect();
            let [prio, weight, port, target] = parts.as_slice() else {
                return Err(format!("`{v}` is not `PRIORITY WEIGHT PORT TARGET`"));
            };
            RData::SRV(SRV::new(
                num(prio, "SRV priority")?,
                num(weight, "SRV weight")?,
                num(port, "SRV port")?,
                host(target)?,
            ))
        }
        RecordType::Txt => {
            let strings = txt_strings(v)?;
            RData::TXT(TXT::from_bytes(strings.iter().map(Vec::as_slice).collect()))
        }
    })
}

fn fqdn_text(name: &Name) -> Option<String> {
    Fqdn::new(&name.to_ascii()).ok().map(|f| f.to_string())
}

/// The presentation text of wire record data, or `None` for types the controller does not
/// manage (they are preserved, never touched).
pub fn rdata_value(rdata: &RData) -> Option<(RecordType, String)> {
    Some(match rdata {
        RData::A(a) => (RecordType::A, a.0.to_string()),
        RData::AAAA(a) => (RecordType::Aaaa, a.0.to_string()),
        RData::CNAME(c) => (RecordType::Cname, fqdn_text(&c.0)?),
        RData::MX(mx) => (
            RecordType::Mx,
            format!("{} {}", mx.preference, fqdn_text(&mx.exchange)?),
        ),
        RData::SRV(s) => (
            RecordType::Srv,
            format!(
                "{} {} {} {}",
                s.priority,
                s.weight,
                s.port,
                fqdn_text(&s.target)?
            ),
        ),
        RData::TXT(t) => (
            RecordType::Txt,
            txt_text(t.txt_data.iter().map(|s| s.as_ref())),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_for_every_type() -> Result<(), String> {
        for (t, v) in [
            (RecordType::A, "192.0.2.1"),
            (RecordType::Aaaa, "2001:db8::1"),
            (RecordType::Cname, "target.example.test."),
            (RecordType::Mx, "10 mail.example.test."),
            (RecordType::Srv, "10 60 5060 sip.example.test."),
            (RecordType::Txt, "\"v=spf1 -all\""),
            (RecordType::Txt, "\"a\" \"b \\\"c\\\"\""),
        ] {
            let rd = to_rdata(t, v)?;
            assert_eq!(rd.record_type(), to_wire_type(t));
            assert_eq!(managed_type(to_wire_type(t)), Some(t));
            assert_eq!(rdata_value(&rd), Some((t, v.to_string())), "{t} {v}");
        }
        assert!(to_rdata(RecordType::A, "not-an-ip").is_err());
        assert!(to_rdata(RecordType::Mx, "mail.example.").is_err());
        Ok(())
    }

    #[test]
    fn plain_and_long_txt_is_sent_as_character_strings_and_read_back_canonical(
    ) -> Result<(), String> {
        let rd = to_rdata(RecordType::Txt, "v=spf1 -all")?;
        let RData::TXT(t) = &rd else {
            return Err(format!("not TXT: {rd:?}"));
        };
        assert_eq!(t.txt_data.len(), 1);
        assert_eq!(&*t.txt_data[0], b"v=spf1 -all");
        assert_eq!(
            rdata_value(&rd),
            Some((RecordType::Txt, "\"v=spf1 -all\"".to_string()))
        );
        let long = "x".repeat(600);
        let rd = to_rdata(RecordType::Txt, &long)?;
        let back = rdata_value(&rd).map(|(_, v)| v).unwrap_or_default();
        assert_eq!(RecordType::Txt.normalize_value(&long), Ok(back.clone()));
        assert_eq!(back.matches('"').count(), 6, "three quoted strings: {back}");
        Ok(())
    }
}
