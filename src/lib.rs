//! dnsfailback: a DNS failover and staged failback controller.
//!
//! The crate follows the flow of a decision, one module per stage:
//!
//! ```text
//!  probe ──► health ──► policy ──► plan ──► provider ──► verify
//!  (probe)   (health)   (policy)   (plan)  (providers/*) (reconcile::verify)
//!                 └────────── reconcile (control loop) ──────────┘
//!                     state (intent journal, audit)   api (admin HTTP)   cli
//! ```
//!
//! * [`config`]: TOML -> validated model, every error with file, line, key path and fix.
//! * [`probe`]: HTTP/TCP/... checks and the scheduler that runs them.
//! * [`health`]: thresholds and quorum turn results into up/down/unknown.
//! * [`policy`]: the per-service state machine deciding what to publish.
//! * [`plan`]: desired vs observed record sets -> a validated change set (dry-run point).
//! * [`reconcile`]: the loop; decides every service each tick, then one zone job per
//!   (provider, zone) journals, applies, verifies and audits their changes together.
//! * [`state`]: the durable store (SQLite) and the leadership seam.
//! * [`api`]: the admin HTTP API used by the CLI.
//! * [`cli`]: the `dnsfailback` command.
//! * [`backend`]: a tiny HTTP backend for the demo and the tests (outside the flow).
//! * [`tls`]: PEM files into rustls configurations (admin API, CLI, agents, etcd, checks).
//! * [`notify`]: webhook notifications of every audit entry.
//!
//! The modules are layered, lowest first; a module uses only modules below it, so there is no
//! cycle among them (docs/architecture.md; enforced by the `module_graph` tests):
//!
//! ```text
//!  tls, backend, probe, providers, config, health, policy, plan, state, notify, reconcile, api,
//!  cli
//! ```

#![forbid(unsafe_code)]

pub mod api;
pub mod backend;
pub mod cli;
pub mod config;
pub mod health;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod probe;
pub mod providers;
pub mod reconcile;
pub mod state;
pub mod tls;
