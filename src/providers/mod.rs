//! Provider adapters: which exist, what they can do, and building them from
//! `[providers.NAME]` tables.
//!
//! The bridge between configuration and the provider seam (plan -> **provider** -> verify):
//!
//! * [`registry`]: the one static list of adapters ([`REGISTRY`]). Each [`Registration`] says
//!   its `kind`, its capabilities, how to check its settings table and how to build it.
//!   Configuration validation and the canary rule ask it; nothing else names an adapter.
//! * `build`: every configured instance as a `dyn Provider`, plus the servers (embedded DNS)
//!   that `run` must start.
//! * `soa`: the negative-caching check `validate` runs against live providers.

mod build;
pub mod registry;
mod soa;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;

pub use build::{build, Built};
pub use registry::{Instance, Registration, Registry, REGISTRY};
pub use soa::negative_caching_warnings;
