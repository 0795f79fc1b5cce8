//! `[controller.etcd]`: the endpoints, lease, node name, key prefix and credentials of a
//! group of controllers sharing state in etcd.
//!
//! Part of config validation, which runs before the flow starts; `state::etcd` connects with
//! the [`EtcdSettings`] read here.

use std::time::Duration;

use dnsfailback_provider::SecretSource;
use toml::Spanned;

use super::ctx::Ctx;
use crate::config::bounds;
use crate::config::model::EtcdSettings;
use crate::config::raw::RawEtcd;

/// `[controller.etcd]`: endpoints must be http(s) URLs; the lease long enough to survive a
/// keep-alive hiccup and short enough that a dead leader is replaced quickly.
pub(super) fn etcd(ctx: &mut Ctx, raw: &Spanned<RawEtcd>) -> Option<EtcdSettings> {
    let r = raw.get_ref();
    let ok = endpoints(ctx, r);
    let lease_ttl = ctx.duration_checked(
        &r.lease_ttl,
        "controller.etcd.lease_ttl".into(),
        Duration::from_secs(10),
        bounds::ETCD_LEASE_TTL,
    );
    let timeout = ctx.duration_checked(
        &r.timeout,
        "controller.etcd.timeout".into(),
        Duration::from_secs(2),
        bounds::ETCD_TIMEOUT,
    );
    let node = node(ctx, r);
    let prefix = prefix(ctx, r);
    let auth = auth(ctx, r);
    let tls = super::tls::etcd_tls(ctx, r);
    let (true, Some(lease_ttl), Some(timeout), Some(node), Some(prefix), Ok(auth), Ok(tls)) =
        (ok, lease_ttl, timeout, node, prefix, auth, tls)
    else {
        return None;
    };
    Some(EtcdSettings {
        endpoints: r.endpoints.get_ref().clone(),
        prefix,
        node,
        lease_ttl,
        timeout,
        auth,
        tls,
    })
}

/// At least one endpoint, each an http:// or https:// URL. Whether they all are.
fn endpoints(ctx: &mut Ctx, r: &RawEtcd) -> bool {
    let mut ok = true;
    if r.endpoints.get_ref().is_empty() {
        ctx.err(
            &r.endpoints,
            "controller.etcd.endpoints",
            "no etcd endpoint given",
            "list the cluster's client URLs, e.g. [\"http://10.0.0.5:2379\"]",
        );
        ok = false;
    }
    for e in r.endpoints.get_ref() {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            ctx.err(
                &r.endpoints,
                "controller.etcd.endpoints",
                format!("`{e}` is not an http:// or https:// URL"),
                "write the client URL, e.g. \"http://10.0.0.5:2379\"",
            );
            ok = false;
        }
    }
    ok
}

/// This controller's name: as written (not empty), else the host name, else
/// `controller-PID`. `None` after an error.
fn node(ctx: &mut Ctx, r: &RawEtcd) -> Option<String> {
    match &r.node {
        Some(n) if n.get_ref().trim().is_empty() => {
            ctx.err(n, "controller.etcd.node", "node is empty", "name this controller, e.g. \"ctl-a\"; it is shown to the others as the lease holder");
            None
        }
        Some(n) => Some(n.get_ref().clone()),
        None => Some(
            std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.is_empty())
                .or_else(|| {
                    std::fs::read_to_string("/etc/hostname")
                        .ok()
                        .map(|h| h.trim().to_string())
                })
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| format!("controller-{}", std::process::id())),
        ),
    }
}

/// The key prefix, `/dnsfailback` by default; it must start with `/`. `None` after an error.
fn prefix(ctx: &mut Ctx, r: &RawEtcd) -> Option<String> {
    let prefix = r
        .prefix
        .as_ref()
        .map(|p| p.get_ref().clone())
        .unwrap_or_else(|| "/dnsfailback".into());
    if prefix.starts_with('/') {
        return Some(prefix);
    }
    if let Some(p) = &r.prefix {
        ctx.err(
            p,
            "controller.etcd.prefix",
            format!("prefix `{prefix}` does not start with /"),
            "write e.g. \"/dnsfailback/prod\"",
        );
    }
    None
}

/// `user` and `password` go together: both (authentication on) or neither. `Err` after an
/// error.
fn auth(ctx: &mut Ctx, r: &RawEtcd) -> Result<Option<(String, SecretSource)>, ()> {
    match (&r.user, &r.password) {
        (None, None) => Ok(None),
        (Some(u), Some(p)) => Ok(Some((u.get_ref().clone(), p.get_ref().clone()))),
        (Some(u), None) => {
            ctx.err(
                u,
                "controller.etcd.password",
                "`user` without `password`",
                "add password = { env = \"DNSFAILBACK_ETCD_PASSWORD\" } (or { file = \"/path\" })",
            );
            Err(())
        }
        (None, Some(p)) => {
            ctx.err(
                p,
                "controller.etcd.user",
                "`password` without `user`",
                "add the etcd user name, e.g. user = \"dnsfailback\"",
            );
            Err(())
        }
    }
}
