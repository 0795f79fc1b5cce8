//! Tests of the Cloudflare adapter against Cloudflare's published OpenAPI schema (Prism) and
//! against a stateful fake (state, pagination, batch, 429 with Retry-After, 5xx, error bodies).
//!
//! Prism and the schema are required: a missing one fails the test naming the fix
//! (`scripts/install-test-deps.sh`, `../shared/testdata/cloudflare-dns-openapi.json`).

mod support;

use std::time::{Duration, Instant};

use dnsfailback_provider::testkit::run_conformance;
use dnsfailback_provider::{
    Change, ChangeSet, ErrorKind, Fqdn, Provider, RecordSet, RecordType, Secret, SecretSource,
};
use dnsfailback_provider_cloudflare::request::{plan_changes, record_body, CfRecord, Current};
use dnsfailback_provider_cloudflare::{CloudflareProvider, Config};
use serde_json::{json, Value};
use support::fake::Fake;
use support::prism::{self, Prism};

const TOKEN: &str = "cfTestToken-7Hq2pX9vLsW3";
const ZONE_ID: &str = "0123456789abcdef0123456789abcdef";
/// The id in the schema's examples (what Prism's mock answers with).
const EXAMPLE_ID: &str = "023e105f4ecef8ad9ca31a8372d0c353";

fn fq(s: &str) -> Fqdn {
    Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
}

fn config(base: &str) -> Config {
    let mut c = Config::new(SecretSource {
        env: Some("UNUSED_IN_TESTS".into()),
        file: None,
    });
    c.base_url = base.to_string();
    c.requests_per_5min = 100_000;
    c
}

fn provider(cfg: Config) -> CloudflareProvider {
    CloudflareProvider::with_token("cf", cfg, Secret::new(TOKEN))
        .unwrap_or_else(|e| panic!("provider: {e}"))
}

fn set(name: &str, rtype: RecordType, ttl: u32, values: &[&str]) -> RecordSet {
    RecordSet::new(
        fq(name),
        rtype,
        ttl,
        values.iter().map(|v| v.to_string()).collect(),
    )
}

fn a_record(name: &str, content: &str, ttl: u32, proxied: bool) -> Value {
    json!({"type": "A", "name": name, "content": content, "ttl": ttl, "proxied": proxied})
}

// ---------------------------------------------------------------------------------------
// Schema checks: Prism in mock mode with --errors answers 422 + sl-violations to any request
// that does not match Cloudflare's schema; the client turns that into an Invalid error that
// quotes the violations, so `Ok` means "schema-valid".
// ---------------------------------------------------------------------------------------

fn cf(id: &str, rtype: &str, name: &str, content: &str, ttl: f64, proxied: bool) -> CfRecord {
    CfRecord {
        id: id.into(),
        rtype: rtype.into(),
        name: name.into(),
        content: Some(content.into()),
        ttl: Some(ttl),
        proxied: Some(proxied),
        priority: None,
        data: None,
    }
}

/// A change set touching every record type the adapter writes, and the records it replaces,
/// so the batch body holds deletes, patches (value, TTL, proxied) and posts of each type.
fn every_kind_of_change() -> (ChangeSet, Current) {
    let mut current = Current::new();
    let mut put = |name: &str, t: RecordType, recs: Vec<CfRecord>| {
        current.insert((fq(name), t), recs);
    };
    put(
        "www.example.com",
        RecordType::A,
        vec![
            cf("a1", "A", "www.example.com", "192.0.2.1", 1.0, true),
            cf("a2", "A", "www.example.com", "192.0.2.2", 1.0, true),
        ],
    );
    put(
        "v6.example.com",
        RecordType::Aaaa,
        vec![cf(
            "q1",
            "AAAA",
            "v6.example.com",
            "2001:db8::1",
            300.0,
            false,
        )],
    );
    put(
        "alias.example.com",
        RecordType::Cname,
        vec![cf(
            "c1",
            "CNAME",
            "alias.example.com",
            "old.example.net",
            300.0,
            false,
        )],
    );
    let mut mx = cf(
        "m1",
        "MX",
        "example.com",
        "mail1.example.com",
        3600.0,
        false,
    );
    mx.priority = Some(10.0);
    put("example.com", RecordType::Mx, vec![mx]);
    put(
        "old.example.com",
        RecordType::Txt,
        vec![cf(
            "t1",
            "TXT",
            "old.example.com",
            "v=spf1 -all",
            300.0,
            false,
        )],
    );

    let mut www_old = set(
        "www.example.com",
        RecordType::A,
        300,
        &["192.0.2.1", "192.0.2.2"],
    );
    www_old.meta.insert("ttl".into(), "auto".into());
    www_old.meta.insert("proxied".into(), "true".into());
    let mut www_new = set(
        "www.example.com",
        RecordType::A,
        60,
        &["192.0.2.1", "198.51.100.7"],
    );
    www_new.meta.insert("proxied".into(), "false".into());
    let mut srv = set(
        "_sip._tcp.example.com",
        RecordType::Srv,
        300,
        &["10 5 5060 sip.example.com."],
    );
    srv.meta.insert("ttl".into(), "auto".into());
    let changes = vec![
        Change::Update {
            old: www_old,
            new: www_new,
        },
        Change::Update {
            old: set("v6.example.com", RecordType::Aaaa, 300, &["2001:db8::1"]),
            new: set(
                "v6.example.com",
                RecordType::Aaaa,
                60,
                &["2001:db8::2", "2001:db8::3"],
            ),
        },
        Change::Update {
            old: set(
                "alias.example.com",
                RecordType::Cname,
                300,
                &["old.example.net."],
            ),
            new: set(
                "alias.example.com",
                RecordType::Cname,
                120,
                &["new.example.net."],
            ),
        },
        Change::Update {
            old: set(
                "example.com",
                RecordType::Mx,
                3600,
                &["10 mail1.example.com."],
            ),
            new: set(
                "example.com",
                RecordType::Mx,
                3600,
                &["20 mail2.example.com."],
            ),
        },
        Change::Delete {
            old: set("old.example.com", RecordType::Txt, 300, &["v=spf1 -all"]),
        },
        Change::Create { new: srv },
        Change::Create {
            new: set("new.example.com", RecordType::Txt, 300, &["hello world"]),
        },
    ];
    (
        ChangeSet {
            zone: fq("example.com"),
            changes,
        },
        current,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prism_mock_accepts_every_request_kind_the_adapter_sends() {
    if !prism::schema_present_or_skip("prism_mock_accepts_every_request_kind_the_adapter_sends") {
        return;
    }
    let prism = Prism::mock();
    let mut cfg = config(&prism.url());
    cfg.zone_id = Some(EXAMPLE_ID.into());
    let p = provider(cfg);
    let client = p.client();
    let zone = fq("example.com");
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        panic!(
            "{what} was rejected by Prism: {e}\nPrism log:\n{}",
            prism.log_text()
        )
    };

    // Zone lookup by name, zone details.
    match client.find_zone(&zone).await {
        Ok(id) => assert_eq!(id, EXAMPLE_ID),
        Err(e) => fail("GET /zones?name=", &e),
    }
    if let Err(e) = client.zone_name(EXAMPLE_ID).await {
        fail("GET /zones/{id}", &e);
    }
    // Lists: by name and type (what read and apply send), and the whole zone (read_zone).
    if let Err(e) = client
        .list_records(
            EXAMPLE_ID,
            Some(&fq("www.example.com")),
            Some(RecordType::A),
            100,
        )
        .await
    {
        fail("GET dns_records?name=&type=", &e);
    }
    for t in [
        RecordType::Aaaa,
        RecordType::Cname,
        RecordType::Mx,
        RecordType::Srv,
        RecordType::Txt,
    ] {
        if let Err(e) = client
            .list_records(EXAMPLE_ID, Some(&zone), Some(t), 5)
            .await
        {
            fail(&format!("GET dns_records?type={t}"), &e);
        }
    }
    if let Err(e) = client.list_records(EXAMPLE_ID, None, None, 100).await {
        fail("GET dns_records", &e);
    }
    // The provider's own read and read_zone paths.
    if let Err(e) = p.read(&zone, &fq("www.example.com"), RecordType::A).await {
        fail("provider read", &e);
    }
    if let Err(e) = p.read_zone(&zone).await {
        fail("provider read_zone", &e);
    }

    // The batch body for a change set touching every type: deletes, patches, posts.
    let (changes, current) = every_kind_of_change();
    let plan = plan_changes(&changes, &current).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(!plan.deletes.is_empty() && !plan.patches.is_empty() && !plan.posts.is_empty());
    let body = plan.to_batch_body();
    if let Err(e) = client.batch(EXAMPLE_ID, &body).await {
        fail(&format!("POST dns_records/batch {body}"), &e);
    }
    // The same operations one request at a time (batch = false), plus PUT of every type.
    for (id, fields) in &plan.patches {
        if let Err(e) = client.patch_record(EXAMPLE_ID, id, fields).await {
            fail(&format!("PATCH {}", Value::Object(fields.clone())), &e);
        }
    }
    for post in &plan.posts {
        if let Err(e) = client.create_record(EXAMPLE_ID, post).await {
            fail(&format!("POST {}", Value::Object(post.clone())), &e);
        }
    }
    for id in &plan.deletes {
        if let Err(e) = client.delete_record(EXAMPLE_ID, id).await {
            fail("DELETE", &e);
        }
    }
    let mut all_types = changes
        .changes
        .iter()
        .filter_map(|c| c.after().cloned())
        .collect::<Vec<_>>();
    all_types.push(set(
        "example.com",
        RecordType::Mx,
        60,
        &["5 mx.example.com."],
    ));
    for s in &all_types {
        for v in &s.values {
            let body = record_body(s, v).unwrap_or_else(|e| panic!("{e}"));
            if let Err(e) = client.put_record(EXAMPLE_ID, EXAMPLE_ID, &body).await {
                fail(&format!("PUT {}", Value::Object(body.clone())), &e);
            }
            if let Err(e) = client.create_record(EXAMPLE_ID, &body).await {
                fail(&format!("POST {}", Value::Object(body.clone())), &e);
            }
        }
    }
    // The provider's apply path end to end (Prism's lists never contain our names, so this
    // is a pure create batch).
    let create = ChangeSet {
        zone: zone.clone(),
        changes: vec![Change::Create {
            new: set("canary.example.com", RecordType::A, 60, &["192.0.2.44"]),
        }],
    };
    if let Err(e) = p.apply(&create).await {
        fail("provider apply", &e);
    }

    // Negative control: Prism really validates. A bad A record body is rejected with 422,
    // and the client's error quotes the schema violation.
    let mut bad = serde_json::Map::new();
    bad.insert("type".into(), json!("A"));
    bad.insert("name".into(), json!("bad.example.com"));
    bad.insert("content".into(), json!("not-an-ip"));
    let err = client.create_record(EXAMPLE_ID, &bad).await.err();
    let msg = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.contains("HTTP 422") && msg.contains("sl-violations"),
        "{msg}"
    );
    assert_eq!(err.map(|e| e.kind), Some(ErrorKind::Invalid));
}

// ---------------------------------------------------------------------------------------
// Prism in proxy mode in front of the fake: the adapter's requests and the fake's answers are
// both checked against the schema while the conformance suite runs.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_through_prism_proxy_in_front_of_the_fake() {
    if !prism::schema_present_or_skip("conformance_through_prism_proxy_in_front_of_the_fake") {
        return;
    }
    let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
    let prism = Prism::proxy(&fake.url());
    let mut cfg = config(&prism.url());
    cfg.per_page = 2;
    let p = provider(cfg);
    let zone = fq("example.com");

    let report = match run_conformance(&p, &zone, "conf").await {
        Ok(r) => r,
        Err(e) => panic!("{e}\nPrism log:\n{}", prism.log_text()),
    };
    assert_eq!(report.passed.len(), 9, "{report:?}");
    assert_eq!(
        report.skipped,
        vec![("weighted", "capabilities().weighted is false")]
    );

    // Pagination through Prism: five records under one name, two per page.
    for i in 1..=5 {
        fake.seed(
            ZONE_ID,
            a_record("multi.example.com", &format!("192.0.2.{i}"), 300, false),
        );
    }
    let sets = p.read(&zone, &fq("multi.example.com"), RecordType::A).await;
    let sets = sets.unwrap_or_else(|e| panic!("{e}\nPrism log:\n{}", prism.log_text()));
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].values.len(), 5);
    let all = p.read_zone(&zone).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(all.iter().any(|s| s.name == fq("multi.example.com")));

    let seen = fake.seen();
    assert!(seen
        .iter()
        .any(|s| s.path == "/zones"
            && s.query.get("name").map(String::as_str) == Some("example.com")));
    assert!(seen.iter().any(|s| s.path.ends_with("/dns_records/batch")));
    assert!(seen
        .iter()
        .any(|s| s.query.get("page").map(String::as_str) == Some("3")));
    // Every request reached the fake with the token, and nothing was rejected by Prism.
    assert!(seen
        .iter()
        .all(|s| s.authorization == format!("Bearer {TOKEN}")));
    assert!(
        !prism.log_text().contains("UNPROCESSABLE"),
        "{}",
        prism.log_text()
    );
}

// ---------------------------------------------------------------------------------------
// Behaviour against the fake directly (fast; fault injection).
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_against_the_fake_in_batch_and_one_by_one_modes() {
    for batch in [true, false] {
        let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
        let mut cfg = config(&fake.url());
        cfg.batch = batch;
        let p = provider(cfg);
        assert_eq!(p.capabilities().atomic_batch, batch);
        let report = run_conformance(&p, &fq("example.com"), "conf").await;
        let report = report.unwrap_or_else(|e| panic!("batch={batch}: {e}"));
        // One request per record cannot be all-or-nothing when cancelled: skipped, declared.
        let expected_passed = if batch { 9 } else { 8 };
        assert_eq!(report.passed.len(), expected_passed, "{report:?}");
        let seen = fake.seen();
        let batches: Vec<_> = seen.iter().filter(|s| s.path.ends_with("/batch")).collect();
        assert_eq!(!batches.is_empty(), batch, "batch={batch}");
        // The first batch is conformance's "create": two posts and nothing else.
        if let Some(first) = batches.first() {
            let posts = first
                .body
                .get("posts")
                .and_then(Value::as_array)
                .map(Vec::len);
            assert_eq!(posts, Some(2), "{}", first.body);
            assert!(first.body.get("deletes").is_none() && first.body.get("patches").is_none());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_follows_every_page() {
    let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
    for i in 1..=7 {
        fake.seed(
            ZONE_ID,
            a_record("www.example.com", &format!("192.0.2.{i}"), 300, false),
        );
    }
    fake.seed(
        ZONE_ID,
        a_record("other.example.com", "192.0.2.99", 300, false),
    );
    let mut cfg = config(&fake.url());
    cfg.per_page = 3;
    let p = provider(cfg);
    let sets = p
        .read(&fq("example.com"), &fq("www.example.com"), RecordType::A)
        .await;
    let sets = sets.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].values.len(), 7);
    assert_eq!(sets[0].ttl, 300);
    let pages: Vec<String> = fake
        .seen()
        .iter()
        .filter(|s| s.path.ends_with("/dns_records"))
        .filter_map(|s| s.query.get("page").cloned())
        .collect();
    assert_eq!(pages, vec!["1", "2", "3"]);
    let zone = p
        .read_zone(&fq("example.com"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(zone.len(), 2);
}

/// A successful list with no records.
const EMPTY_LIST: &str = r#"{"success":true,"errors":[],"messages":[],"result":[]}"#;
const RATE_LIMITED: &str = r#"{"success":false,"errors":[{"code":10100,"message":"More than 1200 requests per 300 seconds reached. Please wait and consider throttling your request speed"}],"messages":[],"result":null}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_on_429_is_honoured() {
    // The exact wait is asserted on tokio's paused clock in client::tests; here the header
    // travels over real HTTP and the adapter waits about that long.
    let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
    let p = provider(config(&fake.url()));
    let zone = fq("example.com");
    let _ = p.read(&zone, &fq("www.example.com"), RecordType::A).await; // zone lookup cached
    fake.push_fault(429, &[("retry-after", "1")], RATE_LIMITED);
    let start = Instant::now();
    let out = p.read(&zone, &fq("www.example.com"), RecordType::A).await;
    assert!(out.is_ok(), "{out:?}");
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(fake.seen().len(), 4); // zone lookup, list, 429, list

    // A write rejected with 429 is known not applied, so it is retried too.
    fake.push_fault(429, &[("retry-after", "1")], RATE_LIMITED);
    let create = ChangeSet {
        zone: zone.clone(),
        changes: vec![Change::Create {
            new: set("www.example.com", RecordType::A, 60, &["192.0.2.1"]),
        }],
    };
    // The first 429 hits the re-read (then an empty list is served); the second hits the
    // batch itself, which is then sent again.
    fake.push_fault(200, &[], EMPTY_LIST);
    fake.push_fault(429, &[("retry-after", "1")], RATE_LIMITED);
    let out = p.apply(&create).await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(fake.records("www.example.com", "A").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_retry_after_is_returned_to_the_controller() {
    let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
    let p = provider(config(&fake.url()));
    fake.push_fault(429, &[("retry-after", "300")], RATE_LIMITED);
    let start = Instant::now();
    let err = p
        .read(&fq("example.com"), &fq("www.example.com"), RecordType::A)
        .await
        .err();
    assert!(start.elapsed() < Duration::from_secs(5));
    let err = err.unwrap_or_else(|| panic!("expected a rate-limit error"));
    assert_eq!(err.kind, ErrorKind::RateLimited);
    assert!(err.is_retryable() && err.not_applied());
    assert_eq!(err.retry_after, Some(Duration::from_secs(300)));
    let msg = err.to_string();
    assert!(
        msg.starts_with("cf: looking up zone example.com.: HTTP 429"),
        "{msg}"
    );
    assert!(
        msg.contains("Cloudflare error 10100: More than 1200 requests"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_on_reads_are_retried() {
    let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
    fake.seed(
        ZONE_ID,
        a_record("www.example.com", "192.0.2.1", 300, false),
    );
    let p = provider(config(&fake.url()));
    fake.push_fault(502, &[], "<html>502 Bad Gateway</html>");
    fake.push_fault(503, &[], r#"{"success":false,"errors":[{"code":10001,"message":"service unavailable"}],"messages":[],"result":null}"#);
    let sets = p
        .read(&fq("example.com"), &fq("www.example.com"), RecordType::A)
        .await;
    let sets = sets.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sets[0].values, vec!["192.0.2.1".to_string()]);
    assert_eq!(fake.seen().len(), 4); // 502, 503, zone lookup, list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_on_batch_is_not_retried_and_marked_unknown() {
    let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
    let p = provider(config(&fake.url()));
    let zone = fq("example.com");
    let _ = p.read(&zone, &fq("www.example.com"), RecordType::A).await;
    let before = fake.seen().len();
    fake.push_fault(200, &[], EMPTY_LIST);
    fake.push_fault(500, &[], r#"{"success":false,"errors":[{"code":1100,"message":"Internal error"}],"messages":[],"result":null}"#);
    let create = ChangeSet {
        zone,
        changes: vec![Change::Create {
            new: set("www.example.com", RecordType::A, 60, &["192.0.2.1"]),
        }],
    };
    let err = p
        .apply(&create)
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(
        !err.not_applied(),
        "after a 5xx the outcome of a write is unknown"
    );
    assert_eq!(
        fake.seen().len() - before,
        2,
        "the batch must not be re-sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_error_bodies_are_surfaced() {
    let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
    let p = provider(config(&fake.url()));
    let zone = fq("example.com");
    let _ = p.read(&zone, &fq("www.example.com"), RecordType::A).await; // caches the zone id
                                                                        // The fake rejects TTL 45 (Cloudflare: 60-86400 or 1); min_ttl 30 lets it through the
                                                                        // adapter's own validation, as on an Enterprise zone.
    let mut cfg = config(&fake.url());
    cfg.min_ttl = 30;
    let p30 = provider(cfg);
    let create = ChangeSet {
        zone: zone.clone(),
        changes: vec![Change::Create {
            new: set("www.example.com", RecordType::A, 45, &["192.0.2.1"]),
        }],
    };
    let err = p30
        .apply(&create)
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.not_applied(),
        "a rejected batch is one rolled-back transaction"
    );
    assert_eq!(
        err.to_string(),
        "cf: applying the batch: HTTP 400: Cloudflare error 9021: Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic."
    );
    assert!(fake.records("www.example.com", "A").is_empty());

    // The adapter itself refuses TTLs below min_ttl before sending anything.
    let err = p
        .apply(&create)
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.to_string()
            .contains("below this provider's minimum of 60"),
        "{err}"
    );

    // A batch failing halfway through changes nothing (the fake is one transaction, as
    // Cloudflare is): the second post is an identical record.
    fake.seed(
        ZONE_ID,
        a_record("dup.example.com", "192.0.2.9", 300, false),
    );
    let fresh = ChangeSet {
        zone: zone.clone(),
        changes: vec![Change::Create {
            new: set("new.example.com", RecordType::A, 60, &["192.0.2.1"]),
        }],
    };
    fake.push_fault(200, &[], EMPTY_LIST);
    fake.push_fault(400, &[], r#"{"success":false,"errors":[{"code":81058,"message":"An identical record already exists."}],"messages":[],"result":null}"#);
    let err = p
        .apply(&fresh)
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    assert!(err.is_conflict(), "{err}");
    assert!(err
        .to_string()
        .contains("Cloudflare error 81058: An identical record already exists."));
    assert!(fake.records("new.example.com", "A").is_empty());

    // A body that is not JSON is quoted, not parsed into nonsense.
    fake.push_fault(400, &[], "<html>bad request</html>");
    let err = p
        .read(&zone, &fq("www.example.com"), RecordType::A)
        .await
        .err();
    let msg = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.contains("HTTP 400") && msg.contains("<html>bad request</html>"),
        "{msg}"
    );

    // A 200 whose body is not a Cloudflare envelope is a protocol error, not a panic.
    fake.push_fault(
        200,
        &[],
        r#"{"success":true,"errors":[],"messages":[],"result":[{"id":"x"}]}"#,
    );
    let err = p
        .read(&zone, &fq("www.example.com"), RecordType::A)
        .await
        .err();
    assert_eq!(err.map(|e| e.kind), Some(ErrorKind::Protocol));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_token_never_appears_in_errors() {
    let fake = Fake::start("the-right-token", ZONE_ID, "example.com").await;
    let p = provider(config(&fake.url()));
    let zone = fq("example.com");
    // Wrong token: an auth error naming the fix, without the token.
    let err = p
        .read(&zone, &fq("www.example.com"), RecordType::A)
        .await
        .err();
    let err = err.unwrap_or_else(|| panic!("expected an auth error"));
    assert!(err.is_auth(), "{err}");
    assert!(
        err.to_string()
            .contains("Cloudflare error 9109: Invalid access token"),
        "{err}"
    );
    assert!(err.to_string().contains("Zone / DNS / Edit"), "{err}");
    // An API that echoes the token back: scrubbed.
    fake.push_fault(400, &[], &format!(
        r#"{{"success":false,"errors":[{{"code":6003,"message":"Invalid request headers: Bearer {TOKEN}"}}],"messages":[],"result":null}}"#
    ));
    let echoed = p
        .read(&zone, &fq("www.example.com"), RecordType::A)
        .await
        .err();
    for e in [Some(err), echoed].into_iter().flatten() {
        let shown = format!("{e} {e:?} {:?}", e.source);
        assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    }
    assert!(!format!("{p:?}").contains(TOKEN));
    // The token was sent, as a bearer token.
    assert!(fake
        .seen()
        .iter()
        .all(|s| s.authorization == format!("Bearer {TOKEN}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_change_before_apply_is_a_conflict_and_sends_nothing() {
    let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
    fake.seed(
        ZONE_ID,
        a_record("www.example.com", "192.0.2.1", 300, false),
    );
    let p = provider(config(&fake.url()));
    let zone = fq("example.com");
    let old = p
        .read(&zone, &fq("www.example.com"), RecordType::A)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Someone adds a record to the set in the dashboard.
    fake.seed(
        ZONE_ID,
        a_record("www.example.com", "203.0.113.5", 300, false),
    );
    let update = ChangeSet {
        zone,
        changes: vec![Change::Update {
            old: old[0].clone(),
            new: set("www.example.com", RecordType::A, 60, &["198.51.100.2"]),
        }],
    };
    let err = p
        .apply(&update)
        .await
        .err()
        .unwrap_or_else(|| panic!("expected a conflict"));
    assert!(err.is_conflict() && err.not_applied(), "{err}");
    assert!(err.to_string().contains("203.0.113.5"), "{err}");
    assert!(
        !fake.seen().iter().any(|s| s.method != "GET"),
        "nothing may be written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_flag_and_auto_ttl_are_preserved() {
    let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
    fake.seed(ZONE_ID, a_record("www.example.com", "192.0.2.1", 1, true));
    let p = provider(config(&fake.url()));
    let zone = fq("example.com");
    let read = p
        .read(&zone, &fq("www.example.com"), RecordType::A)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let old = read[0].clone();
    assert_eq!(old.ttl, 300);
    assert_eq!(old.meta.get("ttl").map(String::as_str), Some("auto"));
    assert_eq!(old.meta.get("proxied").map(String::as_str), Some("true"));
    // Failover as the planner does it: new values, meta copied from the old set.
    let mut new = old.clone();
    new.values = vec!["198.51.100.2".into(), "198.51.100.3".into()];
    let cs = ChangeSet {
        zone: zone.clone(),
        changes: vec![Change::Update {
            old: old.clone(),
            new: new.clone(),
        }],
    };
    p.apply(&cs).await.unwrap_or_else(|e| panic!("{e}"));
    let recs = fake.records("www.example.com", "A");
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(r.get("proxied"), Some(&json!(true)), "{r:?}");
        assert_eq!(r.get("ttl"), Some(&json!(1)), "{r:?}");
    }
    let after = p
        .read(&zone, &fq("www.example.com"), RecordType::A)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(after[0].same_answer(&new));
    assert_eq!(after[0].meta, old.meta);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_zone_is_a_clear_not_found() {
    let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
    let p = provider(config(&fake.url()));
    let err = p
        .read(&fq("other.test"), &fq("www.other.test"), RecordType::A)
        .await
        .err();
    let err = err.unwrap_or_else(|| panic!("expected not found"));
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(
        err.to_string()
            .starts_with("cf: looking up zone other.test.: no zone"),
        "{err}"
    );

    // A configured zone_id that belongs to another zone is refused before any write.
    let mut cfg = config(&fake.url());
    cfg.zone_id = Some(ZONE_ID.into());
    let pinned = provider(cfg);
    let err = pinned
        .read(&fq("other.test"), &fq("www.other.test"), RecordType::A)
        .await
        .err();
    let msg = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.contains("is the zone example.com., not other.test."),
        "{msg}"
    );
    assert!(pinned
        .read(&fq("example.com"), &fq("www.example.com"), RecordType::A)
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_builds_from_controller_toml_with_token_file() {
    let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
    let dir = std::env::temp_dir().join(format!("dnsfailback-cf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap_or_else(|e| panic!("{e}"));
    // What the controller does: parse the table, strip `kind`, deserialize the rest.
    let text = format!(
        "[providers.cf]\nkind = \"cloudflare\"\napi_token = {{ file = \"{}\" }}\nbase_url = \"{}\"\nrequests_per_5min = 600\ntimeout = \"10s\"\n",
        token_file.display(),
        fake.url()
    );
    let mut doc: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let mut table = doc
        .remove("providers")
        .and_then(|p| p.as_table().and_then(|t| t.get("cf")).cloned())
        .and_then(|t| t.as_table().cloned())
        .unwrap_or_default();
    assert_eq!(
        table
            .remove("kind")
            .and_then(|k| k.as_str().map(str::to_string))
            .as_deref(),
        Some("cloudflare")
    );
    let cfg: Config = toml::Value::Table(table)
        .try_into()
        .unwrap_or_else(|e| panic!("{e}"));
    let p = CloudflareProvider::new("cf", cfg).unwrap_or_else(|e| panic!("{e}"));
    assert!(p
        .read(&fq("example.com"), &fq("www.example.com"), RecordType::A)
        .await
        .is_ok());
    let _ = std::fs::remove_dir_all(&dir);

    // A missing token file is an auth error naming the file and the fix, no request sent.
    let cfg = Config::new(SecretSource {
        env: None,
        file: Some(dir.join("missing")),
    });
    let err = CloudflareProvider::new("cf", cfg)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with("cf: api_token: cannot read secret file"),
        "{err}"
    );

    // Capabilities as the planner sees them.
    let caps = p.capabilities();
    assert!(!caps.weighted && caps.atomic_batch && !caps.prerequisites && !caps.change_status);
    assert_eq!(caps.min_ttl, 60);
}

/// A site failover of many names costs one listing of the zone before the batch, not one
/// request per name (1,000 names were 1,000 GETs: over 4 minutes of the token's budget),
/// and a stale `old` among them is still caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_names_are_read_with_one_zone_listing_before_the_batch() {
    let fake = Fake::start(TOKEN, ZONE_ID, "example.com").await;
    for i in 0..40 {
        fake.seed(
            ZONE_ID,
            a_record(&format!("s{i}.example.com"), "192.0.2.1", 300, false),
        );
    }
    let mut cfg = config(&fake.url());
    cfg.zone_id = Some(ZONE_ID.into());
    cfg.per_page = 100;
    let p = provider(cfg);
    let zone = fq("example.com");
    let update = |values: &[&str]| ChangeSet {
        zone: zone.clone(),
        changes: (0..40)
            .map(|i| Change::Update {
                old: set(&format!("s{i}.example.com"), RecordType::A, 300, values),
                new: set(
                    &format!("s{i}.example.com"),
                    RecordType::A,
                    60,
                    &["198.51.100.2"],
                ),
            })
            .collect(),
    };
    let before = fake.seen().len();
    let err = p.apply(&update(&["192.0.2.9"])).await.err();
    assert!(
        err.is_some_and(|e| e.is_conflict()),
        "a stale old is a conflict"
    );
    p.apply(&update(&["192.0.2.1"]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let seen: Vec<_> = fake.seen()[before..]
        .iter()
        .map(|s| {
            (
                s.method.clone(),
                s.path.clone(),
                s.query.contains_key("name"),
            )
        })
        .collect();
    let lists = seen
        .iter()
        .filter(|s| s.0 == "GET" && s.1.ends_with("/dns_records"))
        .count();
    assert_eq!(lists, 2, "one zone listing per apply: {seen:?}");
    assert!(!seen.iter().any(|s| s.2), "no per-name listing: {seen:?}");
    assert_eq!(seen.iter().filter(|s| s.1.ends_with("/batch")).count(), 1);
    assert_eq!(
        fake.records("s39.example.com", "A")[0]["content"],
        "198.51.100.2"
    );
}
