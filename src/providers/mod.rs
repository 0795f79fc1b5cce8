//! Provider adapters: which exist, what they can do, and building them from
//! `[providers.NAME]` tables.
//!
//! The bridge between configuration and the provider seam (plan -> **provider** -> verify):
//!
//! * [`registry`]: the one static list of adapters ([`REGISTRY`]). Each [`Registration`] says
//!   its `kind`, its capabilities, how to check its settings table and how to build it.
//!   Configuration validation and the canary rule ask it; nothing else names an adapter.
//! * `build`: the configured instances ([`ProviderConfig`]) as `dyn Provider`s, plus the
//!   servers (embedded DNS) that `run` must start.
//!
//! Low in the layering: it uses only the adapter crates, never `config` (which holds
//! [`ProviderConfig`] values and asks the registry) nor any later stage.

mod build;
pub mod registry;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;

pub use build::{build, Built, ProviderConfig};
pub use registry::{
    from_value, key_path, render, segments, Instance, Registration, Registry, Seg, SettingsError,
    REGISTRY,
};
