//! The TLS keys of `[controller]`: `[controller.admin_tls]` (the admin API's certificate, key
//! and client CA), the plaintext rule for a non-loopback admin API, and the `ca`, `cert` and
//! `key` of `[controller.etcd]`.
//!
//! Part of config validation, which runs before the flow starts. Only the shape is checked
//! here: every command reads the configuration (the CLI for the admin address and token), and
//! an operator's `status` must not need read access to the server's private key. The files
//! themselves are read by [`crate::config::tls_file_problems`], which `validate` and `run`
//! call.

use std::net::SocketAddr;
use std::path::PathBuf;

use toml::Spanned;

use super::ctx::Ctx;
use crate::config::model::{AdminTls, EtcdTls};
use crate::config::raw::{RawController, RawEtcd};
use crate::tls::Identity;

/// `[controller.admin_tls]`, and the rule that a listener reachable from the network speaks
/// TLS: a non-loopback `admin_listen` without it is an error unless
/// `admin_insecure_plaintext = true` (then a warning), because the bearer token would cross
/// the network in clear text.
pub(super) fn admin_tls(
    ctx: &mut Ctx,
    raw: &RawController,
    listen: SocketAddr,
) -> Option<AdminTls> {
    let tls = raw.admin_tls.as_ref().map(|t| {
        let r = t.get_ref();
        let identity = Identity {
            cert: PathBuf::from(r.cert.get_ref()),
            key: PathBuf::from(r.key.get_ref()),
        };
        let client_ca = r.client_ca.as_ref().map(|c| PathBuf::from(c.get_ref()));
        AdminTls {
            identity,
            client_ca,
        }
    });
    let opted_out = raw
        .admin_insecure_plaintext
        .as_ref()
        .map(|o| (o, *o.get_ref()));
    if raw.admin_tls.is_none() && !listen.ip().is_loopback() {
        let at = raw.admin_listen.as_ref();
        match (opted_out, at) {
            (Some((o, true)), _) => ctx.warn(o, "controller.admin_insecure_plaintext", format!("the admin API on {listen} speaks plain HTTP: bearer tokens cross the network in clear text"), "configure [controller.admin_tls], or keep a TLS proxy in front of it"),
            (_, Some(at)) => ctx.err(at, "controller.admin_listen", format!("{listen} is not a loopback address and the admin API has no TLS: bearer tokens would cross the network in clear text"), "add [controller.admin_tls] with cert and key (see docs/config.md#admin-api-tls), or listen on 127.0.0.1; if a TLS proxy fronts it, set admin_insecure_plaintext = true"),
            (_, None) => {}
        }
    }
    tls
}

/// `ca`, `cert` and `key` of `[controller.etcd]`: cert and key together. `Err` after an
/// error.
pub(super) fn etcd_tls(ctx: &mut Ctx, r: &RawEtcd) -> Result<EtcdTls, ()> {
    let path = |s: &Spanned<String>| PathBuf::from(s.get_ref());
    let identity = match (&r.cert, &r.key) {
        (None, None) => None,
        (Some(c), Some(k)) => Some(Identity {
            cert: path(c),
            key: path(k),
        }),
        (Some(at), None) | (None, Some(at)) => {
            ctx.err(at, "controller.etcd", "`cert` and `key` go together", "give both the client certificate and its private key (etcd's --client-cert-auth), or neither");
            return Err(());
        }
    };
    Ok(EtcdTls {
        ca: r.ca.as_ref().map(path),
        identity,
    })
}
