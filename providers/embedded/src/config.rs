//! Configuration of the embedded DNS server: the `[providers.<instance>]` table with
//! `kind = "embedded"`.
//!
//! Read once at start-up, before anything in the flow probe -> health -> policy -> plan ->
//! **provider** -> verify runs. The controller strips `kind` and deserialises the rest of the
//! table into [`Config`]; unknown keys are rejected so a typo never silently falls back to a
//! default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use dnsfailback_provider::{Fqdn, SecretSource};
use serde::{Deserialize, Deserializer};

/// The address `dig @127.0.0.1 -p 5353` reaches when `listen` is not set.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 5353);

/// Default negative-caching TTL (SOA minimum), in seconds.
pub const DEFAULT_NEGATIVE_TTL: u32 = 60;

/// Default TTL of the apex NS records and of the name servers' addresses, in seconds.
pub const DEFAULT_NS_TTL: u32 = 3600;

/// Settings of one embedded DNS server instance.
///
/// ```toml
/// [providers.local]
/// kind = "embedded"
/// listen = "127.0.0.1:5353"
/// zones = ["example.test"]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port the server answers on, over both UDP and TCP (the same port for
    /// both). Default `127.0.0.1:5353`. Port 0 picks a free port (tests); the chosen address is
    /// returned by `start` and logged as `embedded DNS listening on udp+tcp <addr>`.
    pub listen: SocketAddr,
    /// Zones this server is authoritative for, e.g. `["example.test"]`. The controller fills
    /// this from the zones of its services; names here are added to that list. Queries for
    /// names outside every zone are answered REFUSED.
    pub zones: Vec<Fqdn>,
    /// JSON file the zone content is persisted to after every change, so answers survive a
    /// restart. The controller defaults it to a file beside its state database; without it
    /// the zones live in memory only.
    pub data_file: Option<PathBuf>,
    /// Seed for the random choice among weighted record sets. Set it only in tests, to make
    /// the sequence of weighted answers repeatable; unset, every start draws a fresh seed.
    pub rng_seed: Option<u64>,
    /// Negative-caching TTL in seconds: the SOA `minimum` and the TTL of the SOA record sent
    /// with NXDOMAIN and NODATA answers (RFC 2308). It bounds how long resolvers remember that a
    /// name did not exist. Default 60.
    pub negative_ttl: u32,
    /// The other SOA fields (`[providers.<instance>.soa]`): `mname`, `rname`, `refresh`,
    /// `retry`, `expire`. Secondaries and monitoring read them; the defaults suit a zone with
    /// no secondaries.
    pub soa: SoaConfig,
    /// The zones' name servers (`[[providers.<instance>.nameservers]]`), each a `name` and,
    /// when the name lies inside a served zone, its `addresses` (served as A/AAAA records and
    /// as glue). Empty: `ns1.<zone>` with the address of `listen`.
    pub nameservers: Vec<NameServer>,
    /// TTL of the apex NS records and of the name servers' addresses. Default 3600.
    pub ns_ttl: u32,
    /// Static records (`[[providers.<instance>.records]]`) served beside the managed ones:
    /// the rest of a small zone (MX, TXT, CAA, mail hosts...), which applies cannot change.
    pub records: Vec<StaticRecord>,
    /// Secondary name servers (`[[providers.<instance>.secondaries]]`) that copy every served
    /// zone by zone transfer (AXFR; IXFR is answered with the whole zone) and get a NOTIFY
    /// after every change, so the controller can be a hidden primary behind BIND, Knot or NSD.
    /// Empty: no transfers are allowed to anyone and no NOTIFY is sent.
    pub secondaries: Vec<Secondary>,
    /// Response rate limiting for UDP (`[providers.<instance>.rate_limit]`, see
    /// [`crate::rrl`]); none by default.
    pub rate_limit: Option<crate::rrl::RateLimitConfig>,
}

/// One secondary name server: where NOTIFY goes, which address may transfer the zones, and
/// the TSIG key its transfer requests must be signed with.
///
/// ```toml
/// [[providers.local.secondaries]]
/// address = "192.0.2.10:53"
/// tsig = { key_name = "transfer-key", algorithm = "hmac-sha256", secret = { file = "/etc/dnsfailback/transfer.key" } }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secondary {
    /// Address and port NOTIFY messages are sent to (UDP). Zone transfers (TCP) are allowed
    /// from this IP address, from any port.
    pub address: SocketAddr,
    /// The TSIG key of this secondary. With it, transfer requests from its address must carry a
    /// valid signature with this key and the transfer is signed; NOTIFY is signed too. Without
    /// it, the address alone authorises transfers (spoofable: use a key outside a lab).
    #[serde(default)]
    pub tsig: Option<TsigKey>,
}

/// A TSIG key (RFC 8945) shared with a secondary, as written by `tsig-keygen` or `keymgr`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsigKey {
    /// Key name exactly as the secondary knows it (`key "transfer-key" { ... }` in BIND).
    pub key_name: String,
    /// MAC algorithm; must match the secondary's key definition. Default `hmac-sha256`.
    #[serde(default)]
    pub algorithm: TsigAlgorithm,
    /// Where the base64 secret comes from: `{ file = "/path" }` (the bare secret or a BIND key
    /// file) or `{ env = "VAR" }`. Never written in the config, never logged.
    pub secret: SecretSource,
}

/// TSIG MAC algorithms accepted for transfers; BIND, Knot and NSD support all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum TsigAlgorithm {
    /// HMAC-SHA256, what `tsig-keygen` and `keymgr` generate by default.
    #[default]
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    /// HMAC-SHA384.
    #[serde(rename = "hmac-sha384")]
    HmacSha384,
    /// HMAC-SHA512.
    #[serde(rename = "hmac-sha512")]
    HmacSha512,
}

impl TsigAlgorithm {
    /// The name servers use in their key definitions, for messages and docs.
    pub fn as_str(&self) -> &'static str {
        match self {
            TsigAlgorithm::HmacSha256 => "hmac-sha256",
            TsigAlgorithm::HmacSha384 => "hmac-sha384",
            TsigAlgorithm::HmacSha512 => "hmac-sha512",
        }
    }
}

/// One static record set: every value of one name and type.
///
/// ```toml
/// [[providers.local.records]]
/// name = "example.test"
/// type = "MX"
/// ttl = 3600
/// values = ["10 mail.example.test."]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRecord {
    /// Owner name, inside a served zone.
    pub name: Fqdn,
    /// Record type, one of [`crate::STATIC_TYPES`] (`"MX"`, `"CAA"`...; case does not matter).
    #[serde(rename = "type")]
    pub rtype: String,
    /// TTL in seconds. Default 3600.
    #[serde(default = "default_static_ttl")]
    pub ttl: u32,
    /// Values in zone-file presentation format, one record each (`"10 mail.example.test."`,
    /// `"0 issue \"letsencrypt.org\""`); names in them are absolute.
    pub values: Vec<String>,
}

fn default_static_ttl() -> u32 {
    DEFAULT_NS_TTL
}

/// SOA fields of every served zone, except the serial (kept by the server, +1 per apply) and
/// the minimum (`negative_ttl`).
///
/// ```toml
/// [providers.local.soa]
/// mname = "ns1.example.test"
/// rname = "hostmaster@example.test"
/// refresh = 3600
/// retry = 600
/// expire = 1209600
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SoaConfig {
    /// Primary name server (MNAME). Default: the first name server of the zone.
    pub mname: Option<Fqdn>,
    /// Mailbox of the person responsible (RNAME), as a domain name
    /// (`hostmaster.example.test`) or a mail address (`hostmaster@example.test`). Default
    /// `hostmaster.<zone>`.
    pub rname: Option<String>,
    /// Seconds between a secondary's SOA checks. Default 3600.
    pub refresh: u32,
    /// Seconds a secondary waits to retry a failed check. Default 600.
    pub retry: u32,
    /// Seconds after which a secondary that cannot reach the primary stops answering. Default
    /// 1209600 (two weeks, RFC 1912).
    pub expire: u32,
}

impl Default for SoaConfig {
    fn default() -> Self {
        SoaConfig {
            mname: None,
            rname: None,
            refresh: 3600,
            retry: 600,
            expire: 1_209_600,
        }
    }
}

/// One name server of the served zones: an NS record at every apex, and, when its name is
/// inside a served zone, its addresses as A/AAAA records there (BIND refuses a zone whose
/// in-zone name server has none, since no resolver could reach it).
///
/// ```toml
/// [[providers.local.nameservers]]
/// name = "ns1.example.test"
/// addresses = ["192.0.2.53", "2001:db8::53"]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameServer {
    /// Host name of the server, e.g. `ns1.example.test`.
    pub name: Fqdn,
    /// Its addresses; required when `name` is inside a served zone, refused otherwise (the
    /// name's own zone publishes them).
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
}

/// The adapter's settings type: a [`Config`] that passed every check that needs no zone list
/// ([`crate::apex::check_static`]), so `dnsfailback validate` reports a bad SOA or name server
/// table without building anything. The checks that need the zones run again in
/// [`crate::EmbeddedProvider::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedConfig(pub Config);

impl<'de> Deserialize<'de> for CheckedConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let config = Config::deserialize(deserializer)?;
        crate::apex::check_static(&config).map_err(serde::de::Error::custom)?;
        crate::secondaries::check_static(&config.secondaries)
            .map_err(|p| serde::de::Error::custom(p.join("; ")))?;
        if let Some(problems) = config.rate_limit.as_ref().map(|r| r.problems()) {
            if !problems.is_empty() {
                return Err(serde::de::Error::custom(problems.join("; ")));
            }
        }
        Ok(CheckedConfig(config))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN,
            zones: Vec::new(),
            data_file: None,
            rng_seed: None,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            soa: SoaConfig::default(),
            nameservers: Vec::new(),
            ns_ttl: DEFAULT_NS_TTL,
            records: Vec::new(),
            secondaries: Vec::new(),
            rate_limit: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_to_an_empty_table() -> Result<(), String> {
        let c: Config = toml::from_str("").map_err(|e| e.to_string())?;
        assert_eq!(c, Config::default());
        assert_eq!(c.listen.to_string(), "127.0.0.1:5353");
        assert_eq!(c.negative_ttl, 60);
        Ok(())
    }

    #[test]
    fn every_key_parses() -> Result<(), String> {
        let c: Config = toml::from_str(
            r#"
            listen = "127.0.0.1:0"
            zones = ["Example.Test"]
            data_file = "/tmp/zones.json"
            rng_seed = 7
            negative_ttl = 30
            "#,
        )
        .map_err(|e| e.to_string())?;
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.zones, vec![Fqdn::new("example.test.")?]);
        assert_eq!(c.data_file, Some(PathBuf::from("/tmp/zones.json")));
        assert_eq!(c.rng_seed, Some(7));
        assert_eq!(c.negative_ttl, 30);
        Ok(())
    }

    #[test]
    fn secondaries_parse_and_bad_ones_are_named_at_validation() -> Result<(), String> {
        let c: CheckedConfig = toml::from_str(
            r#"
            [[secondaries]]
            address = "192.0.2.10:53"
            tsig = { key_name = "transfer-key", secret = { file = "/etc/k" } }
            [[secondaries]]
            address = "192.0.2.11:53"
            "#,
        )
        .map_err(|e| e.to_string())?;
        let s = &c.0.secondaries;
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].tsig.as_ref().map(|t| t.algorithm),
            Some(TsigAlgorithm::HmacSha256)
        );
        assert_eq!(s[1].tsig, None);
        let e = toml::from_str::<CheckedConfig>("[[secondaries]]\naddress = \"0.0.0.0:53\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("secondaries[0].address = \"0.0.0.0:53\""), "{e}");
        let e = toml::from_str::<CheckedConfig>(
            "[[secondaries]]\naddress = \"192.0.2.1:53\"\ntsig = { key_name = \"k\", secret = \"inline\" }",
        )
        .err()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
        assert!(
            e.contains("a secret is written inline") && !e.contains("\"inline\""),
            "{e}"
        );
        Ok(())
    }

    #[test]
    fn unknown_keys_and_bad_zones_are_rejected() {
        let e = toml::from_str::<Config>("listne = \"127.0.0.1:53\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("listne"), "{e}");
        assert!(toml::from_str::<Config>("zones = [\"a..b\"]").is_err());
    }
}
