//! The TLS files the configuration names, read and checked: the admin API's certificate, key
//! and client CA, and etcd's CA and client certificate. Called by `validate` and before `run`
//! starts anything, not by every command: an operator's `status` reads the configuration too,
//! and must not need read access to the server's private key.
//!
//! Part of config validation, which runs before the flow starts; the same code as at start-up
//! ([`crate::tls`]) builds the configurations, so a certificate that does not match its key is
//! found here, not by the first client.

use super::{Config, Problem};

/// Every unusable TLS file, as errors naming the key and the file (never a key's content).
pub fn tls_file_problems(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let c = &config.controller;
    if let Some(t) = &c.admin_tls {
        if let Err(e) = crate::tls::server_config(&t.identity, t.client_ca.as_deref()) {
            out.push(Problem::error(None, "controller.admin_tls", e, "point cert and key at the PEM certificate chain and its private key (and client_ca at the PEM CA of the clients' certificates); see docs/config.md#admin-api-tls"));
        }
    }
    if let Some(t) = c.etcd.as_ref().map(|e| &e.tls) {
        if *t != Default::default() {
            if let Err(e) = crate::tls::client_config(t.ca.as_deref(), t.identity.as_ref()) {
                out.push(Problem::error(None, "controller.etcd", e, "point ca at the PEM CA of the etcd servers, and cert and key at this controller's client certificate and key"));
            }
        }
    }
    out
}
