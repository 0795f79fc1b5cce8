//! Large zones: one change set with 10,000 changes applies, is served over real UDP and is
//! persisted, and a restarted provider serves the persisted records at once.
//!
//! No timing assertions (the machine is shared); the tests print how long each step took, so
//! `cargo test -p dnsfailback-provider-embedded --test scale -- --nocapture` shows it.

mod support;

use std::time::Instant;

use dnsfailback_provider::{Change, ChangeSet, Provider, RecordType as T};
use hickory_net::proto::rr::RecordType;
use support::{a_set, a_values, config, fq, started, Dns, Scratch, TestResult};

const N: usize = 10_000;

fn name(i: usize) -> String {
    format!("s{i:05}.example.test")
}

fn creates(ip: &str) -> ChangeSet {
    ChangeSet {
        zone: fq("example.test"),
        changes: (0..N)
            .map(|i| Change::Create {
                new: a_set(&name(i), 300, &[ip]),
            })
            .collect(),
    }
}

/// Updates every other name from `old` to `new` and creates `N / 2` further names: 10,000
/// changes, creates and updates mixed, in one change set.
fn mixed(old: &str, new: &str) -> ChangeSet {
    let mut changes = Vec::with_capacity(N);
    for i in (0..N).step_by(2) {
        changes.push(Change::Update {
            old: a_set(&name(i), 300, &[old]),
            new: a_set(&name(i), 30, &[new]),
        });
    }
    for i in N..N + N / 2 {
        changes.push(Change::Create {
            new: a_set(&name(i), 300, &[new]),
        });
    }
    ChangeSet {
        zone: fq("example.test"),
        changes,
    }
}

async fn answer(dns: &mut Dns, i: usize) -> Result<Vec<String>, String> {
    let m = dns.query(&format!("{}.", name(i)), RecordType::A).await?;
    Ok(a_values(&m))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_changes_in_one_set_apply_serve_and_persist() -> TestResult {
    let dir = Scratch::new("scale")?;
    let file = dir.file("zones.json");
    let mut cfg = config(&["example.test"]);
    cfg.data_file = Some(file.clone());
    let zone = fq("example.test");

    let (p, addr) = started(cfg.clone()).await?;
    let t = Instant::now();
    p.apply(&creates("192.0.2.1")).await?;
    eprintln!("apply of {N} creates: {:?}", t.elapsed());
    let t = Instant::now();
    p.apply(&mixed("192.0.2.1", "192.0.2.2")).await?;
    eprintln!(
        "apply of {} updates + {} creates: {:?}",
        N / 2,
        N / 2,
        t.elapsed()
    );
    let t = Instant::now();
    let all = p.read_zone(&zone).await?;
    eprintln!("read_zone of {} sets: {:?}", all.len(), t.elapsed());
    assert_eq!(all.len(), N + N / 2);
    let t = Instant::now();
    for i in [0, 1, 4_999, N - 1, N + N / 2 - 1] {
        let sets = p.read(&zone, &fq(&name(i)), T::A).await?;
        let want = if i % 2 == 0 || i >= N {
            "192.0.2.2"
        } else {
            "192.0.2.1"
        };
        assert_eq!(sets.len(), 1, "{}", name(i));
        assert_eq!(sets[0].values, vec![want.to_string()], "{}", name(i));
    }
    eprintln!("5 reads: {:?}", t.elapsed());

    let mut dns = Dns::udp(addr).await;
    assert_eq!(answer(&mut dns, 0).await?, vec!["192.0.2.2"]);
    assert_eq!(answer(&mut dns, 1).await?, vec!["192.0.2.1"]);
    assert_eq!(answer(&mut dns, N - 1).await?, vec!["192.0.2.1"]);
    assert_eq!(answer(&mut dns, N + 7).await?, vec!["192.0.2.2"]);
    let m = dns.query("s99999.example.test.", RecordType::A).await?;
    assert_eq!(
        m.metadata.response_code,
        hickory_net::proto::op::ResponseCode::NXDomain
    );

    // A conflicting batch (one stale `old` among thousands) changes nothing.
    let mut stale = mixed("192.0.2.2", "192.0.2.3");
    stale.changes.truncate(N / 2);
    stale.changes.push(Change::Update {
        old: a_set(&name(1), 300, &["198.51.100.99"]),
        new: a_set(&name(1), 300, &["192.0.2.3"]),
    });
    let err = p.apply(&stale).await.err().ok_or("stale batch applied")?;
    assert!(err.is_conflict(), "{err}");
    assert_eq!(answer(&mut dns, 0).await?, vec!["192.0.2.2"]);

    // Persisted: the file holds every set.
    let text = std::fs::read_to_string(&file)?;
    assert_eq!(text.matches("\"rtype\"").count(), N + N / 2);
    p.shutdown().await;
    drop(p);

    // A restarted provider answers from the file before anything is applied.
    let t = Instant::now();
    let (p, addr) = started(cfg).await?;
    eprintln!("restart with {} sets: {:?}", N + N / 2, t.elapsed());
    let mut dns = Dns::udp(addr).await;
    assert_eq!(answer(&mut dns, 0).await?, vec!["192.0.2.2"]);
    assert_eq!(answer(&mut dns, 3).await?, vec!["192.0.2.1"]);
    assert_eq!(answer(&mut dns, N + N / 2 - 1).await?, vec!["192.0.2.2"]);
    assert_eq!(p.read_zone(&zone).await?.len(), N + N / 2);
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn deletes_in_a_large_batch_leave_empty_non_terminals_consistent() -> TestResult {
    let (p, addr) = started(config(&["example.test"])).await?;
    let zone = fq("example.test");
    let deep = |i: usize| format!("x{i}.deep.example.test");
    let cs = ChangeSet {
        zone: zone.clone(),
        changes: (0..1_000)
            .map(|i| Change::Create {
                new: a_set(&deep(i), 60, &["192.0.2.9"]),
            })
            .collect(),
    };
    p.apply(&cs).await?;
    let mut dns = Dns::udp(addr).await;
    // `deep.example.test` has names below it only: NODATA, not NXDOMAIN.
    let m = dns.query("deep.example.test.", RecordType::A).await?;
    assert_eq!(
        m.metadata.response_code,
        hickory_net::proto::op::ResponseCode::NoError
    );
    // Delete all but one: still an empty non-terminal.
    let cs = ChangeSet {
        zone: zone.clone(),
        changes: (1..1_000)
            .map(|i| Change::Delete {
                old: a_set(&deep(i), 60, &["192.0.2.9"]),
            })
            .collect(),
    };
    p.apply(&cs).await?;
    let m = dns.query("deep.example.test.", RecordType::A).await?;
    assert_eq!(
        m.metadata.response_code,
        hickory_net::proto::op::ResponseCode::NoError
    );
    // Delete the last one: the name is gone.
    p.apply(&ChangeSet {
        zone,
        changes: vec![Change::Delete {
            old: a_set(&deep(0), 60, &["192.0.2.9"]),
        }],
    })
    .await?;
    let m = dns.query("deep.example.test.", RecordType::A).await?;
    assert_eq!(
        m.metadata.response_code,
        hickory_net::proto::op::ResponseCode::NXDomain
    );
    p.shutdown().await;
    Ok(())
}
