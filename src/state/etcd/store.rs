//! The shared store of several controllers: service states, the intent journal and the audit
//! trail as JSON values under one etcd prefix, every journal and state write fenced by the
//! writer's leader lease.
//!
//! Part of `state`; same contract as the SQLite store (see [`Store`]). Keys:
//! - `{prefix}/leader`: the lease holder's name ([`EtcdLeadership`]);
//! - `{prefix}/state/{service}`: the service's [`ServiceState`]; its original TTL is
//!   write-once, as in SQLite;
//! - `{prefix}/intent/{id}`: open intents (deleted when closed; the audit trail keeps the
//!   outcome);
//! - `{prefix}/audit/{service}/{at_ms}-{token}-{seq}`: the audit trail;
//! - `{prefix}/change/{service}/{id}`: applied changes ([`ChangeRecord`]), and
//!   `{prefix}/change-id/{id}`: the service of change `id`, to find it by id.
//!
//! Fencing: a state or intent write is a transaction that only succeeds while the leader key
//! still has the creation revision this controller won it with. A controller that lost its
//! lease (paused, partitioned) and wakes up can therefore not overwrite what the new leader
//! wrote, even before it notices it lost.

use std::sync::atomic::{AtomicU64, Ordering};

use super::client::{created_at, delete, modified_at, put, EtcdClient, Kv};
use super::leadership::EtcdLeadership;
use crate::policy::ServiceState;
use crate::state::{
    AuditEntry, ChangeRecord, Intent, IntentOutcome, Leadership, Store, StoreError,
};

/// See the module docs.
pub struct EtcdStore {
    client: EtcdClient,
    prefix: String,
    leadership: std::sync::Arc<EtcdLeadership>,
    seq: AtomicU64,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("{what}: {e}"))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, kv: &Kv) -> Result<T, StoreError> {
    serde_json::from_slice(&kv.value).map_err(|e| {
        err(
            what,
            format!("`{}` is not valid: {e}", String::from_utf8_lossy(&kv.key)),
        )
    })
}

fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| err("encode", e))
}

impl EtcdStore {
    pub(crate) fn new(
        client: EtcdClient,
        prefix: &str,
        leadership: std::sync::Arc<EtcdLeadership>,
    ) -> Self {
        EtcdStore {
            client,
            prefix: prefix.trim_end_matches('/').to_string(),
            leadership,
            seq: AtomicU64::new(0),
        }
    }

    fn key(&self, rest: &str) -> Vec<u8> {
        format!("{}/{rest}", self.prefix).into_bytes()
    }

    /// The compare that fences a write: our leader key is still there, as we created it.
    fn fence(&self, what: &str) -> Result<serde_json::Value, StoreError> {
        if !self.leadership.is_leader() {
            return Err(StoreError(format!(
                "{what}: not the leader (the lease is held by {})",
                self.leadership.holder().unwrap_or_else(|| "nobody".into())
            )));
        }
        let token = i64::try_from(self.leadership.fencing_token()).unwrap_or(i64::MAX);
        Ok(created_at(self.leadership.key(), token))
    }

    async fn fenced(
        &self,
        what: &str,
        mut compare: Vec<serde_json::Value>,
        success: Vec<serde_json::Value>,
    ) -> Result<(), StoreError> {
        compare.insert(0, self.fence(what)?);
        let t = self
            .client
            .txn(compare, success, vec![])
            .await
            .map_err(|e| err(what, e))?;
        if t.succeeded {
            Ok(())
        } else {
            Err(StoreError(format!(
                "{what}: refused by etcd: this controller's leader lease is gone (fenced) or another writer changed the value"
            )))
        }
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst) + 1
    }
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn service_state(&self, service: &str) -> Result<Option<ServiceState>, StoreError> {
        let kv = self
            .client
            .get(&self.key(&format!("state/{service}")))
            .await
            .map_err(|e| err("read service state", e))?;
        kv.map(|kv| parse("read service state", &kv)).transpose()
    }

    async fn service_states(
        &self,
        services: &[String],
    ) -> Result<std::collections::BTreeMap<String, ServiceState>, StoreError> {
        let prefix = format!("{}/state/", self.prefix);
        let kvs = self
            .client
            .list(prefix.as_bytes(), 0, false)
            .await
            .map_err(|e| err("read service states", e))?;
        let mut out = std::collections::BTreeMap::new();
        for kv in &kvs {
            let Some(rest) = kv.key.get(prefix.len()..) else {
                continue;
            };
            let name = String::from_utf8_lossy(rest).into_owned();
            if services.contains(&name) {
                out.insert(name, parse("read service states", kv)?);
            }
        }
        Ok(out)
    }

    async fn save_service_state(
        &self,
        service: &str,
        state: &ServiceState,
    ) -> Result<(), StoreError> {
        let key = self.key(&format!("state/{service}"));
        let current = self
            .client
            .get(&key)
            .await
            .map_err(|e| err("save service state", e))?;
        let mut state = state.clone();
        let guard = match &current {
            Some(kv) => {
                let old: ServiceState = parse("save service state", kv)?;
                // Write-once, as the SQLite column: a recorded original TTL is never replaced.
                if old.original_ttl.is_some() {
                    state.original_ttl = old.original_ttl;
                }
                modified_at(&key, kv.mod_revision)
            }
            None => created_at(&key, 0),
        };
        self.fenced(
            "save service state",
            vec![guard],
            vec![put(&key, &json(&state)?, None)],
        )
        .await
    }

    async fn begin_intent(&self, intent: &Intent) -> Result<i64, StoreError> {
        // Unique across controllers: leaders have distinct tokens.
        let id = i64::try_from(
            self.leadership
                .fencing_token()
                .saturating_mul(1_000_000)
                .saturating_add(self.next_seq()),
        )
        .unwrap_or(i64::MAX);
        let mut intent = intent.clone();
        intent.id = id;
        let key = self.key(&format!("intent/{id:020}"));
        self.fenced(
            "write intent",
            vec![created_at(&key, 0)],
            vec![put(&key, &json(&intent)?, None)],
        )
        .await?;
        Ok(id)
    }

    async fn finish_intent(
        &self,
        id: i64,
        outcome: IntentOutcome,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let key = self.key(&format!("intent/{id:020}"));
        let kv = self
            .client
            .get(&key)
            .await
            .map_err(|e| err("close intent", e))?
            .ok_or_else(|| StoreError(format!("no intent {id}")))?;
        tracing::debug!(id, outcome = outcome.as_str(), error, "closing intent");
        self.fenced(
            "close intent",
            vec![modified_at(&key, kv.mod_revision)],
            vec![delete(&key)],
        )
        .await
    }

    async fn open_intents(&self) -> Result<Vec<Intent>, StoreError> {
        let kvs = self
            .client
            .list(&self.key("intent/"), 0, false)
            .await
            .map_err(|e| err("read intents", e))?;
        kvs.iter().map(|kv| parse("read intents", kv)).collect()
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        // Not fenced: any controller may record what it saw or was asked; keys never collide.
        let key = self.key(&format!(
            "audit/{}/{:016}-{:010}-{:06}",
            entry.service,
            entry.at_ms,
            self.leadership.fencing_token(),
            self.next_seq()
        ));
        let t = self
            .client
            .txn(
                vec![created_at(&key, 0)],
                vec![put(&key, &json(entry)?, None)],
                vec![],
            )
            .await
            .map_err(|e| err("write audit", e))?;
        if t.succeeded {
            Ok(())
        } else {
            Err(StoreError(
                "write audit: the entry's key exists already".into(),
            ))
        }
    }

    async fn history(&self, service: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let kvs = self
            .client
            .list(&self.key(&format!("audit/{service}/")), limit, true)
            .await
            .map_err(|e| err("read audit", e))?;
        kvs.iter().map(|kv| parse("read audit", kv)).collect()
    }

    async fn record_changes(&self, records: &[ChangeRecord]) -> Result<(), StoreError> {
        for r in records {
            let mut compare = Vec::new();
            let mut success = Vec::new();
            if let Some(of) = r.rollback_of {
                let key = self.change_key(of).await?;
                let kv = match &key {
                    Some(k) => self
                        .client
                        .get(k)
                        .await
                        .map_err(|e| err("record changes", e))?,
                    None => None,
                };
                let mut old: Option<ChangeRecord> = kv
                    .as_ref()
                    .map(|kv| parse("record changes", kv))
                    .transpose()?;
                crate::state::changes::check_rollback_of(old.as_ref(), of)?;
                if let (Some(k), Some(kv), Some(o)) = (key, kv, old.as_mut()) {
                    o.rolled_back_by = Some(r.id);
                    compare.push(modified_at(&k, kv.mod_revision));
                    success.push(put(&k, &json(o)?, None));
                }
            }
            let key = self.key(&format!("change/{}/{:020}", r.service, r.id));
            success.push(put(&key, &json(r)?, None));
            let by_id = self.key(&format!("change-id/{:020}", r.id));
            success.push(put(&by_id, r.service.as_bytes(), None));
            self.fenced("record changes", compare, success).await?;
        }
        Ok(())
    }

    async fn change(&self, id: i64) -> Result<Option<ChangeRecord>, StoreError> {
        let Some(key) = self.change_key(id).await? else {
            return Ok(None);
        };
        let kv = self
            .client
            .get(&key)
            .await
            .map_err(|e| err("read change", e))?;
        kv.map(|kv| parse("read change", &kv)).transpose()
    }

    async fn changes_after(&self, service: &str, id: i64) -> Result<Vec<ChangeRecord>, StoreError> {
        let kvs = self
            .client
            .list(&self.key(&format!("change/{service}/")), 0, false)
            .await
            .map_err(|e| err("read changes", e))?;
        let all: Vec<ChangeRecord> = kvs
            .iter()
            .map(|kv| parse("read changes", kv))
            .collect::<Result<_, _>>()?;
        Ok(all.into_iter().filter(|c| c.id > id).collect())
    }
}

impl EtcdStore {
    /// The key of change `id`'s record, found through its `change-id` entry.
    async fn change_key(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let kv = self
            .client
            .get(&self.key(&format!("change-id/{id:020}")))
            .await
            .map_err(|e| err("read change", e))?;
        Ok(kv.map(|kv| {
            let service = String::from_utf8_lossy(&kv.value);
            self.key(&format!("change/{service}/{id:020}"))
        }))
    }
}
