//! Scenarios against a real Route 53 API server (moto 5.2.5, started per test).

use std::collections::BTreeMap;

use dnsfailback_provider::testkit::run_conformance;
use dnsfailback_provider::{
    Change, ChangeSet, ErrorKind, Provider, RecordSet, RecordType, SyncStatus,
};
use dnsfailback_provider_route53::request::{META_ALIAS_TARGET, META_FAILOVER, META_HEALTH_CHECK};

use crate::support::*;

fn a(name: &str, ttl: u32, ips: &[&str]) -> RecordSet {
    RecordSet::new(
        fq(name),
        RecordType::A,
        ttl,
        ips.iter().map(|s| s.to_string()).collect(),
    )
}

fn weighted(name: &str, id: &str, ip: &str, weight: u32) -> RecordSet {
    RecordSet::weighted(fq(name), RecordType::A, 60, vec![ip.into()], id, weight)
}

async fn apply(p: &dyn Provider, zone: &str, changes: Vec<Change>) -> Result<(), String> {
    p.apply(&ChangeSet {
        zone: fq(zone),
        changes,
    })
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

async fn read_sorted(p: &dyn Provider, zone: &str, name: &str) -> Result<Vec<RecordSet>, String> {
    let mut sets = p
        .read(&fq(zone), &fq(name), RecordType::A)
        .await
        .map_err(|e| e.to_string())?;
    sets.sort_by(|x, y| x.set_id.cmp(&y.set_id));
    Ok(sets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_passes_against_moto() -> TestResult {
    let moto = Moto::start().await;
    let zone_id = moto.create_zone("conformance.test.").await;
    let p = moto.provider("aws", &zone_id);
    let report = run_conformance(&p, &fq("conformance.test"), "conf").await?;
    assert!(report.skipped.is_empty(), "{report:?}");
    assert_eq!(report.passed.len(), 10, "{report:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_is_found_by_name_and_unknown_zone_is_not_found() -> TestResult {
    let moto = Moto::start().await;
    let zone_id = moto.create_zone("lookup.test.").await;
    // No hosted_zone_id: the provider asks ListHostedZonesByName.
    let p = provider_at("aws", &moto.endpoint, None);
    assert_eq!(p.zone_id(&fq("lookup.test")).await?, zone_id);
    apply(
        &p,
        "lookup.test",
        vec![Change::Create {
            new: a("www.lookup.test", 300, &["192.0.2.1"]),
        }],
    )
    .await?;
    assert_eq!(
        read_sorted(&p, "lookup.test", "www.lookup.test")
            .await?
            .len(),
        1
    );

    let e = p
        .read(&fq("missing.test"), &fq("www.missing.test"), RecordType::A)
        .await
        .err()
        .ok_or("expected an error")?;
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string()
            .starts_with("aws: no hosted zone named missing.test."),
        "{e}"
    );

    let wrong = moto.provider("aws", "ZDOESNOTEXIST");
    let e = wrong
        .read(&fq("lookup.test"), &fq("www.lookup.test"), RecordType::A)
        .await
        .err()
        .ok_or("expected an error")?;
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("NoSuchHostedZone"), "{e}");
    Ok(())
}

/// Failover the way dnsfailback does it (plain set: values and TTL swapped in one update),
/// and Route 53's own failover records kept intact; unmanaged sets (an alias) never touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_apply_a_failover() -> TestResult {
    let moto = Moto::start().await;
    let zone = "failover.test";
    let zone_id = moto.create_zone("failover.test.").await;
    let p = moto.provider("aws", &zone_id);

    // Someone else's alias record in the same zone.
    moto.raw_change(
        &zone_id,
        r#"<Change><Action>CREATE</Action><ResourceRecordSet><Name>cdn.failover.test.</Name><Type>A</Type><AliasTarget><HostedZoneId>Z2FDTNDATAQYW2</HostedZoneId><DNSName>d111111abcdef8.cloudfront.net.</DNSName><EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget></ResourceRecordSet></Change>"#,
    )
    .await?;

    let before = a("shop.failover.test", 300, &["192.0.2.10"]);
    apply(
        &p,
        zone,
        vec![Change::Create {
            new: before.clone(),
        }],
    )
    .await?;
    let after = a("shop.failover.test", 30, &["198.51.100.20"]);
    let plan = ChangeSet {
        zone: fq(zone),
        changes: vec![Change::Update {
            old: before.clone(),
            new: after.clone(),
        }],
    };
    let receipt = p.apply(&plan).await?;
    assert!(
        receipt
            .change_id
            .as_deref()
            .is_some_and(|id| id.starts_with("/change/")),
        "{receipt:?}"
    );
    assert_eq!(p.wait_for_sync(&receipt).await?, SyncStatus::InSync);
    let got = read_sorted(&p, zone, "shop.failover.test").await?;
    assert!(got.len() == 1 && got[0].same_answer(&after), "{got:?}");

    // Route 53 failover records: PRIMARY + SECONDARY with a health check, in one batch.
    let mut primary = a("api.failover.test", 60, &["192.0.2.1"]);
    primary.set_id = Some("api-primary".into());
    primary.meta = BTreeMap::from([
        (META_FAILOVER.to_string(), "PRIMARY".to_string()),
        (
            META_HEALTH_CHECK.to_string(),
            "11111111-2222-3333-4444-555555555555".to_string(),
        ),
    ]);
    let mut secondary = a("api.failover.test", 60, &["198.51.100.1"]);
    secondary.set_id = Some("api-secondary".into());
    secondary.meta = BTreeMap::from([(META_FAILOVER.to_string(), "SECONDARY".to_string())]);
    apply(
        &p,
        zone,
        vec![
            Change::Create {
                new: primary.clone(),
            },
            Change::Create {
                new: secondary.clone(),
            },
        ],
    )
    .await?;
    let got = read_sorted(&p, zone, "api.failover.test").await?;
    assert_eq!(got, vec![primary.clone(), secondary.clone()]);

    // Move the secondary's address, keeping its role; the primary is not named and not touched.
    let mut secondary2 = secondary.clone();
    secondary2.values = vec!["203.0.113.5".into()];
    apply(
        &p,
        zone,
        vec![Change::Update {
            old: secondary.clone(),
            new: secondary2.clone(),
        }],
    )
    .await?;
    assert_eq!(
        read_sorted(&p, zone, "api.failover.test").await?,
        vec![primary.clone(), secondary2]
    );

    // The alias is shown (with its target) and unchanged; writing it is refused.
    let all = p.read_zone(&fq(zone)).await?;
    let alias = all
        .iter()
        .find(|s| s.name == fq("cdn.failover.test"))
        .ok_or("alias set not listed")?;
    assert_eq!(
        alias.meta.get(META_ALIAS_TARGET).map(String::as_str),
        Some("d111111abcdef8.cloudfront.net.")
    );
    let e = p
        .apply(&ChangeSet {
            zone: fq(zone),
            changes: vec![Change::Delete { old: alias.clone() }],
        })
        .await
        .err()
        .ok_or("deleting an alias must be refused")?;
    assert!(e.not_applied() && e.kind == ErrorKind::Invalid, "{e}");
    assert!(p
        .read_zone(&fq(zone))
        .await?
        .iter()
        .any(|s| s.name == fq("cdn.failover.test")));
    Ok(())
}

/// Canary failback with native weights: 5 %, 25 %, 50 %, 100 % back to the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_canary_sequence() -> TestResult {
    let moto = Moto::start().await;
    let zone = "canary.test";
    let zone_id = moto.create_zone("canary.test.").await;
    let p = moto.provider("aws", &zone_id);
    let name = "app.canary.test";

    // Failed over: everything on the backup.
    let plain = a(name, 60, &["198.51.100.7"]);
    apply(&p, zone, vec![Change::Create { new: plain.clone() }]).await?;
    let mut prim = weighted(name, "app-primary", "192.0.2.7", 0);
    let mut back = weighted(name, "app-backup", "198.51.100.7", 100);
    apply(
        &p,
        zone,
        vec![
            Change::Delete { old: plain.clone() },
            Change::Create { new: prim.clone() },
            Change::Create { new: back.clone() },
        ],
    )
    .await?;
    assert_eq!(
        read_sorted(&p, zone, name).await?,
        vec![back.clone(), prim.clone()]
    );

    for pct in [5u32, 25, 50, 100] {
        let (np, nb) = (
            weighted(name, "app-primary", "192.0.2.7", pct),
            weighted(name, "app-backup", "198.51.100.7", 100 - pct),
        );
        apply(
            &p,
            zone,
            vec![
                Change::Update {
                    old: prim.clone(),
                    new: np.clone(),
                },
                Change::Update {
                    old: back.clone(),
                    new: nb.clone(),
                },
            ],
        )
        .await?;
        let got = read_sorted(&p, zone, name).await?;
        assert_eq!(got, vec![nb.clone(), np.clone()], "step {pct} %");
        prim = np;
        back = nb;
    }
    // A stale step (weights someone else changed) is a conflict and changes nothing.
    let stale = weighted(name, "app-primary", "192.0.2.7", 25);
    let e = p
        .apply(&ChangeSet {
            zone: fq(zone),
            changes: vec![Change::Update {
                old: stale,
                new: weighted(name, "app-primary", "192.0.2.7", 30),
            }],
        })
        .await
        .err()
        .ok_or("stale update must fail")?;
    assert!(e.is_conflict() && e.not_applied(), "{e}");
    assert_eq!(
        read_sorted(&p, zone, name).await?,
        vec![back.clone(), prim.clone()]
    );

    // Done: back to a plain set on the primary.
    let fin = a(name, 60, &["192.0.2.7"]);
    apply(
        &p,
        zone,
        vec![
            Change::Delete { old: prim },
            Change::Delete { old: back },
            Change::Create { new: fin.clone() },
        ],
    )
    .await?;
    assert_eq!(read_sorted(&p, zone, name).await?, vec![fin]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_change_and_restore() -> TestResult {
    let moto = Moto::start().await;
    let zone = "ttl.test";
    let zone_id = moto.create_zone("ttl.test.").await;
    let p = moto.provider("aws", &zone_id);
    let orig = a("www.ttl.test", 3600, &["192.0.2.1", "192.0.2.2"]);
    let low = a("www.ttl.test", 30, &["192.0.2.1", "192.0.2.2"]);
    apply(&p, zone, vec![Change::Create { new: orig.clone() }]).await?;
    apply(
        &p,
        zone,
        vec![Change::Update {
            old: orig.clone(),
            new: low.clone(),
        }],
    )
    .await?;
    assert_eq!(
        read_sorted(&p, zone, "www.ttl.test").await?,
        vec![low.clone()]
    );
    apply(
        &p,
        zone,
        vec![Change::Update {
            old: low,
            new: orig.clone(),
        }],
    )
    .await?;
    assert_eq!(read_sorted(&p, zone, "www.ttl.test").await?, vec![orig]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_over_a_zone_with_more_than_300_records() -> TestResult {
    let moto = Moto::start().await;
    let zone = "big.test";
    let zone_id = moto.create_zone("big.test.").await;
    let p = moto.provider("aws", &zone_id);
    let sets: Vec<RecordSet> = (0..350)
        .map(|i| {
            a(
                &format!("host{i:03}.big.test"),
                300,
                &[&format!("192.0.2.{}", i % 250 + 1)],
            )
        })
        .collect();
    // 350 creates fit one batch (Route 53 counts 350 of its 1,000 records).
    apply(
        &p,
        zone,
        sets.iter()
            .cloned()
            .map(|new| Change::Create { new })
            .collect(),
    )
    .await?;
    let all = p.read_zone(&fq(zone)).await?;
    let a_sets: Vec<&RecordSet> = all.iter().filter(|s| s.rtype == RecordType::A).collect();
    assert_eq!(a_sets.len(), 350, "every set across the pages, none twice");
    for s in &sets {
        assert!(all.iter().any(|g| g.same_answer(s)), "{s} missing");
    }
    // Reading single names anywhere in the zone (first, last page) still works.
    for name in ["host000.big.test", "host299.big.test", "host349.big.test"] {
        let got = read_sorted(&p, zone, name).await?;
        assert_eq!(got.len(), 1, "{name}: {got:?}");
    }
    assert!(read_sorted(&p, zone, "nothere.big.test").await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_batch_gives_a_clear_error() -> TestResult {
    let moto = Moto::start().await;
    let zone_id = moto.create_zone("valid.test.").await;
    let other_id = moto.create_zone("other.test.").await;
    let p = moto.provider("aws", &zone_id);

    // Caught before sending (moto would accept it): weight above 255, bad address.
    let bad = ChangeSet {
        zone: fq("valid.test"),
        changes: vec![
            Change::Create {
                new: weighted("w.valid.test", "w1", "192.0.2.1", 300),
            },
            Change::Create {
                new: a("v.valid.test", 60, &["not-an-ip"]),
            },
        ],
    };
    let e = p.apply(&bad).await.err().ok_or("invalid batch accepted")?;
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.not_applied());
    let text = e.to_string();
    assert!(
        text.starts_with("aws: refusing to send an invalid change batch"),
        "{text}"
    );
    assert!(
        text.contains("weight 300") && text.contains("not-an-ip"),
        "{text}"
    );
    assert_eq!(p.failed_applies().len(), 1);

    // Rejected by the server: names of valid.test sent to the hosted zone of other.test.
    let misrouted = moto.provider("aws", &other_id);
    let e = misrouted
        .apply(&ChangeSet {
            zone: fq("valid.test"),
            changes: vec![Change::Create {
                new: a("x.valid.test", 60, &["192.0.2.1"]),
            }],
        })
        .await
        .err()
        .ok_or("out-of-zone batch accepted")?;
    let text = e.to_string();
    assert_eq!(e.kind, ErrorKind::Invalid, "{text}");
    assert!(e.not_applied() && !e.is_retryable(), "{text}");
    assert!(
        text.starts_with(
            "aws: ChangeResourceRecordSets failed with HTTP 400: Route 53 said InvalidChangeBatch"
        ),
        "{text}"
    );

    // Creating an existing set: a conflict carrying Route 53's message.
    let s = a("dup.valid.test", 60, &["192.0.2.1"]);
    apply(&p, "valid.test", vec![Change::Create { new: s.clone() }]).await?;
    let e = p
        .apply(&ChangeSet {
            zone: fq("valid.test"),
            changes: vec![Change::Create { new: s }],
        })
        .await
        .err()
        .ok_or("duplicate create accepted")?;
    assert!(e.is_conflict() && e.not_applied(), "{e}");
    assert!(e.to_string().contains("already exists"), "{e}");
    Ok(())
}

/// Throttling, PriorRequestNotComplete and 5xx from a proxy in front of moto are retried and
/// the change converges; nothing is applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_5xx_are_retried_and_converge() -> TestResult {
    let moto = Moto::start().await;
    let zone_id = moto.create_zone("flaky.test.").await;
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let p = provider_at("aws", &proxy.endpoint, Some(&zone_id));
    proxy.inject("POST", throttling());
    proxy.inject("POST", prior_request());
    proxy.inject("POST", service_unavailable());
    let s = a("www.flaky.test", 60, &["192.0.2.1"]);
    apply(&p, "flaky.test", vec![Change::Create { new: s.clone() }]).await?;
    let posts = proxy
        .seen()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    assert_eq!(posts, 4, "{:?}", proxy.seen());
    let stats = p.call_stats().ok_or("Route 53 reports its call stats")?;
    assert_eq!(stats.retries(), 3, "each retry counted for the metrics");

    proxy.inject("GET", throttling());
    proxy.inject("GET", Fault::Answer(500, "oops".into()));
    assert_eq!(
        read_sorted(&p, "flaky.test", "www.flaky.test").await?,
        vec![s]
    );
    assert!(p.failed_applies().is_empty());
    assert_eq!(stats.retries(), 5);
    Ok(())
}

/// With signature checking on, moto accepts our SigV4-signed POST and rejects a wrong secret
/// (as an auth error that names the key id but never the secret).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_an_auth_error_without_the_secret() -> TestResult {
    let moto = Moto::start().await;
    let zone_id = moto.create_zone("auth.test.").await;
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let secret = "Sup3rSecretKeyValue/xyz";
    let cfg = test_config(&proxy.endpoint, Some(&zone_id));
    let env = dnsfailback_provider_route53::credentials::Environment {
        vars: [
            ("AWS_ACCESS_KEY_ID".to_string(), "AKIDAUTHTEST".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), secret.to_string()),
        ]
        .into(),
    };
    let transport = dnsfailback_provider_route53::client::ReqwestTransport::new(
        std::time::Duration::from_secs(30),
    )?;
    let p = dnsfailback_provider_route53::Route53Provider::with_transport(
        "aws",
        cfg,
        &env,
        std::sync::Arc::new(transport),
    )?;
    proxy.inject(
        "POST",
        Fault::Answer(403, r#"<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message><Type>Sender</Type></Error></Errors></ErrorResponse>"#.into()),
    );
    let e = p
        .apply(&ChangeSet {
            zone: fq("auth.test"),
            changes: vec![Change::Create {
                new: a("www.auth.test", 60, &["192.0.2.1"]),
            }],
        })
        .await
        .err()
        .ok_or("expected an auth error")?;
    assert!(e.is_auth() && e.not_applied(), "{e}");
    let shown = format!("{e} {e:?} {p:?} {:?}", p.failed_applies());
    assert!(
        shown.contains("AKIDAUTHTEST") && shown.contains("SignatureDoesNotMatch"),
        "{shown}"
    );
    assert!(!shown.contains(secret), "secret leaked: {shown}");
    assert_eq!(
        proxy
            .seen()
            .iter()
            .filter(|r| r.starts_with("POST"))
            .count(),
        1,
        "auth errors are not retried"
    );
    Ok(())
}

/// The production wire mapping (no precheck, DELETE old + CREATE new): moto enforces the
/// preconditions itself for sets it has not seen before, so Route 53's own compare-and-swap
/// path is exercised end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_compare_and_swap_without_precheck() -> TestResult {
    let moto = Moto::start().await;
    let zone = "cas.test";
    let zone_id = moto.create_zone("cas.test.").await;
    let cfg = dnsfailback_provider_route53::Config {
        precheck: false,
        upsert_writes: false,
        ..test_config(&moto.endpoint, Some(&zone_id))
    };
    let transport = dnsfailback_provider_route53::client::ReqwestTransport::new(
        std::time::Duration::from_secs(30),
    )?;
    let p = dnsfailback_provider_route53::Route53Provider::with_transport(
        "aws",
        cfg,
        &test_env(),
        std::sync::Arc::new(transport),
    )?;
    let name = "www.cas.test";
    let s1 = a(name, 60, &["192.0.2.1"]);
    apply(&p, zone, vec![Change::Create { new: s1.clone() }]).await?;
    let e = p
        .apply(&ChangeSet {
            zone: fq(zone),
            changes: vec![Change::Create { new: s1.clone() }],
        })
        .await
        .err()
        .ok_or("duplicate create accepted")?;
    assert!(e.is_conflict() && e.not_applied(), "{e}");
    assert!(
        e.to_string()
            .contains("InvalidChangeBatch: Tried to create resource record set"),
        "{e}"
    );

    let s2 = a(name, 30, &["198.51.100.2"]);
    apply(
        &p,
        zone,
        vec![Change::Update {
            old: s1,
            new: s2.clone(),
        }],
    )
    .await?;
    assert_eq!(read_sorted(&p, zone, name).await?, vec![s2.clone()]);

    // A stale `old` makes the DELETE (and so the whole batch) fail: a conflict, zone unchanged.
    let never = a(name, 60, &["203.0.113.9"]);
    let e = p
        .apply(&ChangeSet {
            zone: fq(zone),
            changes: vec![Change::Update {
                old: never,
                new: a(name, 60, &["203.0.113.10"]),
            }],
        })
        .await
        .err()
        .ok_or("stale update accepted")?;
    assert!(e.is_conflict() && e.not_applied(), "{e}");
    assert_eq!(read_sorted(&p, zone, name).await?, vec![s2.clone()]);

    // Plain -> weighted and a weight shift, all with DELETE + CREATE.
    let (w1, w2) = (
        weighted(name, "cas-a", "192.0.2.1", 5),
        weighted(name, "cas-b", "198.51.100.2", 95),
    );
    apply(
        &p,
        zone,
        vec![
            Change::Delete { old: s2 },
            Change::Create { new: w1.clone() },
            Change::Create { new: w2.clone() },
        ],
    )
    .await?;
    let (w1b, w2b) = (
        weighted(name, "cas-a", "192.0.2.1", 25),
        weighted(name, "cas-b", "198.51.100.2", 75),
    );
    apply(
        &p,
        zone,
        vec![
            Change::Update {
                old: w1,
                new: w1b.clone(),
            },
            Change::Update {
                old: w2,
                new: w2b.clone(),
            },
        ],
    )
    .await?;
    assert_eq!(read_sorted(&p, zone, name).await?, vec![w1b, w2b]);
    Ok(())
}
