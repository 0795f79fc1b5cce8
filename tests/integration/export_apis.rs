//! `dnsfailback export` through a cloud provider's list API (issue 16): the Route 53 adapter
//! against the moto server (started by the test on loopback), records written through the
//! adapter first. The command checks its own output with hickory's zone parser before writing
//! it; the test reads the file back as well.

use std::str::FromStr;

use dnsfailback_provider::{Change, ChangeSet, Fqdn, Provider, RecordSet, RecordType};
use dnsfailback_provider_route53::testkit::Moto;
use hickory_proto::rr::{Name, RecordType as WireType};
use hickory_proto::serialize::txt::Parser;

use crate::harness::{cli, service_toml, Scratch};

fn set(name: &str, rtype: RecordType, ttl: u32, values: &[&str]) -> RecordSet {
    let name = Fqdn::new(name).unwrap_or_else(|e| panic!("{e}"));
    RecordSet::new(
        name,
        rtype,
        ttl,
        values.iter().map(|v| v.to_string()).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_lists_a_route53_zone_through_its_api_as_a_master_file() {
    let dir = Scratch::new("export-r53");
    let moto = Moto::start().await;
    let zone_id = moto.create_zone("example.test.").await;
    let zone = Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}"));
    let sets = [
        set(
            "shop.example.test",
            RecordType::A,
            60,
            &["192.0.2.10", "192.0.2.11"],
        ),
        set("shop.example.test", RecordType::Aaaa, 60, &["2001:db8::10"]),
        set(
            "www.example.test",
            RecordType::Cname,
            300,
            &["shop.example.test."],
        ),
    ];
    let changes = ChangeSet {
        zone: zone.clone(),
        changes: sets
            .iter()
            .map(|s| Change::Create { new: s.clone() })
            .collect(),
    };
    moto.provider("r53", &zone_id)
        .apply(&changes)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let cfg = dir.path("dnsfailback.toml");
    let text = format!(
        "[controller]\nstate = \"{}\"\n[providers.r53]\nkind = \"route53\"\n\
         hosted_zone_id = \"{zone_id}\"\nendpoint = \"{}\"\n{}",
        dir.path("state.db").display(),
        moto.endpoint,
        service_toml("api", "r53", "192.0.2.20", "198.51.100.20", "")
    );
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path("example.test.zone");
    let (cfg, out_s) = (cfg.display().to_string(), out.display().to_string());
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let (code, stdout, stderr) = cli(
        &["export", "-c", &cfg, "--provider", "r53", "--out", &out_s],
        &env,
    );
    assert_eq!(code, 0, "export: {stdout}{stderr}");

    let file = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}"));
    let origin = Name::from_str("example.test.").unwrap_or_else(|e| panic!("{e}"));
    let (_, records) = Parser::new(file.as_str(), None, Some(origin))
        .parse()
        .unwrap_or_else(|e| panic!("the export does not parse: {e}\n{file}"));
    let count = |name: &str, t: WireType| {
        let name = Name::from_str(name).unwrap_or_else(|e| panic!("{e}"));
        records
            .iter()
            .filter(|(k, _)| k.name == name.clone().into() && k.record_type == t)
            .map(|(_, rrset)| rrset.records_without_rrsigs().count())
            .sum::<usize>()
    };
    assert_eq!(count("shop.example.test.", WireType::A), 2, "{file}");
    assert_eq!(count("shop.example.test.", WireType::AAAA), 1, "{file}");
    assert_eq!(count("www.example.test.", WireType::CNAME), 1, "{file}");
    assert!(!file.contains("testing"), "no credential in the output");
}
