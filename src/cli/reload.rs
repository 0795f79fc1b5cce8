//! Reload: provider settings and secrets read again without a restart.
//!
//! A rotated API token or TSIG key, or a fixed one after `needs operator`, is taken in by
//! `dnsfailback reload` (the admin API's `POST /v1/reload`) or SIGHUP: the running process
//! re-reads and validates the configuration file, rebuilds every provider that does not run
//! inside the process (the embedded DNS server keeps running as it is), swaps them into the
//! control loop and resumes the services that waited for an operator. An invalid file changes
//! nothing. Changes to services, checks or `[controller]` are reported, not applied: they
//! need a restart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hasher};
use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::client::AdminClient;
use crate::api;
use crate::config::Config;
use crate::reconcile::StatusBoard;

/// A fingerprint of what a reload does not apply (services, checks, the controller), to say
/// when a restart is needed.
pub fn restart_fingerprint(config: &Config) -> u64 {
    struct Hash(DefaultHasher);
    impl std::fmt::Write for Hash {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut h = Hash(DefaultHasher::new());
    let _ = write!(h, "{:?}{:?}", config.services, config.controller);
    h.0.finish()
}

/// Re-reads `path` and swaps the rebuilt providers into the loop behind `board`. `Err` says
/// why nothing changed (an invalid file, a provider that cannot be built).
pub async fn apply(path: &Path, board: &StatusBoard, fingerprint: u64) -> Result<String, String> {
    let config = match crate::config::load(path) {
        Ok((c, _)) => c,
        Err(e) => return Err(format!("reload refused, nothing changed:\n{e}")),
    };
    let built = crate::providers::build(
        &config.providers,
        &config.provider_zones(),
        &config.controller.state,
    )
    .map_err(|e| format!("reload refused, nothing changed: {e}"))?;
    let providers: BTreeMap<_, _> = built
        .providers
        .into_iter()
        .filter(|(name, _)| {
            config
                .providers
                .get(name)
                .is_some_and(|pc| !pc.adapter.in_process)
        })
        .collect();
    let mut text = board.reload(providers).await?;
    if restart_fingerprint(&config) != fingerprint {
        text.push_str(
            "; services, checks or [controller] changed in the file: restart to apply them \
             (a reload applies provider settings and secrets)",
        );
    }
    Ok(text)
}

/// `dnsfailback reload`: asks the running controller to reload; exit 0 done, 1 refused.
pub async fn reload(path: &Path, reach: &super::reach::AdminReach) -> anyhow::Result<u8> {
    let client = AdminClient::from_config(path, reach)?;
    let (status, answer) = client.post("/v1/reload", &serde_json::json!({})).await?;
    if status.is_success() {
        super::out::line(
            answer
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default(),
        )?;
        Ok(0)
    } else {
        eprintln!(
            "reload refused ({status}): {}",
            answer
                .get("error")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
        );
        Ok(1)
    }
}

/// What a reload (SIGHUP or `POST /v1/reload`) acts on.
pub struct Reloader<'a> {
    pub path: &'a Path,
    pub board: StatusBoard,
    pub fingerprint: u64,
    pub admin_tls: Option<Arc<api::tls::ServerTls>>,
}

impl Reloader<'_> {
    /// Reloads provider settings and secrets (see [`super::reload`]) and the admin API's
    /// certificate, and logs the outcome. A certificate that cannot be read keeps the running
    /// one and fails the reload with the file's path.
    pub async fn reload(&self) -> Result<String, String> {
        let mut result = apply(self.path, &self.board, self.fingerprint).await;
        if let Some(tls) = &self.admin_tls {
            result = match (result, tls.reload()) {
                (Ok(text), Ok(())) => Ok(format!("{text}; admin API certificate re-read")),
                (Ok(_), Err(e)) => Err(format!("{e}; the running certificate stays")),
                (Err(e), _) => Err(e),
            };
        }
        match &result {
            Ok(text) => tracing::info!("reload: {text}"),
            Err(why) => tracing::error!("{why}"),
        }
        result
    }
}

/// The next reload asked for through the API; pending forever without a channel.
pub async fn next_reload(
    reloads: &mut Option<mpsc::Receiver<api::ReloadRequest>>,
) -> Option<api::ReloadRequest> {
    match reloads {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// The next SIGHUP; pending forever when it cannot be watched.
pub async fn next_hangup(hangup: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hangup {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
