//! The default [`Store`]: one SQLite file (WAL, `synchronous=FULL`), so every write is on disk
//! before the provider is called. Chosen in docs/decisions/0002-state-store.md.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};

use super::{AuditEntry, ChangeRecord, Intent, IntentClose, IntentOutcome, Store, StoreError};
use crate::policy::ServiceState;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS service_state (
    service TEXT PRIMARY KEY,
    state   TEXT NOT NULL,
    original_ttl INTEGER
);
CREATE TABLE IF NOT EXISTS intents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    service       TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    fencing_token INTEGER NOT NULL,
    body          TEXT NOT NULL,
    outcome       TEXT,
    error         TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms   INTEGER NOT NULL,
    service TEXT NOT NULL,
    body    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_service ON audit(service, id);
CREATE TABLE IF NOT EXISTS changes (
    id             INTEGER PRIMARY KEY,
    service        TEXT NOT NULL,
    body           TEXT NOT NULL,
    rolled_back_by INTEGER
);
CREATE INDEX IF NOT EXISTS changes_service ON changes(service, id);
";

/// See the module docs.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn err(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("{context}: {e}"))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(&format!("cannot create {}", dir.display()), e))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| err(&format!("cannot open {}", path.display()), e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;",
        )
        .map_err(|e| err("cannot configure sqlite", e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| err("cannot create schema", e))?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one transaction: a batch of writes costs one fsync, not one per row.
    fn batch<T>(
        &self,
        context: &str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| err(context, e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| err(context, e))?;
        Ok(out)
    }
}

const SAVE_STATE: &str =
    "INSERT INTO service_state (service, state, original_ttl) VALUES (?1, ?2, ?3)
     ON CONFLICT(service) DO UPDATE SET state = excluded.state,
       original_ttl = COALESCE(service_state.original_ttl, excluded.original_ttl)";
const BEGIN_INTENT: &str =
    "INSERT INTO intents (service, created_ms, fencing_token, body) VALUES (?1, ?2, ?3, ?4)";
const FINISH_INTENT: &str = "UPDATE intents SET outcome = ?2, error = ?3 WHERE id = ?1";
const AUDIT: &str = "INSERT INTO audit (at_ms, service, body) VALUES (?1, ?2, ?3)";

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| err("cannot encode", e))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| err("corrupt row in state store", e))
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn service_state(&self, service: &str) -> Result<Option<ServiceState>, StoreError> {
        let row: Option<(String, Option<u32>)> = self
            .conn()
            .query_row(
                "SELECT state, original_ttl FROM service_state WHERE service = ?1",
                params![service],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| err("read service state", e))?;
        row.map(|(s, ttl)| {
            let mut st: ServiceState = from_json(&s)?;
            // The original TTL column is write-once; it wins over the JSON copy.
            if ttl.is_some() {
                st.original_ttl = ttl;
            }
            Ok(st)
        })
        .transpose()
    }

    async fn save_service_state(
        &self,
        service: &str,
        state: &ServiceState,
    ) -> Result<(), StoreError> {
        // COALESCE keeps an original TTL once recorded: it is never overwritten or lost.
        self.conn()
            .execute(
                SAVE_STATE,
                params![service, to_json(state)?, state.original_ttl],
            )
            .map(|_| ())
            .map_err(|e| err("save service state", e))
    }

    async fn begin_intent(&self, intent: &Intent) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            BEGIN_INTENT,
            params![
                intent.service,
                intent.created_ms as i64,
                intent.fencing_token as i64,
                to_json(intent)?
            ],
        )
        .map_err(|e| err("write intent", e))?;
        Ok(conn.last_insert_rowid())
    }

    async fn finish_intent(
        &self,
        id: i64,
        outcome: IntentOutcome,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let n = self
            .conn()
            .execute(FINISH_INTENT, params![id, outcome.as_str(), error])
            .map_err(|e| err("close intent", e))?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError(format!("no intent {id}")))
        }
    }

    async fn open_intents(&self) -> Result<Vec<Intent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, body FROM intents WHERE outcome IS NULL ORDER BY id")
            .map_err(|e| err("read intents", e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| err("read intents", e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row.map_err(|e| err("read intents", e))?;
            let mut intent: Intent = from_json(&body)?;
            intent.id = id;
            out.push(intent);
        }
        Ok(out)
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.conn()
            .execute(
                AUDIT,
                params![entry.at_ms as i64, entry.service, to_json(entry)?],
            )
            .map(|_| ())
            .map_err(|e| err("write audit", e))
    }

    async fn save_service_states(
        &self,
        states: &[(String, ServiceState)],
    ) -> Result<(), StoreError> {
        self.batch("save service states", |tx| {
            let mut stmt = tx
                .prepare_cached(SAVE_STATE)
                .map_err(|e| err("save service state", e))?;
            for (service, state) in states {
                stmt.execute(params![service, to_json(state)?, state.original_ttl])
                    .map_err(|e| err("save service state", e))?;
            }
            Ok(())
        })
    }

    async fn begin_intents(&self, intents: &[Intent]) -> Result<Vec<i64>, StoreError> {
        self.batch("write intents", |tx| {
            let mut stmt = tx
                .prepare_cached(BEGIN_INTENT)
                .map_err(|e| err("write intent", e))?;
            let mut ids = Vec::with_capacity(intents.len());
            for i in intents {
                stmt.execute(params![
                    i.service,
                    i.created_ms as i64,
                    i.fencing_token as i64,
                    to_json(i)?
                ])
                .map_err(|e| err("write intent", e))?;
                ids.push(tx.last_insert_rowid());
            }
            Ok(ids)
        })
    }

    async fn finish_intents(&self, done: &[IntentClose]) -> Result<(), StoreError> {
        self.batch("close intents", |tx| {
            let mut stmt = tx
                .prepare_cached(FINISH_INTENT)
                .map_err(|e| err("close intent", e))?;
            for d in done {
                let n = stmt
                    .execute(params![d.id, d.outcome.as_str(), d.error])
                    .map_err(|e| err("close intent", e))?;
                if n != 1 {
                    return Err(StoreError(format!("no intent {}", d.id)));
                }
            }
            Ok(())
        })
    }

    async fn audit_many(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        self.batch("write audit", |tx| {
            let mut stmt = tx
                .prepare_cached(AUDIT)
                .map_err(|e| err("write audit", e))?;
            for e in entries {
                stmt.execute(params![e.at_ms as i64, e.service, to_json(e)?])
                    .map_err(|e| err("write audit", e))?;
            }
            Ok(())
        })
    }

    async fn history(&self, service: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT body FROM audit WHERE service = ?1 ORDER BY id DESC LIMIT ?2")
            .map_err(|e| err("read audit", e))?;
        let rows = stmt
            .query_map(params![service, limit as i64], |r| r.get::<_, String>(0))
            .map_err(|e| err("read audit", e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(from_json(&row.map_err(|e| err("read audit", e))?)?);
        }
        Ok(out)
    }

    async fn record_changes(&self, records: &[ChangeRecord]) -> Result<(), StoreError> {
        self.batch("record changes", |tx| {
            for r in records {
                if let Some(of) = r.rollback_of {
                    let n = tx
                        .execute(
                            "UPDATE changes SET rolled_back_by = ?2 WHERE id = ?1 AND rolled_back_by IS NULL",
                            params![of, r.id],
                        )
                        .map_err(|e| err("record changes", e))?;
                    if n != 1 {
                        let row = read_change(tx, of)?;
                        super::changes::check_rollback_of(row.as_ref(), of)?;
                    }
                }
                tx.execute(
                    "INSERT OR REPLACE INTO changes (id, service, body) VALUES (?1, ?2, ?3)",
                    params![r.id, r.service, to_json(r)?],
                )
                .map_err(|e| err("record changes", e))?;
            }
            Ok(())
        })
    }

    async fn change(&self, id: i64) -> Result<Option<ChangeRecord>, StoreError> {
        read_change(&self.conn(), id)
    }

    async fn changes_after(&self, service: &str, id: i64) -> Result<Vec<ChangeRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT body, rolled_back_by FROM changes WHERE service = ?1 AND id > ?2 ORDER BY id")
            .map_err(|e| err("read changes", e))?;
        let rows = stmt
            .query_map(params![service, id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| err("read changes", e))?;
        let mut out = Vec::new();
        for row in rows {
            let (body, by): (String, Option<i64>) = row.map_err(|e| err("read changes", e))?;
            let mut c: ChangeRecord = from_json(&body)?;
            c.rolled_back_by = by;
            out.push(c);
        }
        Ok(out)
    }
}

/// One change record; the `rolled_back_by` column wins over the JSON copy.
fn read_change(conn: &Connection, id: i64) -> Result<Option<ChangeRecord>, StoreError> {
    let row: Option<(String, Option<i64>)> = conn
        .query_row(
            "SELECT body, rolled_back_by FROM changes WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| err("read change", e))?;
    row.map(|(body, by)| {
        let mut c: ChangeRecord = from_json(&body)?;
        c.rolled_back_by = by;
        Ok(c)
    })
    .transpose()
}
