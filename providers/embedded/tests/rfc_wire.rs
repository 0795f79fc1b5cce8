//! RFC conformance of the raw replies, read byte for byte by two independent parsers (hickory's
//! with a no-trailing-bytes check, and dnspython's strict `from_wire`): truncation at a record
//! boundary (RFC 1035 4.2.1, RFC 2181 9), the DO bit copied (RFC 3225), zone transfers
//! REFUSED (RFC 5936), and the SOA beside a CNAME whose target lacks the type (RFC 2308 2.2).

mod support;

use dnsfailback_provider::{Change, RecordSet, RecordType as T};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::wire::{dnspython_one, parse_strict, query, rows, tcp, udp, EdnsOpt};
use support::{apply, config, fq, started, TestResult};

fn set(name: &str, t: T, values: Vec<String>) -> Change {
    Change::Create {
        new: RecordSet::new(fq(name), t, 300, values),
    }
}

fn edns(payload: u16, dnssec_ok: bool) -> Option<EdnsOpt> {
    Some(EdnsOpt { payload, dnssec_ok })
}

#[tokio::test]
async fn truncated_replies_end_at_a_record_boundary_with_tc_and_true_counts() -> TestResult {
    let (p, addr) = started(config(&["example.test"])).await?;
    let ips: Vec<String> = (1..=100).map(|i| format!("192.0.2.{i}")).collect();
    // Three 250-byte strings: one fits in 512 bytes, the next only half.
    let txt: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|c| format!("\"{}\"", c.repeat(250)))
        .collect();
    apply(
        &p,
        "example.test",
        vec![
            set("big.example.test", T::A, ips),
            set("txt.example.test", T::Txt, txt),
        ],
    )
    .await?;
    let cases = [
        ("big.example.test.", RecordType::A, None, 512),
        ("txt.example.test.", RecordType::TXT, None, 512),
        ("big.example.test.", RecordType::A, edns(1232, false), 1232),
        ("big.example.test.", RecordType::A, edns(4096, false), 1232),
        ("big.example.test.", RecordType::A, edns(700, true), 700),
        ("big.example.test.", RecordType::A, edns(100, false), 512),
    ];
    for (name, rtype, opt, limit) in cases {
        let reply = udp(addr, &query(name, rtype, opt)?).await?;
        let what = format!("{name} {rtype} {opt:?}: {} bytes", reply.len());
        assert!(reply.len() <= limit, "{what}: over {limit}");
        let m = parse_strict(&reply).map_err(|e| format!("{what}: {e}"))?;
        assert!(m.metadata.truncation, "{what}: TC not set");
        assert!(
            !m.answers.is_empty(),
            "{what}: whole records that fit are kept"
        );
        assert_eq!(m.edns.is_some(), opt.is_some(), "{what}: OPT record");
        let py = dnspython_one(&reply).map_err(|e| format!("{what}: {e}"))?;
        assert_eq!(py["tc"], true, "{what}");
        assert_eq!(rows(&py, "answer").len(), m.answers.len(), "{what}");
    }
    // Over TCP the whole answer fits: no TC, all 100 addresses.
    let reply = tcp(addr, &query("big.example.test.", RecordType::A, None)?).await?;
    let m = parse_strict(&reply)?;
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 100);
    assert_eq!(rows(&dnspython_one(&reply)?, "answer").len(), 100);
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_do_bit_of_the_query_is_copied_into_the_reply() -> TestResult {
    let (p, addr) = started(config(&["example.test"])).await?;
    for (opt, want_do) in [
        (edns(1232, true), Some(true)),
        (edns(1232, false), Some(false)),
        (None, None),
    ] {
        for name in ["example.test.", "missing.example.test.", "www.example.org."] {
            let reply = udp(addr, &query(name, RecordType::SOA, opt)?).await?;
            let m = parse_strict(&reply)?;
            let got = m.edns.as_ref().map(|e| e.flags().dnssec_ok);
            assert_eq!(got, want_do, "{name} {opt:?}");
            let py = dnspython_one(&reply)?;
            assert_eq!(py["do"], want_do.unwrap_or(false), "{name} {opt:?}: {py}");
            let edns_version = if want_do.is_some() { 0 } else { -1 };
            assert_eq!(py["edns"], edns_version, "{name} {opt:?}: {py}");
        }
    }
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn zone_transfers_are_refused() -> TestResult {
    let (p, addr) = started(config(&["example.test"])).await?;
    apply(
        &p,
        "example.test",
        vec![set("shop.example.test", T::A, vec!["192.0.2.1".into()])],
    )
    .await?;
    for rtype in [RecordType::AXFR, RecordType::IXFR] {
        let q = query("example.test.", rtype, None)?;
        for reply in [tcp(addr, &q).await?, udp(addr, &q).await?] {
            let m = parse_strict(&reply)?;
            assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{rtype}");
            assert!(m.answers.is_empty() && m.authorities.is_empty(), "{rtype}");
            assert_eq!(m.queries.first().map(|q| q.query_type()), Some(rtype));
            assert_eq!(dnspython_one(&reply)?["rcode"], "REFUSED", "{rtype}");
        }
    }
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_cname_to_a_name_without_the_type_carries_the_soa() -> TestResult {
    let (p, addr) = started(config(&["example.test"])).await?;
    apply(
        &p,
        "example.test",
        vec![
            set("target.example.test", T::A, vec!["192.0.2.1".into()]),
            set(
                "alias.example.test",
                T::Cname,
                vec!["target.example.test.".into()],
            ),
            set(
                "dangling.example.test",
                T::Cname,
                vec!["gone.example.test.".into()],
            ),
        ],
    )
    .await?;
    let cases = [
        ("alias.example.test.", RecordType::AAAA, "NOERROR"),
        ("alias.example.test.", RecordType::MX, "NOERROR"),
        ("dangling.example.test.", RecordType::A, "NXDOMAIN"),
    ];
    for (name, rtype, rcode) in cases {
        let reply = udp(addr, &query(name, rtype, edns(1232, false))?).await?;
        let m = parse_strict(&reply)?;
        let types = |rs: &[hickory_proto::rr::Record]| -> Vec<RecordType> {
            rs.iter().map(|r| r.record_type()).collect()
        };
        assert_eq!(types(&m.answers), vec![RecordType::CNAME], "{name} {rtype}");
        assert_eq!(
            types(&m.authorities),
            vec![RecordType::SOA],
            "{name} {rtype}"
        );
        assert!(m.metadata.authoritative, "{name} {rtype}");
        let py = dnspython_one(&reply)?;
        assert_eq!(py["rcode"], rcode, "{name} {rtype}");
        let authority = rows(&py, "authority");
        assert!(
            authority.len() == 1 && authority[0].starts_with("SOA ns1.example.test."),
            "{name} {rtype}: {authority:?}"
        );
    }
    // The target's own positive answer is unchanged: CNAME then A, no SOA.
    let reply = udp(addr, &query("alias.example.test.", RecordType::A, None)?).await?;
    let py = dnspython_one(&reply)?;
    assert_eq!(
        rows(&py, "answer"),
        vec!["CNAME target.example.test.", "A 192.0.2.1"]
    );
    assert!(rows(&py, "authority").is_empty());
    p.shutdown().await;
    Ok(())
}
