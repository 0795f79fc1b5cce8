//! Adapter behaviour that needs no server: configuration parsing and refusals before any
//! packet is sent.

use dnsfailback_provider::{Change, ChangeSet, ErrorKind, Fqdn, Provider, RecordSet, RecordType};
use dnsfailback_provider_rfc2136::{Algorithm, Config, Rfc2136Provider};

fn fq(s: &str) -> Fqdn {
    Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn documented_example_config_parses() {
    let text = r#"
server = "192.0.2.53:53"
key_name = "dnsfailback"
algorithm = "hmac-sha512"
secret = { env = "DNSFAILBACK_TSIG_SECRET" }
timeout = "3s"
retries = 2
propagation_servers = ["192.0.2.54:53", "[2001:db8::53]:53"]
propagation_timeout = "2m"
"#;
    let c: Config = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.algorithm, Algorithm::HmacSha512);
    assert_eq!(c.timeout, std::time::Duration::from_secs(3));
    assert_eq!(c.propagation_servers.len(), 2);
    assert!(!c.insecure);
}

#[test]
fn unknown_keys_and_algorithms_are_rejected() {
    let e = toml::from_str::<Config>("server = \"127.0.0.1:53\"\nkey-name = \"k\"\n").err();
    assert!(e.is_some_and(|e| e.to_string().contains("key-name")));
    let e = toml::from_str::<Config>("server = \"127.0.0.1:53\"\nalgorithm = \"hmac-md5\"\n").err();
    assert!(e.is_some());
}

#[test]
fn missing_secret_is_explained_without_values() {
    let text = "server = \"127.0.0.1:53\"\nkey_name = \"k\"\nsecret = { env = \"DNSFAILBACK_TEST_UNSET_VAR\" }\n";
    let c: Config = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
    let e = Rfc2136Provider::new("ns", c)
        .err()
        .unwrap_or_else(|| panic!("loaded an unset secret"));
    assert!(e.to_string().starts_with("ns: "), "{e}");
    assert!(e.to_string().contains("DNSFAILBACK_TEST_UNSET_VAR"), "{e}");
}

#[test]
fn secret_not_in_debug_or_errors() {
    let dir = std::env::temp_dir().join(format!("dnsfb-offline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let f = dir.join("s");
    let secret = "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw==";
    std::fs::write(&f, secret).unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "server = \"127.0.0.1:9\"\nkey_name = \"k\"\nsecret = {{ file = \"{}\" }}\n",
        f.display()
    );
    let c: Config = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let p = Rfc2136Provider::new("ns", c.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!format!("{p:?} {c:?}").contains(secret));
    // Not base64: the error must not echo the file content.
    std::fs::write(&f, "hunter2 is not base64!").unwrap_or_else(|e| panic!("{e}"));
    let e = Rfc2136Provider::new("ns", c)
        .err()
        .unwrap_or_else(|| panic!("accepted bad base64"));
    assert!(!format!("{e} {e:?}").contains("hunter2"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn weighted_sets_are_refused_before_sending() {
    let mut c = Config::new("127.0.0.1:9".parse().unwrap_or_else(|e| panic!("{e}")));
    c.insecure = true;
    let p = Rfc2136Provider::new("ns", c).unwrap_or_else(|e| panic!("{e}"));
    assert!(!p.capabilities().weighted);
    let w = RecordSet::weighted(
        fq("w.example.test"),
        RecordType::A,
        60,
        vec!["192.0.2.1".into()],
        "primary",
        10,
    );
    let e = p
        .apply(&ChangeSet {
            zone: fq("example.test"),
            changes: vec![Change::Create { new: w }],
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("weighted set accepted"));
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert!(e.not_applied());
}

#[tokio::test]
async fn unreachable_server_is_transient_and_retried() {
    // Port 9 (discard) on loopback: nothing listens, connection refused.
    let mut c = Config::new("127.0.0.1:9".parse().unwrap_or_else(|e| panic!("{e}")));
    c.insecure = true;
    c.retries = 2;
    let p = Rfc2136Provider::new("ns", c).unwrap_or_else(|e| panic!("{e}"));
    let e = p
        .read(&fq("example.test"), &fq("www.example.test"), RecordType::A)
        .await
        .err()
        .unwrap_or_else(|| panic!("read from nothing succeeded"));
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().starts_with("ns: "), "{e}");
}
