//! Leader election on an etcd lease: one controller holds `{prefix}/leader`, attached to its
//! lease; the key's creation revision is the fencing token every store write is checked
//! against.
//!
//! Part of `state`; `reconcile` asks [`Leadership::is_leader`] before every DNS change and the
//! etcd store fences every write with [`Leadership::fencing_token`].
//!
//! Safety margin: the holder stops calling itself leader when two thirds of the lease TTL have
//! passed since its last successful keep-alive, before etcd can expire the lease and let
//! another controller in; so two controllers never both believe they lead, even with clock
//! rates off by a few percent. A deposed leader's late writes fail at etcd anyway, because the
//! new leader key has a new creation revision.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::client::{created_at, put, range, EtcdClient};
use crate::state::Leadership;

/// Longest pause between a follower's attempts to take the leader key.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Shared between the campaign task and the readers.
#[derive(Debug)]
struct Inner {
    leader: AtomicBool,
    token: AtomicU64,
    /// Nanoseconds after `epoch` until which the lease is certainly still ours.
    valid_until_ns: AtomicU64,
    epoch: Instant,
    /// Who holds the lease, as last seen (for follower messages).
    holder: Mutex<Option<String>>,
    lease: AtomicU64,
}

impl Inner {
    fn fresh() -> Arc<Inner> {
        Arc::new(Inner {
            leader: AtomicBool::new(false),
            token: AtomicU64::new(0),
            valid_until_ns: AtomicU64::new(0),
            epoch: Instant::now(),
            holder: Mutex::new(None),
            lease: AtomicU64::new(0),
        })
    }
    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
    fn set_holder(&self, h: Option<String>) {
        if let Ok(mut g) = self.holder.lock() {
            *g = h;
        }
    }
    fn step_down(&self) {
        if self.leader.swap(false, Ordering::SeqCst) {
            tracing::warn!("leader lease lost or expiring; stepping down");
            // Who holds it now is unknown until the next look at the leader key.
            self.set_holder(None);
        }
    }
}

/// A controller's candidacy. Campaigns in a background task from [`EtcdLeadership::start`]
/// until dropped; drop it (or call [`EtcdLeadership::resign`]) to stop.
#[derive(Debug)]
pub struct EtcdLeadership {
    inner: Arc<Inner>,
    /// The campaign; `None` for an observer.
    task: Option<tokio::task::AbortHandle>,
    client: EtcdClient,
    key: Vec<u8>,
    node: String,
}

impl EtcdLeadership {
    /// Starts campaigning for `key` as `node` with leases of `ttl`.
    pub(crate) fn start(client: EtcdClient, key: Vec<u8>, node: String, ttl: Duration) -> Self {
        let mut me = Self::observer(client, key, node);
        me.task = Some(
            tokio::spawn(campaign(
                me.client.clone(),
                me.key.clone(),
                me.node.clone(),
                ttl,
                me.inner.clone(),
            ))
            .abort_handle(),
        );
        me
    }

    /// A non-candidate: never leads (for read-only use of the store).
    pub(crate) fn observer(client: EtcdClient, key: Vec<u8>, node: String) -> Self {
        EtcdLeadership {
            inner: Inner::fresh(),
            task: None,
            client,
            key,
            node,
        }
    }

    /// The key the lease holder writes.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// Stops campaigning and gives the lease up at once, so another controller takes over
    /// without waiting for the TTL (a planned shutdown or upgrade).
    pub async fn resign(&self) {
        if let Some(t) = &self.task {
            t.abort();
        }
        self.inner.step_down();
        let lease = self.inner.lease.load(Ordering::SeqCst);
        if lease != 0 {
            if let Err(e) = self.client.revoke(lease as i64).await {
                tracing::warn!("resign: {e}");
            }
        }
        tracing::info!(node = %self.node, "resigned the leader lease");
    }
}

impl Drop for EtcdLeadership {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl Leadership for EtcdLeadership {
    fn is_leader(&self) -> bool {
        self.inner.leader.load(Ordering::SeqCst)
            && self.inner.now_ns() < self.inner.valid_until_ns.load(Ordering::SeqCst)
    }

    fn fencing_token(&self) -> u64 {
        self.inner.token.load(Ordering::SeqCst)
    }

    fn holder(&self) -> Option<String> {
        if self.is_leader() {
            return Some(self.node.clone());
        }
        self.inner.holder.lock().ok().and_then(|g| g.clone())
    }
}

/// Grants a lease, tries to create the leader key on it, and keeps the lease alive; as a
/// follower, keeps trying every third of the TTL. Any error: step down, wait, start over.
async fn campaign(
    client: EtcdClient,
    key: Vec<u8>,
    node: String,
    ttl: Duration,
    inner: Arc<Inner>,
) {
    let beat = ttl / 3;
    let margin = ttl.mul_f64(2.0 / 3.0);
    loop {
        if let Err(e) = hold_or_follow(&client, &key, &node, ttl, beat, margin, &inner).await {
            tracing::warn!(node = %node, "leader election: {e}");
        }
        inner.step_down();
        inner.lease.store(0, Ordering::SeqCst);
        tokio::time::sleep(beat).await;
    }
}

async fn hold_or_follow(
    client: &EtcdClient,
    key: &[u8],
    node: &str,
    ttl: Duration,
    beat: Duration,
    margin: Duration,
    inner: &Inner,
) -> Result<(), super::client::EtcdError> {
    // Measured before asking: the lease's TTL may start counting as soon as it is sent.
    let asked = inner.now_ns();
    let lease = client.grant(ttl).await?;
    inner.lease.store(lease as u64, Ordering::SeqCst);
    let mut last_alive = asked;
    loop {
        let t = client
            .txn(
                vec![created_at(key, 0)],
                vec![put(key, node.as_bytes(), Some(lease))],
                vec![range(key)],
            )
            .await?;
        if t.succeeded {
            // Ours: the put's revision is the key's creation revision, the fencing token.
            inner.token.store(t.revision as u64, Ordering::SeqCst);
            inner.set_holder(Some(node.to_string()));
            inner
                .valid_until_ns
                .store(last_alive.saturating_add(nanos(margin)), Ordering::SeqCst);
            inner.leader.store(true, Ordering::SeqCst);
            tracing::info!(node, token = t.revision, "became the leader");
            return keep(client, key, lease, t.revision, beat, margin, inner).await;
        }
        let holder = t
            .ranges
            .first()
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
        inner.set_holder(holder);
        // Followers look often (a txn a second is nothing for etcd), so a leader that resigns
        // is replaced at once, whatever the lease TTL.
        tokio::time::sleep(beat.min(FOLLOW_EVERY)).await;
        let sent = inner.now_ns();
        if client.keepalive(lease).await? == 0 {
            return Err(super::client::EtcdError(
                "own lease expired while following".into(),
            ));
        }
        last_alive = sent;
    }
}

/// Keeps the lease alive while the leader key is still the one we created.
async fn keep(
    client: &EtcdClient,
    key: &[u8],
    lease: i64,
    token: i64,
    beat: Duration,
    margin: Duration,
    inner: &Inner,
) -> Result<(), super::client::EtcdError> {
    loop {
        tokio::time::sleep(beat).await;
        let sent = inner.now_ns();
        if client.keepalive(lease).await? == 0 {
            return Err(super::client::EtcdError("the leader lease expired".into()));
        }
        match client.get(key).await? {
            Some(kv) if kv.create_revision == token => {}
            _ => {
                return Err(super::client::EtcdError(
                    "the leader key was replaced or deleted".into(),
                ))
            }
        }
        // Measured from before the keep-alive was sent: the lease may have been refreshed
        // at any moment after that.
        inner
            .valid_until_ns
            .store(sent.saturating_add(nanos(margin)), Ordering::SeqCst);
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
