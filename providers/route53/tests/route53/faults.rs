//! Fault injection on tokio's paused clock: back-off waits and sync polling take no real time.

use std::time::Duration;

use dnsfailback_provider::{
    ApplyReceipt, Change, ChangeSet, ErrorKind, Provider, RecordSet, RecordType, SyncStatus,
};

use crate::support::*;

const SECRET: &str = "fake/SECRET+key-9f8e7d6c5b4a";

fn one_create() -> ChangeSet {
    ChangeSet {
        zone: fq("example.test"),
        changes: vec![Change::Create {
            new: RecordSet::new(
                fq("www.example.test"),
                RecordType::A,
                60,
                vec!["192.0.2.1".into()],
            ),
        }],
    }
}

#[tokio::test(start_paused = true)]
async fn throttling_then_success_is_retried_with_backoff() -> TestResult {
    let fake = FakeTransport::default();
    fake.push(throttling());
    fake.push(prior_request());
    fake.push(Fault::Answer(502, "Bad Gateway".into()));
    fake.push(Fault::Timeout);
    fake.push(change_ok("PENDING"));
    let p = fake_provider(&fake, 5, SECRET);
    let start = tokio::time::Instant::now();
    let receipt = p.apply(&one_create()).await?;
    assert_eq!(receipt.change_id.as_deref(), Some("/change/C1FAKE"));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 5);
    // Every attempt is a freshly signed POST of the same batch.
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.url,
            "https://route53.amazonaws.com/2013-04-01/hostedzone/ZFAKE/rrset/"
        );
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v.contains("/route53/aws4_request")));
        assert_eq!(r.body, reqs[0].body);
    }
    // Back-off happened (>= 0.5 s + 1 s + 2 s + 4 s with jitter added, plus the 30 s timeout).
    assert!(
        start.elapsed() >= Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_request_that_keeps_failing_ends_in_a_clear_error_and_a_recorded_intent() -> TestResult {
    let fake = FakeTransport::default();
    fake.set_fallback(Fault::Answer(
        503,
        "<html>Service Unavailable</html>".into(),
    ));
    let p = fake_provider(&fake, 5, SECRET);
    let cs = one_create();
    let e = p.apply(&cs).await.err().ok_or("expected a failure")?;
    assert_eq!(fake.requests().len(), 6, "1 attempt + 5 retries");
    assert_eq!(e.kind, ErrorKind::Transient);
    assert!(e.is_retryable());
    // A 5xx leaves the outcome unknown: never claim the zone is unchanged.
    assert!(!e.not_applied());
    let text = e.to_string();
    assert!(
        text.starts_with("aws: ChangeResourceRecordSets failed with HTTP 503"),
        "{text}"
    );
    assert!(text.contains("gave up after 6 attempts"), "{text}");
    assert!(text.contains("may have been applied"), "{text}");
    // The intent is kept, not lost.
    let failed = p.failed_applies();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].changes, cs);
    assert_eq!(failed[0].kind, ErrorKind::Transient);
    assert!(!format!("{e:?} {failed:?} {p:?}").contains(SECRET));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn throttling_forever_is_rate_limited_and_known_unapplied() -> TestResult {
    let fake = FakeTransport::default();
    fake.set_fallback(throttling());
    let p = fake_provider(&fake, 3, SECRET);
    let e = p
        .apply(&one_create())
        .await
        .err()
        .ok_or("expected a failure")?;
    assert_eq!(fake.requests().len(), 4);
    assert_eq!(e.kind, ErrorKind::RateLimited);
    // Every attempt was rejected with a 400: the zone is known unchanged.
    assert!(e.not_applied(), "{e}");
    assert!(e.to_string().contains("Throttling: Rate exceeded"), "{e}");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_retried() -> TestResult {
    let fake = FakeTransport::default();
    fake.push(Fault::Answer(
        400,
        r#"<?xml version="1.0" encoding="UTF-8"?><InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Messages><Message>RRSet of type CNAME with DNS name www.example.test. is not permitted because a conflicting RRSet of type A with the same DNS name already exists in zone example.test.</Message></Messages><RequestId>r1</RequestId></InvalidChangeBatch>"#.into(),
    ));
    let p = fake_provider(&fake, 5, SECRET);
    let e = p
        .apply(&one_create())
        .await
        .err()
        .ok_or("expected a failure")?;
    assert_eq!(fake.requests().len(), 1);
    assert!(e.not_applied() && !e.is_retryable());
    assert!(
        e.to_string()
            .contains("is not permitted because a conflicting RRSet"),
        "{e}"
    );
    assert!(e.to_string().contains("request id r1"), "{e}");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn get_change_is_polled_until_insync() -> TestResult {
    let fake = FakeTransport::default();
    fake.push(change_ok("PENDING"));
    fake.push(get_change("PENDING"));
    fake.push(throttling());
    fake.push(get_change("PENDING"));
    fake.push(get_change("INSYNC"));
    let p = fake_provider(&fake, 5, SECRET);
    let receipt = p.apply(&one_create()).await?;
    let start = tokio::time::Instant::now();
    assert_eq!(p.wait_for_sync(&receipt).await?, SyncStatus::InSync);
    let gets: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.url.clone())
        .collect();
    assert_eq!(gets.len(), 4);
    assert!(
        gets.iter()
            .all(|u| u == "https://route53.amazonaws.com/2013-04-01/change/C1FAKE"),
        "{gets:?}"
    );
    // Two 5 s intervals between the three answered polls.
    assert!(
        start.elapsed() >= Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn sync_wait_is_bounded_and_reports_pending() -> TestResult {
    let fake = FakeTransport::default();
    fake.set_fallback(get_change("PENDING"));
    let p = fake_provider(&fake, 5, SECRET);
    let receipt = ApplyReceipt {
        change_id: Some("C1FAKE".into()),
    };
    let start = tokio::time::Instant::now();
    assert_eq!(p.wait_for_sync(&receipt).await?, SyncStatus::Pending);
    let waited = start.elapsed();
    assert!(waited <= p.config().sync_timeout(), "{waited:?}");
    assert!(
        waited >= p.config().sync_timeout() - p.config().sync_interval() * 2,
        "{waited:?}"
    );
    // No change id (nothing was sent): in sync at once, no request.
    let before = fake.requests().len();
    assert_eq!(
        p.sync_status(&ApplyReceipt::default()).await?,
        SyncStatus::InSync
    );
    assert_eq!(fake.requests().len(), before);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn unreadable_answers_are_protocol_errors_not_panics() -> TestResult {
    let fake = FakeTransport::default();
    fake.push(Fault::Answer(200, "<ListResourceRecordSetsResponse><ResourceRecordSets><ResourceRecordSet><Name>www.example.test.</Name><Type>A</Type><TTL>soon</TTL></ResourceRecordSet></ResourceRecordSets></ListResourceRecordSetsResponse>".into()));
    fake.push(Fault::Answer(200, "this is not xml <".into()));
    let p = fake_provider(&fake, 0, SECRET);
    let e = p
        .read(&fq("example.test"), &fq("www.example.test"), RecordType::A)
        .await
        .err()
        .ok_or("expected an error")?;
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert!(e.to_string().contains("TTL `soon` is not a number"), "{e}");
    let e = p
        .sync_status(&ApplyReceipt {
            change_id: Some("/change/C1".into()),
        })
        .await
        .err()
        .ok_or("expected an error")?;
    assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
    Ok(())
}

/// Regression (issue 17, found by the chaos suite's fuzzing): a list page whose "next" is
/// where it started used to be asked for again up to 10,000 times (minutes at the rate
/// limit); it is now a protocol error after the repeat is seen.
#[tokio::test(start_paused = true)]
async fn a_list_page_that_points_at_itself_is_an_error_not_a_loop() -> TestResult {
    let page = |next: &str| {
        Fault::Answer(
            200,
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ResourceRecordSets><ResourceRecordSet><Name>a.example.test.</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></ResourceRecordSets><IsTruncated>true</IsTruncated><NextRecordName>{next}</NextRecordName><NextRecordType>A</NextRecordType><MaxItems>300</MaxItems></ListResourceRecordSetsResponse>"#
            ),
        )
    };
    // The zone: the second page points at itself.
    let fake = FakeTransport::default();
    fake.set_fallback(page("x.example.test."));
    let p = fake_provider(&fake, 0, SECRET);
    let e = p
        .read_zone(&fq("example.test"))
        .await
        .err()
        .ok_or("a self-referencing page was accepted")?;
    assert!(e.to_string().contains("no progress"), "{e}");
    assert_eq!(fake.requests().len(), 2, "the first page and its repeat");

    // One name: the first page points back at the name asked for.
    let fake = FakeTransport::default();
    fake.set_fallback(page("a.example.test."));
    let p = fake_provider(&fake, 0, SECRET);
    let e = p
        .read(&fq("example.test"), &fq("a.example.test"), RecordType::A)
        .await
        .err()
        .ok_or("a self-referencing page was accepted")?;
    assert!(e.to_string().contains("no progress"), "{e}");
    assert_eq!(fake.requests().len(), 1);
    Ok(())
}
