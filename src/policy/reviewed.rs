//! A reviewed plan: the file `dnsfailback plan --out` writes and `dnsfailback apply` sends.
//!
//! Part of `policy`, where operators enter the flow (operator -> api -> **policy** -> plan ->
//! provider -> verify): a [`PlanDocument`] is an operator's instruction to make exactly these
//! changes, and only against exactly the records they were planned on. Each entry carries the
//! provider's records as they were read for the plan and their [`records_fingerprint`]; the
//! control loop re-reads the records and refuses when the fingerprint no longer matches. The
//! document's `digest` covers everything in it, so a file edited after review (a changed
//! value, a forged fingerprint) is refused before anything is read.
//! Schema versions: 1 (current). An older or unknown schema is refused, never guessed at.

use dnsfailback_provider::{ChangeSet, RecordSet};
use serde::{Deserialize, Serialize};

use crate::config::Service;

/// The plan file schema this controller writes and accepts.
pub const PLAN_SCHEMA: u32 = 1;

/// A plan file (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDocument {
    /// Missing in a file from before versioning: read as 0 and refused as too old.
    #[serde(default)]
    pub schema: u32,
    pub created_ms: u64,
    pub entries: Vec<PlanEntry>,
    /// SHA-256 of the schema, creation time and entries (see [`PlanDocument::compute_digest`]).
    pub digest: String,
}

/// One service's change in a plan file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanEntry {
    pub service: String,
    /// [`service_fingerprint`] of the service's configuration the plan was made with.
    pub config: String,
    /// The phase the service would be in, and why (for the reviewer).
    pub phase: String,
    pub reason: String,
    /// The provider's record sets of the service's name and type when the plan was made.
    pub records: Vec<RecordSet>,
    /// [`records_fingerprint`] of `records`.
    pub fingerprint: String,
    pub changes: ChangeSet,
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fingerprint of a service's records: SHA-256 of the sets in a fixed order, so any
/// change of a value, TTL, weight or set makes a different fingerprint.
pub fn records_fingerprint(records: &[RecordSet]) -> String {
    let mut sets: Vec<RecordSet> = records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.values.sort();
            r
        })
        .collect();
    sets.sort_by(|a, b| (&a.set_id, &a.values).cmp(&(&b.set_id, &b.values)));
    sha256_hex(&serde_json::to_vec(&sets).unwrap_or_default())
}

/// The fingerprint of what a plan of `service` depends on in the configuration: its name,
/// provider, zone, record, type, TTLs and targets. A plan made with another configuration of
/// the service (another target address, another zone) does not match.
pub fn service_fingerprint(service: &Service) -> String {
    let targets: Vec<_> = service
        .targets
        .iter()
        .map(|t| (&t.name, &t.values, t.priority))
        .collect();
    let text = format!(
        "{:?}",
        (
            &service.name,
            &service.provider,
            service.zone.as_str(),
            service.record.as_str(),
            service.rtype.to_string(),
            service.ttl,
            service.failover_ttl,
            targets
        )
    );
    sha256_hex(text.as_bytes())
}

impl PlanDocument {
    /// A sealed document: the current schema and the digest of `entries`.
    pub fn seal(created_ms: u64, entries: Vec<PlanEntry>) -> Self {
        let mut doc = PlanDocument {
            schema: PLAN_SCHEMA,
            created_ms,
            entries,
            digest: String::new(),
        };
        doc.digest = doc.compute_digest();
        doc
    }

    /// SHA-256 over everything but the digest itself.
    pub fn compute_digest(&self) -> String {
        let body = serde_json::to_vec(&(self.schema, self.created_ms, &self.entries));
        sha256_hex(&body.unwrap_or_default())
    }

    /// Checks what can be checked without the provider: the schema, the digest, and that
    /// each fingerprint is that of the records beside it. The error is the refusal.
    pub fn check_integrity(&self) -> Result<(), String> {
        if self.schema != PLAN_SCHEMA {
            let age = if self.schema < PLAN_SCHEMA {
                "older than"
            } else {
                "newer than"
            };
            return Err(format!(
                "plan file schema {} is {age} this controller's schema {PLAN_SCHEMA}; make the plan again with `dnsfailback plan --out`",
                self.schema
            ));
        }
        if self.compute_digest() != self.digest {
            return Err(
                "the plan file was modified after it was written (its digest does not match); make the plan again".into(),
            );
        }
        for e in &self.entries {
            if records_fingerprint(&e.records) != e.fingerprint {
                return Err(format!(
                    "the fingerprint of `{}` does not match the records in the plan file: it was tampered with",
                    e.service
                ));
            }
        }
        if self.entries.is_empty() {
            return Err("the plan file has no changes to apply".into());
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use dnsfailback_provider::{Fqdn, RecordType};

    fn entry() -> PlanEntry {
        let name = Fqdn::new("shop.example.test").unwrap();
        let records = vec![RecordSet::new(
            name,
            RecordType::A,
            300,
            vec!["192.0.2.1".into()],
        )];
        PlanEntry {
            service: "shop".into(),
            config: "c".into(),
            phase: "normal".into(),
            reason: "r".into(),
            fingerprint: records_fingerprint(&records),
            records,
            changes: ChangeSet::new(Fqdn::new("example.test").unwrap()),
        }
    }

    #[test]
    fn a_sealed_plan_passes_and_any_edit_is_refused() {
        let doc = PlanDocument::seal(1, vec![entry()]);
        assert_eq!(doc.check_integrity(), Ok(()));

        let mut old = doc.clone();
        old.schema = 0;
        let why = old.check_integrity().unwrap_err();
        assert!(why.contains("schema 0 is older"), "{why}");

        let mut edited = doc.clone();
        edited.entries[0].records[0].ttl = 30;
        let why = edited.check_integrity().unwrap_err();
        assert!(why.contains("modified after it was written"), "{why}");

        // A forged fingerprint with a re-computed digest is still caught.
        let mut forged = doc.clone();
        forged.entries[0].fingerprint = "0".repeat(64);
        forged.digest = forged.compute_digest();
        let why = forged.check_integrity().unwrap_err();
        assert!(why.contains("tampered"), "{why}");
    }

    #[test]
    fn the_fingerprint_follows_values_and_ttl_not_order() {
        let e = entry();
        let mut other = e.records.clone();
        other[0].ttl = 30;
        assert_ne!(records_fingerprint(&other), e.fingerprint);
        assert_eq!(records_fingerprint(&e.records), e.fingerprint);
    }
}
