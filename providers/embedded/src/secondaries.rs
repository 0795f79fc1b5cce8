//! The configured secondaries (`[[providers.<instance>.secondaries]]`): who may transfer the
//! zones, with which TSIG key, and where NOTIFY goes.
//!
//! Sits beside the provider step (plan -> **provider** -> verify): an apply changes the zone,
//! `notify.rs` tells these servers, and `transfer.rs` lets them copy it. The checks that need no
//! secret run when the settings are parsed ([`check_static`], so `dnsfailback validate` shows
//! them); the secrets are loaded once, when the provider is built ([`Secondaries::load`]). A
//! secret never appears in an error, a log line or `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::rdata::tsig::TsigAlgorithm as WireAlgorithm;
use hickory_proto::rr::{Name, TSigner};

use crate::config::{Secondary, TsigAlgorithm, TsigKey};

/// Seconds a signature's time may differ from ours (RFC 8945 section 10 recommends 300).
const FUDGE: u16 = 300;

/// One secondary, ready to use.
#[derive(Clone)]
pub struct Peer {
    /// Where NOTIFY goes; its IP may transfer.
    pub address: SocketAddr,
    /// Its TSIG key, if it has one.
    pub key: Option<TSigner>,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("address", &self.address)
            .field(
                "key",
                &self.key.as_ref().map(|k| k.signer_name().to_string()),
            )
            .finish()
    }
}

/// Every configured secondary and the distinct TSIG keys among them.
#[derive(Clone, Debug, Default)]
pub struct Secondaries {
    peers: Vec<Peer>,
}

/// Checks what needs no secret: addresses usable for NOTIFY, no duplicates, key names that are
/// DNS names, and one algorithm and secret per key name (RFC 8945 section 5.5). Each problem
/// names the key (`secondaries[1].tsig.key_name`) and the fix.
pub fn check_static(secondaries: &[Secondary]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<SocketAddr, usize> = BTreeMap::new();
    let mut keys: BTreeMap<String, (usize, &TsigKey)> = BTreeMap::new();
    for (i, s) in secondaries.iter().enumerate() {
        let key = format!("secondaries[{i}]");
        let ip = s.address.ip();
        if s.address.port() == 0 || ip.is_unspecified() || ip.is_multicast() {
            problems.push(format!(
                "{key}.address = \"{}\": give the address and port the secondary answers on \
                 (e.g. \"192.0.2.10:53\"); NOTIFY is sent there and transfers are allowed from \
                 its IP",
                s.address
            ));
        }
        if let Some(j) = seen.insert(s.address, i) {
            problems.push(format!(
                "{key}.address = \"{}\" is already secondaries[{j}]; list each secondary once",
                s.address
            ));
        }
        let Some(tsig) = &s.tsig else { continue };
        if let Err(e) = Name::from_ascii(&tsig.key_name) {
            problems.push(format!(
                "{key}.tsig.key_name = \"{}\" is not a DNS name ({e}); use the name from the \
                 secondary's key definition, e.g. \"transfer-key\"",
                tsig.key_name
            ));
        }
        let folded = tsig.key_name.trim_end_matches('.').to_ascii_lowercase();
        match keys.get(&folded) {
            Some((j, other))
                if other.algorithm != tsig.algorithm || other.secret != tsig.secret =>
            {
                problems.push(format!(
                    "{key}.tsig: key {} is also used by secondaries[{j}] with another algorithm \
                     or secret; one key name has one algorithm and one secret (RFC 8945 section \
                     5.5): give the keys different names",
                    tsig.key_name
                ))
            }
            Some(_) => {}
            None => {
                keys.insert(folded, (i, tsig));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

impl Secondaries {
    /// Loads every TSIG secret; errors name the key (`secondaries[0].tsig.secret`), never the
    /// secret.
    pub fn load(secondaries: &[Secondary]) -> Result<Self, Vec<String>> {
        check_static(secondaries)?;
        let mut problems = Vec::new();
        let mut peers = Vec::new();
        for (i, s) in secondaries.iter().enumerate() {
            let key = match &s.tsig {
                None => None,
                Some(t) => match signer(t) {
                    Ok(k) => Some(k),
                    Err(e) => {
                        problems.push(format!("secondaries[{i}].tsig: {e}"));
                        None
                    }
                },
            };
            peers.push(Peer {
                address: s.address,
                key,
            });
        }
        if problems.is_empty() {
            Ok(Secondaries { peers })
        } else {
            Err(problems)
        }
    }

    /// The secondaries, in configuration order.
    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    /// The key named `name`, to verify a signed request with.
    pub fn key(&self, name: &Name) -> Option<&TSigner> {
        self.peers
            .iter()
            .filter_map(|p| p.key.as_ref())
            .find(|k| k.signer_name() == name)
    }

    /// True when a request from `src`, signed (and verified) with the key `key` if any, may
    /// transfer: some secondary has that IP and either no key or that key.
    pub fn may_transfer(&self, src: IpAddr, key: Option<&Name>) -> bool {
        let src = src.to_canonical();
        self.peers
            .iter()
            .filter(|p| p.address.ip().to_canonical() == src)
            .any(|p| match (&p.key, key) {
                (None, _) => true,
                (Some(k), Some(n)) => k.signer_name() == n,
                (Some(_), None) => false,
            })
    }
}

fn signer(t: &TsigKey) -> Result<TSigner, String> {
    let secret = t
        .secret
        .load()
        .map_err(|e| format!("secret of key {}: {e}", t.key_name))?;
    let bytes = dnsfailback_provider::tsig_key_bytes(secret.expose())
        .map_err(|e| format!("key {}: {e}", t.key_name))?;
    let name = Name::from_ascii(&t.key_name)
        .map_err(|e| format!("key_name `{}` is not a DNS name: {e}", t.key_name))?;
    let alg = match t.algorithm {
        TsigAlgorithm::HmacSha256 => WireAlgorithm::HmacSha256,
        TsigAlgorithm::HmacSha384 => WireAlgorithm::HmacSha384,
        TsigAlgorithm::HmacSha512 => WireAlgorithm::HmacSha512,
    };
    TSigner::new(bytes, alg, name, FUDGE).map_err(|e| {
        format!(
            "key {}: algorithm {} cannot be used: {e}",
            t.key_name,
            t.algorithm.as_str()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Secondary> {
        #[derive(serde::Deserialize)]
        struct T {
            secondaries: Vec<Secondary>,
        }
        toml::from_str::<T>(text)
            .map(|t| t.secondaries)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn bad_addresses_duplicates_and_clashing_keys_are_named() {
        let s = parse(
            r#"
            [[secondaries]]
            address = "192.0.2.1:0"
            [[secondaries]]
            address = "192.0.2.2:53"
            tsig = { key_name = "k", secret = { env = "A" } }
            [[secondaries]]
            address = "192.0.2.2:53"
            tsig = { key_name = "K.", algorithm = "hmac-sha512", secret = { env = "A" } }
            "#,
        );
        let p = check_static(&s).err().unwrap_or_default();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("secondaries[0].address"), "{}", p[0]);
        assert!(p[1].contains("already secondaries[1]"), "{}", p[1]);
        assert!(p[2].starts_with("secondaries[2].tsig: key K."), "{}", p[2]);
    }

    #[test]
    fn secrets_load_from_files_and_errors_never_show_them() -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("dnsfb-sec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let good = dir.join("good.key");
        let bad = dir.join("bad.key");
        std::fs::write(
            &good,
            "key \"t\" {\n\talgorithm hmac-sha256;\n\tsecret \"aGVsbG8=\";\n};\n",
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(&bad, "hunter2 not base64!").map_err(|e| e.to_string())?;
        let text = format!(
            "[[secondaries]]\naddress = \"127.0.0.1:53\"\ntsig = {{ key_name = \"t\", secret = {{ file = \"{}\" }} }}\n\
             [[secondaries]]\naddress = \"127.0.0.2:53\"\ntsig = {{ key_name = \"u\", secret = {{ file = \"{}\" }} }}\n",
            good.display(),
            bad.display()
        );
        let list = parse(&text);
        let e = Secondaries::load(&list).err().unwrap_or_default();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("secondaries[1].tsig: key u:"), "{}", e[0]);
        assert!(!e[0].contains("hunter2"));
        let ok = Secondaries::load(&list[..1]).map_err(|e| e.join("; "))?;
        assert_eq!(
            ok.peers()[0].key.as_ref().map(|k| k.key().to_vec()),
            Some(b"hello".to_vec())
        );
        assert!(!format!("{ok:?}").contains("aGVsbG8"));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn transfers_need_the_ip_and_the_key_of_a_secondary() -> Result<(), String> {
        let s = Secondaries {
            peers: vec![
                Peer {
                    address: "127.0.0.1:53".parse().map_err(|e| format!("{e}"))?,
                    key: Some(
                        TSigner::new(
                            b"k".to_vec(),
                            WireAlgorithm::HmacSha256,
                            Name::from_ascii("t.").map_err(|e| e.to_string())?,
                            FUDGE,
                        )
                        .map_err(|e| e.to_string())?,
                    ),
                },
                Peer {
                    address: "127.0.0.3:53".parse().map_err(|e| format!("{e}"))?,
                    key: None,
                },
            ],
        };
        let t = Name::from_ascii("t.").map_err(|e| e.to_string())?;
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert!(s.may_transfer(ip("127.0.0.1"), Some(&t)));
        assert!(s.may_transfer(ip("::ffff:127.0.0.1"), Some(&t)));
        assert!(!s.may_transfer(ip("127.0.0.1"), None));
        assert!(!s.may_transfer(ip("127.0.0.2"), Some(&t)));
        assert!(s.may_transfer(ip("127.0.0.3"), None));
        Ok(())
    }
}
