//! One HTTP client (with its connection pool and TLS configuration) per distinct client
//! setting, shared by every check with that setting.
//!
//! Part of the probe stage (runner -> **http** -> outcome -> health), used when a check is
//! built. A reqwest client costs about 28 KB (its pool, connector and TLS state); one per check
//! was 282 MB at 10,000 HTTP checks (issue 17). The settings that make a client are few (TLS
//! verification and CA file, scheme, redirects, keep-alive, address family), so thousands of
//! checks share a handful of clients. Connections are still kept per target: the pool keys
//! them by scheme, host and port. A check that pins a name to an address (`host` with an IP
//! URL) keeps a client of its own: that pin is a client setting.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::probe::Family;

/// Everything that goes into a shared client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ClientKey {
    pub insecure_skip_verify: bool,
    /// The CA file and a digest of its content: a file changed before a reload gets a new
    /// client, not the one built from the old certificates.
    pub ca_file: Option<(PathBuf, u64)>,
    pub https: bool,
    pub follow_redirects: bool,
    pub reuse: bool,
    pub family: Family,
}

impl ClientKey {
    /// The digest of `path`'s content (0 when it cannot be read: building the client then
    /// fails with the file's error, and nothing is cached).
    pub fn ca_digest(path: &Path) -> (PathBuf, u64) {
        let mut h = DefaultHasher::new();
        std::fs::read(path).unwrap_or_default().hash(&mut h);
        (path.to_path_buf(), h.finish())
    }
}

/// The process's shared clients. Bounded by the number of distinct settings in the
/// configuration (a handful), so they are kept for the life of the process.
fn clients() -> &'static Mutex<HashMap<ClientKey, reqwest::Client>> {
    static CLIENTS: OnceLock<Mutex<HashMap<ClientKey, reqwest::Client>>> = OnceLock::new();
    CLIENTS.get_or_init(Default::default)
}

/// The client for `key`: the shared one, or one made by `build` and shared from now on.
pub(super) fn shared(
    key: ClientKey,
    build: impl FnOnce() -> Result<reqwest::Client, String>,
) -> Result<reqwest::Client, String> {
    let mut map = clients().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(client) = map.get(&key) {
        return Ok(client.clone());
    }
    let client = build()?;
    map.insert(key, client.clone());
    Ok(client)
}

/// How many distinct shared clients exist (the benchmark reports it).
pub fn shared_count() -> usize {
    clients()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ca: (PathBuf, u64)) -> ClientKey {
        ClientKey {
            insecure_skip_verify: false,
            ca_file: Some(ca),
            https: true,
            follow_redirects: false,
            reuse: true,
            family: Family::default(),
        }
    }

    #[test]
    fn checks_with_one_setting_share_one_client_and_a_changed_ca_file_gets_its_own() {
        let dir = std::env::temp_dir().join(format!("dnsfailback-clients-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, "first").unwrap_or_else(|e| panic!("{e}"));
        let built = std::cell::Cell::new(0);
        let build = || {
            built.set(built.get() + 1);
            Ok(reqwest::Client::new())
        };
        let first = ClientKey::ca_digest(&ca);
        for _ in 0..3 {
            shared(key(first.clone()), build).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(built.get(), 1, "three checks, one client");
        std::fs::write(&ca, "renewed").unwrap_or_else(|e| panic!("{e}"));
        let renewed = ClientKey::ca_digest(&ca);
        assert_ne!(first, renewed);
        shared(key(renewed), build).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(built.get(), 2, "a changed CA file: a new client");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
