//! The admin API's TLS: the certificate and key of `[controller.admin_tls]`, re-read on
//! reload (SIGHUP or `POST /v1/reload`) so a renewed certificate is taken without a restart,
//! and the client CA that makes it mTLS.
//!
//! Beside the flow (operator -> **api** -> policy): the listener ([`super::listener`]) asks
//! for the current acceptor once per connection; a reload swaps it for the connections that
//! follow, and connections already open keep theirs.

use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config::AdminTls;

/// The admin API's current TLS configuration; shared by the listener and the reload path.
pub struct ServerTls {
    settings: AdminTls,
    current: RwLock<Arc<ServerConfig>>,
}

impl ServerTls {
    /// Reads the files of `settings`; an unusable file stops start-up with its path and why.
    pub fn load(settings: &AdminTls) -> Result<Arc<ServerTls>, String> {
        let config = build(settings)?;
        Ok(Arc::new(ServerTls {
            settings: settings.clone(),
            current: RwLock::new(config),
        }))
    }

    /// Re-reads the certificate, key and client CA. On error the running configuration stays
    /// (a half-written renewal must not take the API down) and the error says which file.
    pub fn reload(&self) -> Result<(), String> {
        let config = build(&self.settings)?;
        match self.current.write() {
            Ok(mut current) => *current = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }

    /// The acceptor for the next connection.
    pub(super) fn acceptor(&self) -> TlsAcceptor {
        let config = match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        TlsAcceptor::from(config)
    }
}

fn build(settings: &AdminTls) -> Result<Arc<ServerConfig>, String> {
    crate::tls::server_config(&settings.identity, settings.client_ca.as_deref())
        .map(Arc::new)
        .map_err(|e| format!("admin API TLS: {e}"))
}
