//! Zone transfers and NOTIFY: the embedded server as a hidden primary behind real secondaries.
//!
//! - AXFR to a configured secondary's address with its TSIG key returns the whole zone (SOA
//!   first and last, several messages for a large zone, every message's TSIG verified by
//!   hickory's chained verifier, by `dig` and by dnspython's `dns.query.xfr`), and BIND's
//!   `named-checkzone` accepts the zone as dig wrote it;
//! - from any other address, without the key or with a wrong key: REFUSED / NOTAUTH;
//! - IXFR: the SOA alone when the secondary is current, the whole zone (AXFR-style, RFC 1995
//!   section 4) when it is not;
//! - NOTIFY after an apply: signed, AA, the zone's SOA, retried until answered;
//! - a BIND and a Knot secondary, started here on loopback, answer a failover applied through
//!   the `Provider` API within 1 s.

#[path = "transfer/peer.rs"]
mod peer;
mod support;

use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use data_encoding::BASE64;
use dnsfailback_provider::{Change, Provider, RecordSet, RecordType};
use dnsfailback_provider_embedded::{Config, EmbeddedProvider};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType as WireType, TSigner};
use peer::{free_port, Kind, Secondary, KEY};
use support::wire::{dnspython, parse_strict, udp};
use support::{a_set, apply, fq, Dns, Scratch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ZONE: &str = "example.test.";
/// Managed records added to make the zone span several transfer messages.
const BULK: usize = 3000;

fn random_secret() -> String {
    let mut buf = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .unwrap_or_else(|e| panic!("/dev/urandom: {e}"));
    BASE64.encode(&buf)
}

fn signer(secret: &str) -> TSigner {
    let bytes = BASE64
        .decode(secret.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let name = Name::from_ascii(KEY).unwrap_or_else(|e| panic!("{e}"));
    TSigner::new(bytes, TsigAlgorithm::HmacSha256, name, 300).unwrap_or_else(|e| panic!("{e}"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The embedded primary: MX, TXT and a mail host as static records, `www` (plain) and `shop`
/// (weighted blue/green) as managed sets; its secondaries are `secondaries` (ports on
/// 127.0.0.1) with the key in a BIND key file (as `tsig-keygen` writes it).
struct Primary {
    p: EmbeddedProvider,
    addr: SocketAddr,
    secret: String,
    _scratch: Scratch,
}

async fn primary(tag: &str, secondaries: &[u16]) -> Primary {
    let scratch = Scratch::new(tag).unwrap_or_else(|e| panic!("{e}"));
    let secret = random_secret();
    let key_file = scratch.file("transfer.key");
    std::fs::write(
        &key_file,
        format!("key \"{KEY}\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{secret}\";\n}};\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut text = String::from(
        "listen = \"127.0.0.1:0\"\nzones = [\"example.test\"]\n\
         [[records]]\nname = \"example.test\"\ntype = \"MX\"\nvalues = [\"10 mail.example.test.\"]\n\
         [[records]]\nname = \"example.test\"\ntype = \"TXT\"\nvalues = [\"\\\"v=spf1 mx -all\\\"\"]\n\
         [[records]]\nname = \"mail.example.test\"\ntype = \"A\"\nvalues = [\"192.0.2.25\"]\n",
    );
    for port in secondaries {
        text.push_str(&format!(
            "[[secondaries]]\naddress = \"127.0.0.1:{port}\"\ntsig = {{ key_name = \"{KEY}\", \
             algorithm = \"hmac-sha256\", secret = {{ file = \"{}\" }} }}\n",
            key_file.display()
        ));
    }
    let config: Config = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let p = EmbeddedProvider::new("local", config).unwrap_or_else(|e| panic!("{e}"));
    let addr = p.start().await.unwrap_or_else(|e| panic!("{e}"));
    let shop = |id: &str, ip: &str, w: u32| {
        RecordSet::weighted(
            fq("shop.example.test"),
            RecordType::A,
            30,
            vec![ip.into()],
            id,
            w,
        )
    };
    apply(
        &p,
        ZONE,
        vec![
            Change::Create {
                new: a_set("www.example.test", 60, &["192.0.2.1"]),
            },
            Change::Create {
                new: shop("blue", "192.0.2.10", 90),
            },
            Change::Create {
                new: shop("green", "192.0.2.11", 10),
            },
        ],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    Primary {
        p,
        addr,
        secret,
        _scratch: scratch,
    }
}

async fn serial(p: &EmbeddedProvider) -> u32 {
    p.soa(&fq(ZONE))
        .await
        .ok()
        .flatten()
        .map_or(0, |s| s.serial)
}

/// How a test request is signed and its answers checked.
struct Xfr<'a> {
    qtype: WireType,
    /// Source address of the TCP connection.
    from: Ipv4Addr,
    sign: Option<&'a TSigner>,
    /// Verify every answer's TSIG with hickory's chained verifier.
    verify: bool,
    /// IXFR: the serial the client claims to have.
    have: u32,
}

/// One zone transfer over TCP; returns the raw messages, read until the closing SOA, an error
/// RCODE, or (IXFR) a lone SOA.
async fn transfer(server: SocketAddr, x: Xfr<'_>) -> Result<Vec<Vec<u8>>, String> {
    let zone = Name::from_ascii(ZONE).map_err(|e| e.to_string())?;
    let mut msg = Message::query();
    msg.metadata.id = 4242;
    msg.add_query(Query::query(zone.clone(), x.qtype));
    if x.qtype == WireType::IXFR {
        let names = Name::from_ascii("x.").map_err(|e| e.to_string())?;
        let soa = SOA::new(names.clone(), names, x.have, 1, 1, 1, 1);
        msg.add_authority(Record::from_rdata(zone, 0, RData::SOA(soa)));
    }
    let mut verifier = match x.sign {
        Some(s) => msg.finalize(s, now()).map_err(|e| e.to_string())?,
        None => None,
    };
    let bytes = msg.to_vec().map_err(|e| e.to_string())?;
    let exchange = async {
        let sock = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        sock.bind(SocketAddr::from((x.from, 0)))
            .map_err(|e| format!("bind {}: {e}", x.from))?;
        let mut s = sock.connect(server).await.map_err(|e| e.to_string())?;
        s.write_all(&(bytes.len() as u16).to_be_bytes())
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(&bytes).await.map_err(|e| e.to_string())?;
        let mut frames = Vec::new();
        let mut soas = 0;
        loop {
            let n = s.read_u16().await.map_err(|e| format!("read: {e}"))?;
            let mut frame = vec![0u8; usize::from(n)];
            s.read_exact(&mut frame).await.map_err(|e| e.to_string())?;
            if x.verify {
                if let Some(v) = verifier.as_mut() {
                    v.verify(&frame)
                        .map_err(|e| format!("TSIG of message {}: {e}", frames.len() + 1))?;
                }
            }
            let m = parse_strict(&frame)?;
            soas += m
                .answers
                .iter()
                .filter(|r| r.record_type() == WireType::SOA)
                .count();
            let lone_soa = frames.is_empty() && m.answers.len() == 1 && soas == 1;
            frames.push(frame);
            if m.metadata.response_code != ResponseCode::NoError || soas >= 2 || lone_soa {
                return Ok(frames);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "transfer timed out".to_string())?
}

fn messages(frames: &[Vec<u8>]) -> Vec<Message> {
    frames
        .iter()
        .map(|f| parse_strict(f).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn records(frames: &[Vec<u8>]) -> Vec<Record> {
    messages(frames)
        .into_iter()
        .flat_map(|m| m.answers)
        .collect()
}

fn soa_serial(r: &Record) -> Option<u32> {
    match &r.data {
        RData::SOA(s) => Some(s.serial),
        _ => None,
    }
}

/// The zone as `dig` transfers it (every message's TSIG checked by dig), without TSIG lines.
fn dig_axfr(server: SocketAddr, secret: &str) -> String {
    let out = Command::new(peer::binary("dig"))
        .args([
            "@127.0.0.1",
            "-p",
            &server.port().to_string(),
            "-y",
            &format!("hmac-sha256:{KEY}:{secret}"),
            "example.test",
            "AXFR",
            "+nocmd",
            "+nostats",
        ])
        .output()
        .unwrap_or_else(|e| panic!("dig: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "dig failed: {text}");
    assert!(
        !text.contains("Couldn't verify") && !text.contains("failed") && !text.contains("tsig"),
        "dig did not accept the transfer: {text}"
    );
    text.lines()
        .filter(|l| !l.starts_with(';') && !l.split_whitespace().any(|w| w == "TSIG"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn axfr_is_the_whole_zone_signed_and_named_checkzone_accepts_it() {
    let pr = primary("axfr", &[free_port()]).await;
    let bulk: Vec<Change> = (0..BULK)
        .map(|i| Change::Create {
            new: a_set(
                &format!("host-{i:05}-with-a-long-label-for-size.example.test"),
                300,
                &[&format!("198.51.100.{}", i % 250 + 1)],
            ),
        })
        .collect();
    apply(&pr.p, ZONE, bulk)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let key = signer(&pr.secret);
    let x = Xfr {
        qtype: WireType::AXFR,
        from: Ipv4Addr::LOCALHOST,
        sign: Some(&key),
        verify: true,
        have: 0,
    };
    let frames = transfer(pr.addr, x).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        frames.len() >= 2,
        "{} messages for {BULK} records",
        frames.len()
    );
    assert!(frames.iter().all(|f| f.len() < 65535));
    for m in messages(&frames) {
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
    }
    let all = records(&frames);
    let s = serial(&pr.p).await;
    assert_eq!(all.first().and_then(soa_serial), Some(s), "SOA first");
    assert_eq!(all.last().and_then(soa_serial), Some(s), "SOA last");
    assert_eq!(all.iter().filter(|r| soa_serial(r).is_some()).count(), 2);
    let text: Vec<String> = all
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect();
    for want in [
        "example.test. NS ns1.example.test.",
        "ns1.example.test. A 127.0.0.1",
        "example.test. MX 10 mail.example.test.",
        "mail.example.test. A 192.0.2.25",
        "www.example.test. A 192.0.2.1",
        "shop.example.test. A 192.0.2.10",
        "shop.example.test. A 192.0.2.11",
    ] {
        assert!(text.iter().any(|t| t == want), "{want} missing");
    }
    // SOA, NS, ns1 A, MX, TXT, mail A, www, shop (2), the bulk, SOA.
    assert_eq!(all.len(), 10 + BULK);

    // dig and dnspython block: run them off the runtime the server answers on.
    let (addr, secret) = (pr.addr, pr.secret.clone());
    let zone_text = tokio::task::spawn_blocking(move || dig_axfr(addr, &secret))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = Scratch::new("axfr-zone").unwrap_or_else(|e| panic!("{e}"));
    let file = dir.file("example.test.zone");
    std::fs::write(&file, &zone_text).unwrap_or_else(|e| panic!("{e}"));
    let check = Command::new(peer::binary("named-checkzone"))
        .args(["-i", "full", "-k", "fail", "-n", "fail", "example.test"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("named-checkzone: {e}"));
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && out.contains(&format!("loaded serial {s}")),
        "named-checkzone refused the transferred zone: {out}{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let script = format!(
        "import json, dns.query, dns.zone, dns.tsigkeyring\n\
         kr = dns.tsigkeyring.from_text({{'{KEY}': '{}'}})\n\
         z = dns.zone.from_xfr(dns.query.xfr('127.0.0.1', 'example.test', port={}, keyring=kr, \
         keyname='{KEY}', keyalgorithm='hmac-sha256', lifetime=10, relativize=False), relativize=False)\n\
         n = sum(len(rds) for _, rds in z.iterate_rdatasets())\n\
         print(json.dumps({{'serial': z.get_soa().serial, 'rdatas': sum(len(rd) for _, rd in z.iterate_rdatasets())}}))\n",
        pr.secret,
        pr.addr.port()
    );
    let py = tokio::task::spawn_blocking(move || {
        Command::new(dnspython()).arg("-c").arg(&script).output()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|e| panic!("dnspython: {e}"));
    let out = String::from_utf8_lossy(&py.stdout);
    assert!(
        py.status.success(),
        "dnspython refused the transfer: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["serial"], s);
    // The zone holds one SOA.
    assert_eq!(v["rdatas"], 9 + BULK);
}

#[tokio::test]
async fn transfers_are_refused_to_other_addresses_and_without_the_key() {
    let pr = primary("refuse", &[free_port()]).await;
    let key = signer(&pr.secret);
    let wrong = signer(&random_secret());
    let s = serial(&pr.p).await;
    let rcode = |frames: &[Vec<u8>]| messages(frames)[0].metadata.response_code;
    let base = Xfr {
        qtype: WireType::AXFR,
        from: Ipv4Addr::LOCALHOST,
        sign: Some(&key),
        verify: true,
        have: 0,
    };

    // Right key, wrong address (127.0.0.2 is not a secondary): REFUSED, signed.
    let x = Xfr {
        from: Ipv4Addr::new(127, 0, 0, 2),
        ..base
    };
    let f = transfer(pr.addr, x).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rcode(&f), ResponseCode::Refused);
    assert!(records(&f).is_empty());
    // Right address, unsigned: REFUSED.
    let x = Xfr { sign: None, ..base };
    let f = transfer(pr.addr, x).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rcode(&f), ResponseCode::Refused);
    // Right address and key name, wrong secret: NOTAUTH with an unsigned BADSIG TSIG.
    let x = Xfr {
        sign: Some(&wrong),
        verify: false,
        ..base
    };
    let f = transfer(pr.addr, x).await.unwrap_or_else(|e| panic!("{e}"));
    let m = &messages(&f)[0];
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth);
    let tsig = m.signature().unwrap_or_else(|| panic!("no TSIG in {m:?}"));
    assert_eq!(tsig.data.error, Some(TsigError::BadSig));
    assert!(tsig.data.mac.is_empty());
    // AXFR over UDP: REFUSED (RFC 5936 section 4.2).
    let mut q = Message::query();
    q.add_query(Query::query(
        Name::from_ascii(ZONE).unwrap_or_else(|e| panic!("{e}")),
        WireType::AXFR,
    ));
    let _ = q.finalize(&key, now());
    let reply = udp(pr.addr, &q.to_vec().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        parse_strict(&reply).map(|m| m.metadata.response_code),
        Ok(ResponseCode::Refused)
    );

    // IXFR from a current secondary: the SOA alone; from an older one: the whole zone,
    // AXFR-style (the second record is not an SOA).
    let x = Xfr {
        qtype: WireType::IXFR,
        have: s,
        ..base
    };
    let f = transfer(pr.addr, x).await.unwrap_or_else(|e| panic!("{e}"));
    let all = records(&f);
    assert_eq!(all.len(), 1);
    assert_eq!(soa_serial(&all[0]), Some(s));
    let x = Xfr {
        qtype: WireType::IXFR,
        have: s - 1,
        ..base
    };
    let all = records(&transfer(pr.addr, x).await.unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(all.len(), 10);
    assert_eq!(all[1].record_type(), WireType::NS);
    assert_eq!(all.last().and_then(soa_serial), Some(s));
}

#[tokio::test]
async fn notify_is_signed_sent_after_each_change_and_retried_until_answered() {
    let fake = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = fake.local_addr().map(|a| a.port()).unwrap_or(0);
    let pr = primary("notify", &[port]).await;
    let key = signer(&pr.secret);
    let mut buf = vec![0u8; 4096];
    // Read until a NOTIFY carrying the serial after the next change arrives; the start-up and
    // first apply's notifies may be queued first.
    let before = serial(&pr.p).await;
    let old = a_set("www.example.test", 60, &["192.0.2.1"]);
    let new = a_set("www.example.test", 60, &["192.0.2.2"]);
    apply(&pr.p, ZONE, vec![Change::Update { old, new }])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut attempts = 0;
    let limit = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (n, from) = tokio::time::timeout_at(limit, fake.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no NOTIFY for serial {} (got {attempts})", before + 1))
            .unwrap_or_else(|e| panic!("{e}"));
        let m = parse_strict(&buf[..n]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.metadata.op_code, OpCode::Notify);
        assert!(m.metadata.authoritative);
        assert_eq!(m.queries[0].query_type(), WireType::SOA);
        assert_eq!(m.queries[0].name().to_ascii(), ZONE);
        let tsig = m.signature().unwrap_or_else(|| panic!("NOTIFY not signed"));
        assert_eq!(tsig.name, *key.signer_name());
        key.verify_message_byte(&buf[..n], None, true)
            .unwrap_or_else(|e| panic!("NOTIFY signature: {e}"));
        if m.answers.first().and_then(soa_serial) != Some(before + 1) {
            continue;
        }
        attempts += 1;
        if attempts < 2 {
            // Stay silent once: the primary must try again.
            continue;
        }
        let mut ack = Message::new(m.metadata.id, MessageType::Response, OpCode::Notify);
        ack.metadata.authoritative = true;
        ack.add_query(m.queries[0].clone());
        let bytes = ack.to_vec().unwrap_or_else(|e| panic!("{e}"));
        fake.send_to(&bytes, from)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        break;
    }
    // Answered: no further attempt for this serial within the retry window.
    let quiet = tokio::time::timeout(Duration::from_millis(2500), async {
        loop {
            let Ok((n, _)) = fake.recv_from(&mut buf).await else {
                return;
            };
            let m = parse_strict(&buf[..n]).ok();
            if m.and_then(|m| m.answers.first().and_then(soa_serial)) == Some(before + 1) {
                return;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "NOTIFY repeated after it was answered");
}

/// Polls `dns` for `www` until it answers exactly `want`, for at most `limit`.
async fn wait_for(dns: &mut Dns, want: &str, limit: Duration) -> bool {
    let start = tokio::time::Instant::now();
    while start.elapsed() < limit {
        if let Ok(m) = dns.query("www.example.test.", WireType::A).await {
            if support::a_values(&m) == [want] {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Applies a failover of `www` to the backup address and returns how long the secondary took
/// to answer it (from the start of the apply).
async fn failover_reaches(kind: Kind) -> Duration {
    let port = free_port();
    let pr = primary(&format!("{kind:?}").to_lowercase(), &[port]).await;
    let dir = Scratch::new(&format!("{kind:?}-secondary").to_lowercase())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut sec = Secondary::start(kind, port, pr.addr, &pr.secret, &dir.0);
    let mut dns = Dns::udp(sec.addr).await;
    if !wait_for(&mut dns, "192.0.2.1", Duration::from_secs(20)).await {
        let running = sec.check_running();
        panic!(
            "{kind:?} secondary did not load the zone ({running:?}): {}",
            sec.log()
        );
    }
    // Let the NOTIFYs of the start-up and the first apply (sent while the secondary was still
    // starting, so retried) run out, so only the failover's exchange is measured.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let old = a_set("www.example.test", 60, &["192.0.2.1"]);
    let new = a_set("www.example.test", 60, &["192.0.2.2"]);
    let start = tokio::time::Instant::now();
    apply(&pr.p, ZONE, vec![Change::Update { old, new }])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let seen = wait_for(&mut dns, "192.0.2.2", Duration::from_secs(5)).await;
    let took = start.elapsed();
    assert!(
        seen,
        "{kind:?} secondary never answered the failover: {}",
        sec.log()
    );
    println!(
        "{kind:?} secondary answered the failover {} ms after the apply",
        took.as_millis()
    );
    if std::env::var_os("TRANSFER_SHOW_LOG").is_some() {
        println!("{}", sec.log());
    }
    took
}

#[tokio::test]
async fn a_bind_secondary_answers_a_failover_within_a_second() {
    let took = failover_reaches(Kind::Bind).await;
    assert!(took < Duration::from_secs(1), "BIND took {took:?}");
}

#[tokio::test]
async fn a_knot_secondary_answers_a_failover_within_a_second() {
    let took = failover_reaches(Kind::Knot).await;
    assert!(took < Duration::from_secs(1), "Knot took {took:?}");
}
