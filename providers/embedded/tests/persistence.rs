//! The data file: changes survive a restart, writes are atomic, corrupt files are explained.

mod support;

use dnsfailback_provider::{Change, ErrorKind, Provider, RecordType as T};
use dnsfailback_provider_embedded::EmbeddedProvider;
use hickory_net::proto::rr::RecordType;
use support::{a_set, a_values, apply, config, fq, started, Dns, Scratch, TestResult};

#[tokio::test]
async fn records_survive_a_restart() -> TestResult {
    let dir = Scratch::new("restart")?;
    let file = dir.file("state/zones.json");
    let mut cfg = config(&["example.test"]);
    cfg.data_file = Some(file.clone());
    let serial = {
        let (p, _addr) = started(cfg.clone()).await?;
        apply(
            &p,
            "example.test",
            vec![
                Change::Create {
                    new: a_set("shop.example.test", 30, &["198.51.100.20"]),
                },
                Change::Create {
                    new: dnsfailback_provider::RecordSet::weighted(
                        fq("www.example.test"),
                        T::A,
                        60,
                        vec!["192.0.2.1".into()],
                        "primary",
                        5,
                    ),
                },
            ],
        )
        .await?;
        // Persisted before apply returned; no temporary file is left behind.
        assert!(file.exists());
        assert!(!dir.file("state/zones.json.tmp").exists());
        let serial = p.soa(&fq("example.test")).await?.map(|s| s.serial);
        p.shutdown().await;
        serial
        // dropped here
    };

    let (p, addr) = started(cfg).await?;
    let sets = p
        .read(&fq("example.test"), &fq("shop.example.test"), T::A)
        .await?;
    assert_eq!(
        sets,
        vec![a_set("shop.example.test", 30, &["198.51.100.20"])]
    );
    let www = p
        .read(&fq("example.test"), &fq("www.example.test"), T::A)
        .await?;
    assert_eq!(www.first().and_then(|s| s.weight), Some(5));
    assert_eq!(p.soa(&fq("example.test")).await?.map(|s| s.serial), serial);
    let mut dns = Dns::udp(addr).await;
    let m = dns.query("shop.example.test.", RecordType::A).await?;
    assert_eq!(a_values(&m), vec!["198.51.100.20"]);
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn corrupt_data_file_is_a_clear_error() -> TestResult {
    let dir = Scratch::new("corrupt")?;
    let file = dir.file("zones.json");
    std::fs::write(
        &file,
        b"{\"version\": 1, \"zones\": {\"example.test.\": [truncated",
    )?;
    let mut cfg = config(&["example.test"]);
    cfg.data_file = Some(file.clone());
    let err = EmbeddedProvider::new("local", cfg)
        .err()
        .ok_or("corrupt file was accepted")?;
    let msg = err.to_string();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(msg.starts_with("local: "), "{msg}");
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(msg.contains("corrupt"), "{msg}");
    Ok(())
}

#[tokio::test]
async fn unwritable_data_file_fails_the_apply_and_changes_nothing() -> TestResult {
    let dir = Scratch::new("unwritable")?;
    // A directory appears where the file should be: the rename fails, so the apply must too.
    let file = dir.file("zones.json");
    let mut cfg = config(&["example.test"]);
    cfg.data_file = Some(file.clone());
    let (p, addr) = started(cfg).await?;
    std::fs::create_dir_all(file.join("blocker"))?;
    let cs = dnsfailback_provider::ChangeSet {
        zone: fq("example.test"),
        changes: vec![Change::Create {
            new: a_set("shop.example.test", 60, &["192.0.2.1"]),
        }],
    };
    let err = p
        .apply(&cs)
        .await
        .err()
        .ok_or("apply succeeded without persisting")?;
    assert!(err.not_applied(), "{err}");
    assert!(err.to_string().starts_with("local: "), "{err}");
    assert!(p
        .read(&fq("example.test"), &fq("shop.example.test"), T::A)
        .await?
        .is_empty());
    let mut dns = Dns::udp(addr).await;
    let m = dns.query("shop.example.test.", RecordType::A).await?;
    assert!(a_values(&m).is_empty());
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn unknown_zone_is_not_found() -> TestResult {
    let (p, _addr) = started(config(&["example.test"])).await?;
    let err = p
        .read(&fq("other.test"), &fq("a.other.test"), T::A)
        .await
        .err()
        .ok_or("read of an unknown zone succeeded")?;
    assert_eq!(err.kind, ErrorKind::NotFound);
    let e = apply(
        &p,
        "other.test",
        vec![Change::Create {
            new: a_set("a.other.test", 60, &["192.0.2.1"]),
        }],
    )
    .await
    .err()
    .unwrap_or_default();
    assert!(e.contains("not served"), "{e}");
    p.shutdown().await;
    Ok(())
}
