//! Chaos (issue 17): fuzzing with proptest. Valid samples (the example configurations, real
//! Route 53 and Cloudflare responses, DNS queries) are mutated (truncated, cut, spliced with
//! tokens that break the grammar, numbers replaced by extremes) and fed to
//! * the config parser: never a panic; a rejected file names a place (line or key) in each error;
//! * the Route 53 adapter's XML parsing (every call, through a transport that answers the
//!   mutated body with a random status): never a panic;
//! * the Cloudflare adapter's JSON parsing (through a loopback HTTP server): never a panic;
//! * the embedded DNS server (the real binary, UDP): it survives and still answers.
//!
//! Bounded by `PROPTEST_CASES` (default 256, as proptest's own default; `scripts/chaos.sh`
//! raises it in the long form).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dnsfailback_provider::{Change, ChangeSet, Fqdn, Provider, RecordSet, RecordType};
use dnsfailback_provider_route53::client::{HttpRequest, HttpResponse, Transport, TransportError};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Tokens that break XML, JSON, TOML and numbers in interesting ways.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "<",
    ">",
    "</",
    "/>",
    "{",
    "}",
    "[",
    "]",
    "[[",
    "]]",
    ",",
    ":",
    "=",
    "\n",
    "\\",
    "null",
    "true",
    "-1",
    "0",
    "1e309",
    "18446744073709551616",
    "-9223372036854775809",
    "\u{0}",
    "\u{feff}",
    "é",
    "💥",
    "&amp;",
    "&#0;",
    "<![CDATA[",
    "]]>",
    "\"\"\"",
    "'''",
    "</ResourceRecordSet>",
    "<Value>",
    "<TTL>",
    "\"result\":",
    "\"ttl\":",
    "\"content\":",
    "ttl = ",
    "[services.x]",
    "priority = ",
    "interval = \"0s\"",
    "\"1h\"",
    ".",
    "..",
];

/// One edit of a sample.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Delete(usize, usize),
    Insert(usize, usize),
    Number(usize, u64),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        (any::<usize>(), any::<u64>()).prop_map(|(a, n)| Mutation::Number(a, n)),
        (any::<usize>(), 0usize..200).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
    ]
}

/// Applies `edits` to `sample` on bytes (so invalid UTF-8 can appear), positions modulo length.
fn mutate(sample: &str, edits: &[Mutation]) -> Vec<u8> {
    let mut b = sample.as_bytes().to_vec();
    for m in edits {
        let at = |p: usize, b: &Vec<u8>| if b.is_empty() { 0 } else { p % (b.len() + 1) };
        match *m {
            Mutation::Truncate(p) => {
                let p = at(p, &b);
                b.truncate(p);
            }
            Mutation::Delete(p, n) => {
                let p = at(p, &b);
                let end = (p + n).min(b.len());
                b.drain(p..end);
            }
            Mutation::Insert(p, t) => {
                let p = at(p, &b);
                b.splice(p..p, TOKENS[t].bytes());
            }
            Mutation::Number(p, n) => {
                // The next run of digits from `p` becomes `n`.
                let p = at(p, &b);
                if let Some(s) = (p..b.len()).find(|&i| b[i].is_ascii_digit()) {
                    let e = (s..b.len())
                        .find(|&i| !b[i].is_ascii_digit())
                        .unwrap_or(b.len());
                    b.splice(s..e, n.to_string().bytes());
                }
            }
            Mutation::Duplicate(p, n) => {
                let p = at(p, &b);
                let end = (p + n).min(b.len());
                let piece = b[p..end].to_vec();
                b.splice(p..p, piece);
            }
        }
    }
    b
}

fn edits() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..6)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn fq(s: &str) -> Fqdn {
    Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
}

fn a_set(name: &str) -> RecordSet {
    RecordSet {
        name: fq(name),
        rtype: RecordType::A,
        ttl: 60,
        values: vec!["192.0.2.1".into()],
        weight: None,
        set_id: None,
        meta: Default::default(),
    }
}

fn example(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

// ---- the config parser ----

fn config_samples() -> Vec<String> {
    let dir = Path::new("/tmp/fuzz");
    vec![
        example("quickstart.toml"),
        example("route53.toml"),
        example("cloudflare.toml"),
        example("rfc2136.toml"),
        crate::harness::config(
            dir,
            "127.0.0.1:8080".parse().unwrap_or_else(|e| panic!("{e}")),
            "127.0.0.1:8081".parse().unwrap_or_else(|e| panic!("{e}")),
            "",
        ),
    ]
}

proptest! {
    #[test]
    fn chaos_fuzz_config_parser_never_panics_and_names_a_place(
        which in 0usize..5,
        e in edits(),
    ) {
        let samples = config_samples();
        let text = String::from_utf8_lossy(&mutate(&samples[which], &e)).into_owned();
        if let Err(err) = dnsfailback::config::validate::parse(Path::new("fuzz.toml"), &text) {
            let errors: Vec<_> = err.errors().collect();
            prop_assert!(!errors.is_empty(), "rejected without an error: {err}");
            for p in errors {
                prop_assert!(
                    p.line.is_some() || !p.path.is_empty(),
                    "an error without a place: {p:?}\n--- input ---\n{text}"
                );
            }
        }
    }
}

// ---- Route 53 XML ----

const R53_LIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ResourceRecordSets><ResourceRecordSet><Name>www.example.test.</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet><ResourceRecordSet><Name>w.example.test.</Name><Type>A</Type><SetIdentifier>primary</SetIdentifier><Weight>50</Weight><TTL>30</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.2</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></ResourceRecordSets><IsTruncated>true</IsTruncated><NextRecordName>x.example.test.</NextRecordName><NextRecordType>A</NextRecordType><MaxItems>300</MaxItems></ListResourceRecordSetsResponse>"#;
const R53_CHANGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeInfo><Id>/change/C1FAKE</Id><Status>PENDING</Status><SubmittedAt>2026-11-25T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>"#;
const R53_ERROR: &str = r#"<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>[Tried to delete resource record set [name='www.example.test.', type='A'] but it was not found]</Message></Error><RequestId>r1</RequestId></ErrorResponse>"#;
const R53_ZONES: &str = r#"<?xml version="1.0" encoding="UTF-8"?><ListHostedZonesByNameResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><HostedZones><HostedZone><Id>/hostedzone/ZFUZZ</Id><Name>example.test.</Name><CallerReference>c</CallerReference><Config><PrivateZone>false</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone></HostedZones><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListHostedZonesByNameResponse>"#;

/// Answers every request with the same (status, body): the body under test.
struct Canned(Mutex<(u16, String)>);

#[async_trait]
impl Transport for Canned {
    async fn send(&self, _req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let (status, body) = self.0.lock().map(|g| g.clone()).unwrap_or_default();
        Ok(HttpResponse {
            status,
            headers: vec![("x-amzn-requestid".into(), "fuzz".into())],
            body,
        })
    }
}

const STATUSES: [u16; 7] = [200, 200, 200, 400, 403, 429, 503];

proptest! {
    #[test]
    fn chaos_fuzz_route53_responses_never_panic(
        which in 0usize..4,
        status in 0usize..STATUSES.len(),
        with_zone_id in any::<bool>(),
        e in edits(),
    ) {
        let sample = [R53_LIST, R53_CHANGE, R53_ERROR, R53_ZONES][which];
        let body = String::from_utf8_lossy(&mutate(sample, &e)).into_owned();
        let canned = Arc::new(Canned(Mutex::new((STATUSES[status], body))));
        let cfg = dnsfailback_provider_route53::Config {
            max_retries: 0,
            ..dnsfailback_provider_route53::testkit::test_config(
                "https://route53.amazonaws.com",
                with_zone_id.then_some("ZFUZZ"),
            )
        };
        let p = dnsfailback_provider_route53::Route53Provider::with_transport(
            "r53",
            cfg,
            &dnsfailback_provider_route53::testkit::test_env(),
            canned,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let calls = async {
            let zone = fq("example.test");
            let _ = p.read(&zone, &fq("www.example.test"), RecordType::A).await;
            let _ = p.read_zone(&zone).await;
            let changes = ChangeSet {
                zone: zone.clone(),
                changes: vec![Change::Create { new: a_set("www.example.test") }],
            };
            if let Ok(receipt) = p.apply(&changes).await {
                let _ = p.sync_status(&receipt).await;
            }
        };
        let done = runtime().block_on(async {
            tokio::time::timeout(Duration::from_secs(5), calls).await.is_ok()
        });
        prop_assert!(done, "the adapter hung (over 5 s) on status {}", STATUSES[status]);
    }
}

// ---- Cloudflare JSON ----

const CF_LIST: &str = r#"{"success":true,"errors":[],"messages":[],"result":[{"id":"372e67954025e0ba6aaa6d586b9e0b59","type":"A","name":"www.example.test","content":"192.0.2.1","ttl":60,"proxied":false,"comment":null,"tags":[]},{"id":"372e67954025e0ba6aaa6d586b9e0b5a","type":"TXT","name":"www.example.test","content":"\"v=spf1 -all\"","ttl":1,"proxied":false}],"result_info":{"page":1,"per_page":100,"count":2,"total_count":2,"total_pages":1}}"#;
const CF_BATCH: &str = r#"{"success":true,"errors":[],"messages":[],"result":{"deletes":[{"id":"372e67954025e0ba6aaa6d586b9e0b59","type":"A","name":"www.example.test","content":"192.0.2.1","ttl":60}],"posts":[{"id":"372e67954025e0ba6aaa6d586b9e0b5b","type":"A","name":"www.example.test","content":"192.0.2.2","ttl":60}],"patches":[],"puts":[]}}"#;
const CF_ERROR: &str = r#"{"success":false,"errors":[{"code":81058,"message":"An identical record already exists."}],"messages":[],"result":null}"#;
const CF_ZONES: &str = r#"{"success":true,"errors":[],"messages":[],"result":[{"id":"023e105f4ecef8ad9ca31a8372d0c353","name":"example.test","status":"active"}],"result_info":{"page":1,"per_page":20,"count":1,"total_count":1,"total_pages":1}}"#;

/// A loopback HTTP server that answers every request with the current (status, body).
async fn canned_http(state: Arc<Mutex<(u16, Vec<u8>)>>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                // Read the head and whatever body arrives with it (requests here are small).
                while let Ok(n) = sock.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..p]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if got.len() >= p + 4 + len {
                            break;
                        }
                    }
                }
                let (status, body) = state.lock().map(|g| g.clone()).unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), task)
}

#[test]
fn chaos_fuzz_cloudflare_responses_never_panic() {
    let rt = runtime();
    let state: Arc<Mutex<(u16, Vec<u8>)>> = Arc::new(Mutex::new((200, Vec::new())));
    let (base, server) = rt.block_on(canned_http(state.clone()));
    let mut cfg: dnsfailback_provider_cloudflare::Config = serde_json::from_value(
        serde_json::json!({"api_token": {"env": "CF_FUZZ_TOKEN"}, "base_url": base,
                           "max_retries": 0, "timeout": "2s",
                           "requests_per_5min": 1_000_000}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let token = dnsfailback_provider::Secret::new("fuzz-token");
    let with_id = {
        cfg.zone_id = Some("023e105f4ecef8ad9ca31a8372d0c353".into());
        dnsfailback_provider_cloudflare::CloudflareProvider::with_token(
            "cf",
            cfg.clone(),
            token.clone(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    cfg.zone_id = None;
    let by_name = dnsfailback_provider_cloudflare::CloudflareProvider::with_token("cf", cfg, token)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut runner = proptest::test_runner::TestRunner::default();
    let strategy = (0usize..4, 0usize..STATUSES.len(), any::<bool>(), edits());
    let result = runner.run(&strategy, |(which, status, named, e)| {
        let sample = [CF_LIST, CF_BATCH, CF_ERROR, CF_ZONES][which];
        if let Ok(mut g) = state.lock() {
            *g = (STATUSES[status], mutate(sample, &e));
        }
        let p = if named { &by_name } else { &with_id };
        rt.block_on(async {
            let zone = fq("example.test");
            let _ = p.read(&zone, &fq("www.example.test"), RecordType::A).await;
            let _ = p.read_zone(&zone).await;
            let changes = ChangeSet {
                zone: zone.clone(),
                changes: vec![Change::Create {
                    new: a_set("www.example.test"),
                }],
            };
            let _ = p.apply(&changes).await;
        });
        Ok(())
    });
    server.abort();
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---- DNS messages into the embedded server ----

/// A valid query for shop.example.test A (id 0x1234, RD).
fn dns_query() -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["shop", "example", "test"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_fuzz_dns_messages_into_the_embedded_server_never_kill_it() {
    let dir = crate::harness::Scratch::new("chaos-fuzz-dns");
    let (_primary, _backup, cfg) = crate::harness::shop_files(&dir).await;
    let mut proc = crate::harness::Proc::start(&cfg, &[]);
    let dns = proc.dns_addr();
    crate::harness::wait_dns(dns, Duration::from_secs(20), "an answer", |a| {
        !a.values.is_empty()
    })
    .await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Mutations of a valid query on bytes: flips, cuts, extensions, compression pointers.
    let cases: usize = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let mut runner = proptest::test_runner::TestRunner::default();
    let strategy = (
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        any::<usize>(),
        proptest::collection::vec(any::<u8>(), 0..64),
    );
    let base = dns_query();
    let mut answered = 0usize;
    for _ in 0..cases {
        let tree = strategy
            .new_tree(&mut runner)
            .unwrap_or_else(|e| panic!("{e}"));
        let (flips, cut, tail) = proptest::strategy::ValueTree::current(&tree);
        let mut msg = base.clone();
        for (at, byte) in flips {
            let i = at % msg.len();
            msg[i] = byte;
        }
        msg.truncate(cut % (msg.len() + 1));
        msg.extend_from_slice(&tail);
        let _ = sock.send_to(&msg, dns).await;
        let mut buf = [0u8; 4096];
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(20), sock.recv_from(&mut buf)).await
        {
            answered += 1;
        }
    }
    assert!(proc.alive(), "the embedded server died on a fuzzed message");
    let a = crate::harness::wait_dns(
        dns,
        Duration::from_secs(5),
        "an answer after the fuzz",
        |a| !a.values.is_empty(),
    )
    .await;
    assert_eq!(a.values, ["127.0.0.11"], "{a:?}");
    eprintln!("chaos-fuzz-dns: {cases} fuzzed messages, {answered} answered, server alive");
}
