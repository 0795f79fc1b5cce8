//! `dnsfailback-provider`: the small, stable crate every DNS adapter depends on.
//!
//! It defines what flows across the provider seam of dnsfailback
//! (probe -> health -> policy -> plan -> **provider** -> verify):
//!
//! * [`RecordSet`], [`RecordKey`], [`Fqdn`], [`RecordType`]: what a provider stores;
//! * [`ChangeSet`] / [`Change`]: what the planner asks a provider to do, with the old set beside
//!   the new one;
//! * [`Provider`] and [`Capabilities`]: the async trait adapters implement, and what they declare;
//! * [`Adapter`]: how the controller checks an adapter's settings and builds it (its `kind`,
//!   its `Config`, its capabilities before any instance exists), and [`LocalServer`] for an
//!   adapter that serves DNS from the controller's process;
//! * [`ProviderError`]: classified errors (`is_retryable`, `is_conflict`, `not_applied`);
//! * [`Secret`] / [`SecretSource`]: tokens and keys from env or file, never printed;
//! * [`normalize_txt`] and friends: the one TXT text form every adapter reads and writes;
//! * feature `wire`: [`wire`], record values <-> hickory wire records for DNS-speaking adapters;
//! * [`ZoneRecords`]: strict in-memory zone shared by the embedded server and the test fake;
//! * feature `testkit`: [`memory::MemoryProvider`] and the conformance suite
//!   [`testkit::run_conformance`].
//!
//! Adapters live in sibling crates (`providers/embedded`, `route53`, `cloudflare`, `rfc2136`)
//! and never depend on the controller.

mod adapter;
mod budget;
mod capability;
mod change;
mod duration;
mod error;
mod provider;
mod record;
mod record_types;
mod secret;
mod stats;
mod txt;
#[cfg(any(test, feature = "wire"))]
pub mod wire;
mod zone;

#[cfg(any(test, feature = "testkit"))]
pub mod memory;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use adapter::{Adapter, BuildContext, LocalServer};
pub use budget::{shared_budget, Budget};
pub use capability::Capabilities;
pub use change::{Change, ChangeSet};
pub use duration::{format_duration, parse_duration};
pub use error::{ErrorKind, ProviderError};
pub use provider::{wait_in_sync, ApplyReceipt, Provider, SyncStatus};
pub use record::{Fqdn, RecordKey, RecordSet, RecordType, Soa};
pub use record_types::RecordTypes;
pub use secret::{tsig_key_bytes, Secret, SecretSource, INLINE_SECRET, ONE_SOURCE};
pub use stats::CallStats;
pub use txt::{normalize_txt, txt_strings, txt_strings_with, txt_text, txt_text_with, TxtEscapes};
pub use zone::ZoneRecords;
