//! Static records (`[[providers.<instance>.records]]`): a whole small zone served beside the
//! managed record sets, read from the raw replies by dnspython, and applies that would touch a
//! static record refused.

mod support;

use dnsfailback_provider::{Change, RecordSet, RecordType as T};
use dnsfailback_provider_embedded::{CheckedConfig, EmbeddedProvider};
use hickory_proto::rr::RecordType;
use support::wire::{dnspython_one, parse_strict, query, rows, udp};
use support::{apply, fq, TestResult};

const SETTINGS: &str = r#"
listen = "127.0.0.1:0"
zones = ["example.test"]

[[records]]
name = "example.test"
type = "MX"
values = ["10 mail.example.test."]

[[records]]
name = "example.test"
type = "TXT"
ttl = 300
values = ['"v=spf1 mx -all"']

[[records]]
name = "example.test"
type = "CAA"
values = ['0 issue "letsencrypt.org"']

[[records]]
name = "mail.example.test"
type = "A"
values = ["192.0.2.25"]

[[records]]
name = "webmail.example.test"
type = "CNAME"
values = ["shop.example.test."]
"#;

async fn serve() -> Result<(EmbeddedProvider, std::net::SocketAddr), String> {
    let CheckedConfig(config) = toml::from_str(SETTINGS).map_err(|e| e.to_string())?;
    let p = EmbeddedProvider::new("local", config).map_err(|e| e.to_string())?;
    let addr = p.start().await.map_err(|e| e.to_string())?;
    Ok((p, addr))
}

async fn answer(
    addr: std::net::SocketAddr,
    name: &str,
    t: RecordType,
) -> Result<serde_json::Value, String> {
    let reply = udp(addr, &query(name, t, None)?).await?;
    parse_strict(&reply)?;
    dnspython_one(&reply)
}

#[tokio::test]
async fn a_small_zone_is_served_beside_the_managed_records() -> TestResult {
    let (p, addr) = serve().await?;
    let shop = RecordSet::new(
        fq("shop.example.test"),
        T::A,
        60,
        vec!["198.51.100.7".into()],
    );
    apply(&p, "example.test", vec![Change::Create { new: shop }]).await?;
    let cases = [
        (
            "example.test.",
            RecordType::MX,
            vec!["MX 10 mail.example.test."],
        ),
        (
            "example.test.",
            RecordType::TXT,
            vec!["TXT \"v=spf1 mx -all\""],
        ),
        (
            "example.test.",
            RecordType::CAA,
            vec!["CAA 0 issue \"letsencrypt.org\""],
        ),
        ("mail.example.test.", RecordType::A, vec!["A 192.0.2.25"]),
        (
            "webmail.example.test.",
            RecordType::A,
            vec!["CNAME shop.example.test.", "A 198.51.100.7"],
        ),
    ];
    for (name, t, want) in cases {
        let py = answer(addr, name, t).await?;
        assert_eq!(py["rcode"], "NOERROR", "{name} {t}: {py}");
        assert_eq!(rows(&py, "answer"), want, "{name} {t}");
    }
    // NODATA at a static name, NXDOMAIN beside it; both with the SOA.
    let py = answer(addr, "mail.example.test.", RecordType::AAAA).await?;
    assert_eq!(
        (py["rcode"].as_str(), rows(&py, "authority").len()),
        (Some("NOERROR"), 1)
    );
    let py = answer(addr, "mail2.example.test.", RecordType::A).await?;
    assert_eq!(py["rcode"], "NXDOMAIN");
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn applies_that_touch_a_static_record_are_refused() -> TestResult {
    let (p, _addr) = serve().await?;
    let mx = RecordSet::new(
        fq("example.test"),
        T::Mx,
        60,
        vec!["5 other.example.test.".into()],
    );
    let e = apply(&p, "example.test", vec![Change::Create { new: mx }])
        .await
        .err()
        .unwrap_or_default();
    assert!(e.contains("static MX record records[0]"), "{e}");
    let beside_cname = RecordSet::new(fq("webmail.example.test"), T::Txt, 60, vec!["\"x\"".into()]);
    let e = apply(
        &p,
        "example.test",
        vec![Change::Create { new: beside_cname }],
    )
    .await
    .err()
    .unwrap_or_default();
    assert!(e.contains("records[4]"), "{e}");
    p.shutdown().await;
    Ok(())
}

#[test]
fn a_bad_static_record_is_refused_when_the_table_is_read() {
    let e = toml::from_str::<CheckedConfig>(
        "[[records]]\nname = \"example.test\"\ntype = \"NS\"\nvalues = [\"ns9.example.net.\"]\n",
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        e.contains("records[0].type = \"NS\"") && e.contains("CAA"),
        "{e}"
    );
}
