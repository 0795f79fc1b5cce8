//! Real DNS queries against the embedded server, over UDP and TCP with the hickory client:
//! answers change after `apply`, NXDOMAIN vs NODATA, REFUSED outside the zones, the AA bit,
//! and garbage packets that must not kill the server.

mod support;

use dnsfailback_provider::{Change, Provider, RecordSet};
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::{RData, RecordType};
use support::{a_set, a_values, apply, config, fq, started, Dns, TestResult};

#[tokio::test]
async fn answer_changes_after_apply_over_udp_and_tcp() -> TestResult {
    let (p, addr) = started(config(&["example.test"])).await?;
    let mut udp = Dns::udp(addr).await;
    let mut tcp = Dns::tcp(addr).await?;

    let before = a_set("shop.example.test", 300, &["192.0.2.10"]);
    apply(
        &p,
        "example.test",
        vec![Change::Create {
            new: before.clone(),
        }],
    )
    .await?;
    for dns in [&mut udp, &mut tcp] {
        let m = dns.query("shop.example.test.", RecordType::A).await?;
        assert_eq!(a_values(&m), vec!["192.0.2.10"]);
        assert!(m.metadata.authoritative, "AA bit must be set");
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(m.answers.first().map(|r| r.ttl), Some(300));
    }

    let after = a_set("shop.example.test", 30, &["198.51.100.20", "198.51.100.21"]);
    apply(
        &p,
        "example.test",
        vec![Change::Update {
            old: before,
            new: after,
        }],
    )
    .await?;
    for dns in [&mut udp, &mut tcp] {
        let m = dns.query("Shop.Example.Test.", RecordType::A).await?;
        assert_eq!(a_values(&m), vec!["198.51.100.20", "198.51.100.21"]);
        assert_eq!(m.answers.first().map(|r| r.ttl), Some(30));
    }
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn nxdomain_nodata_refused_and_apex() -> TestResult {
    let mut cfg = config(&["example.test"]);
    cfg.negative_ttl = 45;
    let (p, addr) = started(cfg).await?;
    apply(
        &p,
        "example.test",
        vec![Change::Create {
            new: a_set("shop.example.test", 60, &["192.0.2.1"]),
        }],
    )
    .await?;
    let serial_before = p.soa(&fq("example.test")).await?.map(|s| s.serial);
    let mut dns = Dns::udp(addr).await;

    // NODATA: the name exists, the type does not; NOERROR with the SOA in authority.
    let m = dns.query("shop.example.test.", RecordType::AAAA).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert!(m.metadata.authoritative);
    let soa = m
        .authorities
        .first()
        .ok_or("no SOA in authority for NODATA")?;
    assert_eq!(soa.record_type(), RecordType::SOA);
    assert_eq!(soa.ttl, 45);

    // NXDOMAIN: the name does not exist.
    let m = dns.query("missing.example.test.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    match m.authorities.first().map(|r| &r.data) {
        Some(RData::SOA(soa)) => {
            assert_eq!(soa.minimum, 45);
            assert_eq!(Some(soa.serial), serial_before);
        }
        other => return Err(format!("expected SOA in authority, got {other:?}").into()),
    }

    // REFUSED outside the zones, without AA.
    let m = dns.query("www.example.org.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(!m.metadata.authoritative);

    // Apex SOA and NS.
    let m = dns.query("example.test.", RecordType::SOA).await?;
    assert_eq!(
        m.answers.first().map(|r| r.record_type()),
        Some(RecordType::SOA)
    );
    let m = dns.query("example.test.", RecordType::NS).await?;
    assert_eq!(
        m.answers.first().map(|r| r.record_type()),
        Some(RecordType::NS)
    );

    // The serial goes up on each apply.
    apply(
        &p,
        "example.test",
        vec![Change::Create {
            new: a_set("two.example.test", 60, &["192.0.2.2"]),
        }],
    )
    .await?;
    let serial_after = p.soa(&fq("example.test")).await?.map(|s| s.serial);
    assert_eq!(serial_after, serial_before.map(|s| s + 1));
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn other_record_types_are_served() -> TestResult {
    use dnsfailback_provider::RecordType as T;
    let (p, addr) = started(config(&["example.test"])).await?;
    let set = |n: &str, t: T, v: &str| RecordSet::new(fq(n), t, 60, vec![v.to_string()]);
    apply(
        &p,
        "example.test",
        vec![
            Change::Create {
                new: set("v6.example.test", T::Aaaa, "2001:DB8::1"),
            },
            Change::Create {
                new: set("mail.example.test", T::Mx, "10 mx.example.test."),
            },
            Change::Create {
                new: set(
                    "_sip._tcp.example.test",
                    T::Srv,
                    "10 60 5060 sip.example.test.",
                ),
            },
            Change::Create {
                new: set("txt.example.test", T::Txt, "\"v=spf1 -all\""),
            },
            Change::Create {
                new: set("alias.example.test", T::Cname, "shop.example.net."),
            },
        ],
    )
    .await?;
    let mut dns = Dns::tcp(addr).await?;
    for (name, t) in [
        ("v6.example.test.", RecordType::AAAA),
        ("mail.example.test.", RecordType::MX),
        ("_sip._tcp.example.test.", RecordType::SRV),
        ("txt.example.test.", RecordType::TXT),
        ("alias.example.test.", RecordType::A),
    ] {
        let m = dns.query(name, t).await?;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert_eq!(m.answers.len(), 1, "{name}: {:?}", m.answers);
    }
    let m = dns.query("txt.example.test.", RecordType::TXT).await?;
    match m.answers.first().map(|r| &r.data) {
        Some(RData::TXT(txt)) => {
            let strings: Vec<&[u8]> = txt.txt_data.iter().map(|b| b.as_ref()).collect();
            assert_eq!(strings, vec![b"v=spf1 -all".as_slice()]);
        }
        other => return Err(format!("expected TXT, got {other:?}").into()),
    }
    // Read back returns the normalised text.
    let v6 = p
        .read(&fq("example.test"), &fq("v6.example.test"), T::Aaaa)
        .await?;
    assert_eq!(
        v6.first().map(|s| s.values.clone()),
        Some(vec!["2001:db8::1".to_string()])
    );
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn garbage_packets_do_not_kill_the_server() -> TestResult {
    let (p, addr) = started(config(&["example.test"])).await?;
    apply(
        &p,
        "example.test",
        vec![Change::Create {
            new: a_set("shop.example.test", 60, &["192.0.2.1"]),
        }],
    )
    .await?;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let mut seed: u32 = 12345;
    let mut packets: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff],
        vec![0; 11],
        vec![0xff; 12],
        // A header claiming 5 questions, then truncated.
        vec![
            0x12, 0x34, 0x01, 0x00, 0x00, 0x05, 0, 0, 0, 0, 0, 0, 3, b'w', b'w',
        ],
        // A compression pointer loop in the question name.
        vec![
            0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1,
        ],
    ];
    for len in [13usize, 40, 300, 1400] {
        let bytes = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect();
        packets.push(bytes);
    }
    for pkt in &packets {
        sock.send_to(pkt, addr).await?;
    }
    // Garbage over TCP as well: a length prefix followed by junk, then a closed connection.
    if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
        use tokio::io::AsyncWriteExt;
        let _ = s.write_all(&[0x00, 0x10, 0xde, 0xad, 0xbe, 0xef]).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let mut udp = Dns::udp(addr).await;
    let m = udp.query("shop.example.test.", RecordType::A).await?;
    assert_eq!(a_values(&m), vec!["192.0.2.1"]);
    let mut tcp = Dns::tcp(addr).await?;
    let m = tcp.query("shop.example.test.", RecordType::A).await?;
    assert_eq!(a_values(&m), vec!["192.0.2.1"]);
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn shutdown_closes_the_port_and_restart_works() -> TestResult {
    let (p, addr) = started(config(&["example.test"])).await?;
    assert!(p.start().await.is_err(), "a second start must fail");
    p.shutdown().await;
    assert_eq!(p.local_addr().await, None);
    // The TCP port is closed once shut down.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    let again = p.start().await?;
    let mut dns = Dns::udp(again).await;
    let m = dns.query("example.test.", RecordType::SOA).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn dropping_the_provider_stops_the_server() -> TestResult {
    let (p, addr) = started(config(&["example.test"])).await?;
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    drop(p);
    // The listener tasks are aborted on drop; give the runtime a moment to run the aborts.
    let mut closed = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed, "TCP port {addr} still open after drop");
    Ok(())
}
