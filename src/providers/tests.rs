//! The registry's promises: each registration's capabilities are exactly what the built
//! provider reports (so validation and run time cannot disagree), kinds are unique and
//! documented, and building goes through the registration alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dnsfailback_provider::{BuildContext, Fqdn, RecordType, RecordTypes};

use super::fake::FAKES;
use super::{Registry, REGISTRY};

/// A file holding `content`, removed on drop, for secrets given as `{ file = "..." }`.
struct SecretFile(PathBuf);

impl SecretFile {
    fn new(label: &str, content: &str) -> SecretFile {
        let path = std::env::temp_dir().join(format!(
            "dnsfailback-registry-{}-{label}",
            std::process::id()
        ));
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        SecretFile(path)
    }
    fn toml(&self) -> String {
        format!("{{ file = {:?} }}", self.0.display().to_string())
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn table(text: &str) -> toml::Table {
    toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn context() -> BuildContext {
    BuildContext {
        zones: vec![Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}"))],
        state_file: PathBuf::new(),
    }
}

/// Sample settings per kind, each buildable offline: the secrets are files, no adapter sends
/// anything when it is built. A kind's first sample uses default settings (so its checked
/// capabilities must equal the registration's `capabilities`); later ones vary settings that
/// change capabilities.
fn samples(secret: &SecretFile, tsig: &SecretFile) -> BTreeMap<&'static str, Vec<String>> {
    let token = secret.toml();
    BTreeMap::from([
        ("embedded", vec![String::new()]),
        (
            "route53",
            vec![format!(
                "access_key_id = {token}\nsecret_access_key = {token}\n"
            )],
        ),
        (
            "cloudflare",
            vec![
                format!("api_token = {token}\n"),
                format!(
                    "api_token = {token}\nbatch = false\nmin_ttl = 30\nmax_batch_size = 3500\n"
                ),
            ],
        ),
        (
            "rfc2136",
            vec![format!(
                "server = \"127.0.0.1:53\"\nkey_name = \"dnsfailback\"\nsecret = {}\n",
                tsig.toml()
            )],
        ),
    ])
}

/// Checks every sample of `registry` three ways: checked capabilities (what validation sees)
/// == the built provider's `capabilities()` (what the planner sees), and the first sample's ==
/// the registration's default capabilities.
fn assert_capabilities_agree(
    registry: Registry,
    samples: &BTreeMap<&'static str, Vec<String>>,
) -> usize {
    let mut n = 0;
    for r in registry.iter() {
        let Some(tables) = samples.get(r.kind) else {
            panic!(
                "kind `{}` has no sample settings in src/providers/tests.rs: add one that \
                 builds offline, so its capabilities are checked",
                r.kind
            );
        };
        for (i, text) in tables.iter().enumerate() {
            let settings = table(text);
            let checked = r
                .check(&settings)
                .unwrap_or_else(|e| panic!("{} sample {i}: {e}", r.kind));
            let built = r
                .build("sample", &settings, &context())
                .unwrap_or_else(|e| panic!("{} sample {i}: {e}", r.kind));
            assert_eq!(
                checked,
                built.provider.capabilities(),
                "{} sample {i}: the registration's capabilities differ from the built provider's",
                r.kind
            );
            if i == 0 {
                assert_eq!(
                    checked, r.capabilities,
                    "{}: default settings give other capabilities than the registration declares",
                    r.kind
                );
            }
            n += 1;
        }
    }
    n
}

#[test]
fn every_registered_adapter_declares_the_capabilities_its_provider_reports() {
    let secret = SecretFile::new("token", "not-a-real-token");
    let tsig = SecretFile::new("tsig", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMy");
    let samples = samples(&secret, &tsig);
    let checked = assert_capabilities_agree(REGISTRY, &samples);
    assert!(
        checked > REGISTRY.iter().count(),
        "cloudflare has a second sample"
    );
    let fakes = BTreeMap::from([
        ("plain", vec![String::new()]),
        (
            "weighty",
            vec![
                String::new(),
                "min_ttl = 60\nrecord_types = [\"A\"]\n".into(),
            ],
        ),
    ]);
    assert_eq!(assert_capabilities_agree(FAKES, &fakes), 3);
}

#[test]
fn the_settings_decide_what_an_instance_can_do() {
    let secret = SecretFile::new("token-settings", "not-a-real-token");
    let cloudflare = REGISTRY
        .get("cloudflare")
        .unwrap_or_else(|| panic!("cloudflare is registered"));
    let caps = cloudflare
        .check(&table(&format!(
            "api_token = {}\nbatch = false\nmin_ttl = 30\n",
            secret.toml()
        )))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!caps.atomic_batch);
    assert_eq!(caps.min_ttl, 30);
    let weighty = FAKES
        .get("weighty")
        .unwrap_or_else(|| panic!("weighty is registered"));
    let caps = weighty
        .check(&table("record_types = [\"A\", \"AAAA\"]"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        caps.record_types,
        RecordTypes::of(&[RecordType::A, RecordType::Aaaa])
    );
}

#[test]
fn a_bad_settings_table_is_refused_by_its_adapter_without_connecting() {
    let route53 = REGISTRY
        .get("route53")
        .unwrap_or_else(|| panic!("route53 is registered"));
    let e = route53
        .check(&table("regoin = \"eu-west-1\""))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("unknown field `regoin`"), "{e}");
}

/// Holds for any registry, so adding a provider needs no change here.
#[test]
fn kinds_are_unique_and_documented() {
    let mut kinds = REGISTRY.kinds();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(
        kinds.len(),
        REGISTRY.iter().count(),
        "a kind is registered twice"
    );
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/providers");
    for kind in REGISTRY.kinds() {
        assert!(
            !kind.is_empty() && kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "kind `{kind}`: users write it in kind = \"...\"; keep it lower-case letters and digits"
        );
        let page = docs.join(format!("{kind}.md"));
        assert!(page.exists(), "validation points to {}", page.display());
    }
}

#[test]
fn what_the_existing_adapters_declare() {
    let weighted = REGISTRY.kinds_with(|c| c.weighted);
    for (kind, has_weights, in_process) in [
        ("embedded", true, true),
        ("route53", true, false),
        ("cloudflare", false, false),
        ("rfc2136", false, false),
    ] {
        let r = REGISTRY
            .get(kind)
            .unwrap_or_else(|| panic!("{kind} is registered"));
        assert_eq!(weighted.contains(&kind), has_weights, "{kind}");
        assert_eq!(r.in_process, in_process, "{kind}");
        assert_eq!(r.capabilities.record_types, RecordTypes::ALL, "{kind}");
    }
}

#[test]
fn only_an_in_process_adapter_hands_run_a_server_to_start() {
    for (kind, text) in [("embedded", ""), ("weighty", "")] {
        let r = REGISTRY
            .get(kind)
            .or_else(|| FAKES.get(kind))
            .unwrap_or_else(|| panic!("{kind} is registered"));
        let built = r
            .build("x", &table(text), &context())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(built.server.is_some(), r.in_process, "{kind}");
    }
}
