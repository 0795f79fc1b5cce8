use super::*;
use crate::policy::{Phase, ServiceState};
use dnsfailback_provider::{Change, Fqdn, RecordSet, RecordType};

fn intent() -> Intent {
    let zone = Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}"));
    let name = Fqdn::new("shop.example.test").unwrap_or_else(|e| panic!("{e}"));
    let old = RecordSet::new(name.clone(), RecordType::A, 3600, vec!["192.0.2.1".into()]);
    let new = RecordSet::new(name, RecordType::A, 30, vec!["198.51.100.2".into()]);
    Intent {
        id: 0,
        service: "shop".into(),
        created_ms: 1,
        fencing_token: 1,
        reason: "failover".into(),
        changes: ChangeSet {
            zone,
            changes: vec![Change::Update { old, new }],
        },
        next_state: ServiceState::default(),
    }
}

async fn exercise(store: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(store.service_state("shop").await?, None);
    let mut st = ServiceState {
        original_ttl: Some(3600),
        ..ServiceState::default()
    };
    store.save_service_state("shop", &st).await?;
    st.phase = Phase::FailedOver {
        target: "backup".into(),
        since_ms: 5,
        manual: false,
    };
    st.original_ttl = Some(30);
    store.save_service_state("shop", &st).await?;
    let back = store.service_state("shop").await?.unwrap_or_default();
    assert_eq!(back.phase, st.phase);
    let all = store
        .service_states(&["shop".to_string(), "none".to_string()])
        .await?;
    assert_eq!(all.keys().collect::<Vec<_>>(), vec!["shop"]);
    assert_eq!(all["shop"].phase, st.phase);
    assert_eq!(
        back.original_ttl,
        Some(3600),
        "the original TTL is write-once"
    );

    let id = store.begin_intent(&intent()).await?;
    let open = store.open_intents().await?;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, id);
    assert_eq!(
        open[0].changes.changes[0].before().map(|s| s.ttl),
        Some(3600)
    );
    store
        .finish_intent(id, IntentOutcome::Applied, None)
        .await?;
    assert!(store.open_intents().await?.is_empty());

    for i in 0..3 {
        store
            .audit(&AuditEntry {
                at_ms: i,
                service: "shop".into(),
                actor: "controller".into(),
                action: format!("a{i}"),
                reason: String::new(),
                evidence: serde_json::Value::Null,
                changes: None,
                change_id: None,
            })
            .await?;
    }
    let h = store.history("shop", 2).await?;
    assert_eq!(
        h.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["a2", "a1"]
    );
    Ok(())
}

#[tokio::test]
async fn memory_store_keeps_state_intents_and_audit() -> Result<(), StoreError> {
    exercise(&MemoryStore::default()).await
}

#[tokio::test]
async fn sqlite_store_survives_reopen() -> Result<(), StoreError> {
    let dir = std::env::temp_dir().join(format!("dnsfailback-store-{}", std::process::id()));
    let path = dir.join("state.db");
    let _ = std::fs::remove_file(&path);
    {
        let store = SqliteStore::open(&path)?;
        exercise(&store).await?;
        store.begin_intent(&intent()).await?;
    }
    let store = SqliteStore::open(&path)?;
    assert_eq!(
        store.open_intents().await?.len(),
        1,
        "an open intent survives a restart"
    );
    assert_eq!(
        store
            .service_state("shop")
            .await?
            .and_then(|s| s.original_ttl),
        Some(3600)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn record(id: i64, service: &str, rollback_of: Option<i64>) -> ChangeRecord {
    ChangeRecord {
        id,
        service: service.into(),
        at_ms: id as u64,
        actor: "controller".into(),
        action: "failover".into(),
        changes: intent().changes,
        rollback_of,
        rolled_back_by: None,
    }
}

/// Change records: found by id, newer ones listed per service, a rollback marks its change
/// and a second rollback of the same change is refused.
async fn exercise_changes(store: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(store.change(1).await?, None);
    store
        .record_changes(&[record(1, "shop", None), record(2, "web", None)])
        .await?;
    store.record_changes(&[record(3, "shop", None)]).await?;
    assert_eq!(store.change(1).await?, Some(record(1, "shop", None)));
    let newer: Vec<i64> = store
        .changes_after("shop", 1)
        .await?
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(newer, vec![3], "only the same service's newer changes");
    store.record_changes(&[record(4, "shop", Some(3))]).await?;
    assert_eq!(
        store.change(3).await?.and_then(|c| c.rolled_back_by),
        Some(4)
    );
    let again = store.record_changes(&[record(5, "shop", Some(3))]).await;
    assert!(
        again.is_err_and(|e| e.0.contains("already rolled back by change 4")),
        "a change is rolled back once"
    );
    assert_eq!(
        store.change(5).await?,
        None,
        "the refused record is not kept"
    );
    assert!(store
        .record_changes(&[record(6, "shop", Some(99))])
        .await
        .is_err());
    Ok(())
}

#[tokio::test]
async fn memory_store_keeps_change_records() -> Result<(), StoreError> {
    exercise_changes(&MemoryStore::default()).await
}

#[tokio::test]
async fn sqlite_store_keeps_change_records_across_reopen() -> Result<(), StoreError> {
    let dir = std::env::temp_dir().join(format!("dnsfailback-changes-{}", std::process::id()));
    let path = dir.join("state.db");
    let _ = std::fs::remove_file(&path);
    exercise_changes(&SqliteStore::open(&path)?).await?;
    let store = SqliteStore::open(&path)?;
    assert_eq!(
        store.change(3).await?.and_then(|c| c.rolled_back_by),
        Some(4)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
