//! Several controllers, one truth: the etcd-backed [`Store`](crate::state::Store) and the
//! lease-based [`Leadership`](crate::state::Leadership).
//!
//! Part of `state`. Every controller campaigns for one leader key; only the holder changes
//! DNS and writes state, its writes fenced by the key's creation revision. Followers keep
//! probing, serve `status` from the shared state and take over when the lease lapses
//! (`reconcile` reloads every service's state and resolves open intents when it becomes
//! leader). See docs/decisions/0007-etcd-coordination.md.

mod client;
mod leadership;
mod store;

use std::sync::Arc;

use crate::config::EtcdSettings;

pub use leadership::EtcdLeadership;
pub use store::EtcdStore;

/// The group's store for reading only (`plan`, tools): it never campaigns, so every write
/// it might attempt is refused as "not the leader".
pub fn observe(settings: &EtcdSettings) -> Result<Arc<EtcdStore>, String> {
    let (client, prefix, key) = parts(settings)?;
    let leadership = Arc::new(EtcdLeadership::observer(
        client.clone(),
        key,
        settings.node.clone(),
    ));
    Ok(Arc::new(EtcdStore::new(client, &prefix, leadership)))
}

/// The client, the key prefix and the leader key of a group.
fn parts(settings: &EtcdSettings) -> Result<(client::EtcdClient, String, Vec<u8>), String> {
    let auth = match &settings.auth {
        Some((user, source)) => Some((
            user.clone(),
            source
                .load()
                .map_err(|e| format!("controller.etcd.password: {e}"))?,
        )),
        None => None,
    };
    let client =
        client::EtcdClient::new(&settings.endpoints, settings.timeout, auth, &settings.tls)
            .map_err(|e| e.to_string())?;
    let prefix = settings.prefix.trim_end_matches('/').to_string();
    let key = format!("{prefix}/leader").into_bytes();
    Ok((client, prefix, key))
}

/// Connects, starts campaigning, and returns the store and the leadership to hand to the
/// controller.
pub fn connect(settings: &EtcdSettings) -> Result<(Arc<EtcdStore>, Arc<EtcdLeadership>), String> {
    let (client, prefix, key) = parts(settings)?;
    let leadership = Arc::new(EtcdLeadership::start(
        client.clone(),
        key,
        settings.node.clone(),
        settings.lease_ttl,
    ));
    let store = Arc::new(EtcdStore::new(client, &prefix, leadership.clone()));
    Ok((store, leadership))
}
