//! Two-person rule: pending operator actions waiting for a second operator.
//!
//! Beside the flow (operator -> api -> **approval** -> policy): for a service configured with
//! `approval = "two-person"`, an operator's command is parked here instead of being sent to the
//! control loop. A different operator's `approve` takes it out and sends it; nobody approving
//! before `approval_timeout` lets it expire.
//!
//! Pending approvals live in memory only: a restart drops them. That is deliberate, they are
//! requests, not changes; nothing has been done to DNS yet, and the requester simply asks
//! again. Each request, approval and expiry is written to the audit trail by the handlers.
//! Expired requests are kept as tombstones for a while so a late `approve` learns "expired"
//! (410) rather than "unknown" (404).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::policy::command::Operation;

/// How many expired requests are remembered for a 410 answer.
const TOMBSTONES: usize = 256;

/// One parked command, as listed by `GET /v1/approvals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// What the second operator passes to `approve`.
    pub id: String,
    pub service: String,
    /// The command that will be sent once approved (`{"op": "failover", "to": ...}`).
    #[serde(flatten)]
    pub op: Operation,
    /// The operator who asked (token name).
    pub requester: String,
    pub requested_at_ms: u64,
    /// After this the request can no longer be approved.
    pub expires_at_ms: u64,
}

/// Why an approval could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApproveError {
    /// No such pending request (never existed, already approved, or dropped by a restart).
    NotFound,
    /// The approver is the requester; the request stays pending.
    OwnRequest,
    /// The request expired just now (removed by this call): audit the expiry.
    Expired(Box<PendingApproval>),
    /// The request had already expired (and its expiry was audited then).
    AlreadyExpired(Box<PendingApproval>),
}

#[derive(Default)]
struct Inner {
    pending: BTreeMap<String, PendingApproval>,
    expired: VecDeque<PendingApproval>,
}

/// The in-memory set of pending approvals, shared by the handlers (cheap to clone).
#[derive(Clone, Default)]
pub struct Approvals {
    inner: Arc<Mutex<Inner>>,
}

impl Approvals {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks `op` on `service` for a second operator; returns the new request.
    pub fn request(
        &self,
        service: &str,
        op: Operation,
        requester: &str,
        timeout: Duration,
        now_ms: u64,
    ) -> PendingApproval {
        let mut inner = self.lock();
        let id = loop {
            let id = format!("{:08x}", fastrand::u32(..));
            if !inner.pending.contains_key(&id) && !inner.expired.iter().any(|p| p.id == id) {
                break id;
            }
        };
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let p = PendingApproval {
            id: id.clone(),
            service: service.to_string(),
            op,
            requester: requester.to_string(),
            requested_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(timeout_ms),
        };
        inner.pending.insert(id, p.clone());
        p
    }

    /// Takes the request `id` for `approver`: removes and returns it unless it is unknown,
    /// the approver's own (left pending), or expired (removed and reported as `Expired` once,
    /// then remembered, so a repeated approve still learns it expired).
    pub fn take(
        &self,
        id: &str,
        approver: &str,
        now_ms: u64,
    ) -> Result<PendingApproval, ApproveError> {
        let mut inner = self.lock();
        let Some(p) = inner.pending.get(id) else {
            return match inner.expired.iter().find(|p| p.id == id) {
                Some(p) => Err(ApproveError::AlreadyExpired(Box::new(p.clone()))),
                None => Err(ApproveError::NotFound),
            };
        };
        if p.requester == approver {
            return Err(ApproveError::OwnRequest);
        }
        let expired = now_ms >= p.expires_at_ms;
        let Some(p) = inner.pending.remove(id) else {
            return Err(ApproveError::NotFound);
        };
        if expired {
            Self::bury(&mut inner, p.clone());
            return Err(ApproveError::Expired(Box::new(p)));
        }
        Ok(p)
    }

    /// Puts a taken request back (its approval could not be recorded).
    pub fn restore(&self, p: PendingApproval) {
        self.lock().pending.insert(p.id.clone(), p);
    }

    /// Forgets a request that could not be recorded when it was made.
    pub fn forget(&self, id: &str) {
        self.lock().pending.remove(id);
    }

    /// Removes every request expired at `now_ms` and returns them (for the audit trail).
    pub fn sweep(&self, now_ms: u64) -> Vec<PendingApproval> {
        let mut inner = self.lock();
        let ids: Vec<String> = inner
            .pending
            .values()
            .filter(|p| now_ms >= p.expires_at_ms)
            .map(|p| p.id.clone())
            .collect();
        let mut out = Vec::new();
        for id in ids {
            if let Some(p) = inner.pending.remove(&id) {
                Self::bury(&mut inner, p.clone());
                out.push(p);
            }
        }
        out
    }

    /// The pending requests, oldest first.
    pub fn list(&self) -> Vec<PendingApproval> {
        let mut v: Vec<PendingApproval> = self.lock().pending.values().cloned().collect();
        v.sort_by(|a, b| {
            a.requested_at_ms
                .cmp(&b.requested_at_ms)
                .then(a.id.cmp(&b.id))
        });
        v
    }

    fn bury(inner: &mut Inner, p: PendingApproval) {
        if inner.expired.len() >= TOMBSTONES {
            inner.expired.pop_front();
        }
        inner.expired.push_back(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn another_operator_takes_a_request_once() {
        let a = Approvals::default();
        let p = a.request("web", Operation::Hold, "alice", MIN, 1_000);
        assert_eq!(p.expires_at_ms, 61_000);
        assert_eq!(a.list(), vec![p.clone()]);
        assert_eq!(a.take(&p.id, "alice", 2_000), Err(ApproveError::OwnRequest));
        assert_eq!(
            a.list().len(),
            1,
            "a refused self-approval leaves the request pending"
        );
        assert_eq!(a.take(&p.id, "bob", 2_000), Ok(p.clone()));
        assert_eq!(a.take(&p.id, "bob", 2_000), Err(ApproveError::NotFound));
        assert!(a.list().is_empty());
    }

    #[test]
    fn expired_requests_are_removed_and_remembered() {
        let a = Approvals::default();
        let p = a.request("web", Operation::Abort, "alice", MIN, 0);
        assert_eq!(
            a.take(&p.id, "bob", 60_000),
            Err(ApproveError::Expired(Box::new(p.clone())))
        );
        assert!(a.list().is_empty());
        assert_eq!(
            a.take(&p.id, "bob", 60_001),
            Err(ApproveError::AlreadyExpired(Box::new(p.clone())))
        );

        let q = a.request("web", Operation::Resume, "alice", MIN, 0);
        let r = a.request("web", Operation::Resume, "alice", MIN * 2, 0);
        assert_eq!(a.sweep(59_999), Vec::new());
        assert_eq!(a.sweep(60_000), vec![q.clone()]);
        assert_eq!(a.list(), vec![r]);
        assert_eq!(
            a.take(&q.id, "bob", 60_000),
            Err(ApproveError::AlreadyExpired(Box::new(q)))
        );
    }

    #[test]
    fn serializes_the_operation_inline() {
        let a = Approvals::default();
        let p = a.request(
            "web",
            Operation::Failover {
                to: Some("backup".into()),
            },
            "alice",
            MIN,
            5,
        );
        let v = serde_json::to_value(&p).unwrap_or_default();
        assert_eq!(v["op"], "failover");
        assert_eq!(v["to"], "backup");
        assert_eq!(v["requester"], "alice");
        let back: PendingApproval = serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, p);
    }
}
