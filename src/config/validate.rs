//! Raw TOML -> typed [`Config`], collecting every problem with its line, key path and fix.
//!
//! First stage of the controller's start-up, before any probe runs: an invalid file never
//! reaches the flow, so no DNS change can come from a configuration error.
//!
//! [`parse`] reads the file with serde ([`super::raw`]; `read` lists every unknown key and
//! value of the wrong type, with [`super::faults`]) and hands each part to its reader in
//! `validate/`: `controller` (with `etcd`), `provider_rules` (`[providers.*]` and what each
//! adapter can do), `service` (with its `targets`, their `checks`, and its `canary`). Every
//! reader writes its problems to the shared context in `ctx`. A part that `read` found a fault
//! in is not read further, but its check tables are.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{ConfigError, Lines, Problem};
use super::model::Config;
use crate::providers::{Registry, REGISTRY};

mod canary;
mod checks;
mod controller;
mod ctx;
mod etcd;
mod notify;
mod owners;
mod provider_rules;
mod read;
mod service;
mod targets;
mod tls;

use ctx::Ctx;

/// Parses and validates `text` (the content of `file`). Returns the config and any warnings,
/// or every problem found.
pub fn parse(file: &Path, text: &str) -> Result<(Config, Vec<Problem>), ConfigError> {
    parse_with(file, text, REGISTRY)
}

/// [`parse`] against the adapters of `registry`: for an embedder that registers adapters of its
/// own, and for tests, which pass fake ones to show that the rules follow what a registration
/// declares.
pub fn parse_with(
    file: &Path,
    text: &str,
    registry: Registry,
) -> Result<(Config, Vec<Problem>), ConfigError> {
    let lines = Lines::new(text);
    let read = read::read(text, &lines).map_err(|problems| ConfigError {
        file: file.to_path_buf(),
        problems,
    })?;
    let raw = read.raw;
    let mut ctx = Ctx {
        lines,
        problems: read.problems,
        registry,
    };
    let mut controller = controller::controller(&mut ctx, raw.controller.as_ref());
    controller
        .notify
        .extend(notify::sections(&mut ctx, &raw.notify));
    let providers = provider_rules::providers(&mut ctx, &raw.providers);
    let mut services = BTreeMap::new();
    if raw.services.is_empty() && !read.services_left_out {
        ctx.problems.push(Problem::error(
            None,
            "services",
            "no service is configured",
            "add a [services.NAME] table with its targets; examples/quickstart.toml shows one",
        ));
    }
    for (name, rs) in &raw.services {
        // A bad name is not echoed in key paths: its service is not read further.
        let line = ctx.line(rs);
        if !ctx::name_at(&mut ctx, line, name, "services".into(), "shop") {
            continue;
        }
        if let Some(s) = service::service(&mut ctx, name, rs, &providers) {
            services.insert(name.clone(), s);
        }
    }
    owners::one_owner_each(&mut ctx, &raw.services, &services);
    for (path, table) in &read.orphan_checks {
        checks::check(&mut ctx, path, table);
    }
    let config = Config {
        source: file.to_path_buf(),
        controller,
        providers,
        services,
    };
    let (errors, warnings): (Vec<_>, Vec<_>) = ctx
        .problems
        .into_iter()
        .partition(|p| p.severity == super::error::Severity::Error);
    if errors.is_empty() {
        Ok((config, warnings))
    } else {
        Err(ConfigError {
            file: file.to_path_buf(),
            problems: errors.into_iter().chain(warnings).collect(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
