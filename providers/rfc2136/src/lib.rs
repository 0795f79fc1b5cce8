//! `dnsfailback-provider-rfc2136`: changes records on any authoritative server that accepts
//! RFC 2136 dynamic updates (BIND 9, Knot DNS, PowerDNS), signed with TSIG (RFC 8945).
//!
//! Position in the flow probe -> health -> policy -> plan -> **provider** -> verify: the
//! controller hands a planned [`dnsfailback_provider::ChangeSet`] to [`Rfc2136Provider`], which
//! sends it as one UPDATE with prerequisites (all or nothing; a concurrent external edit fails
//! it as a `Conflict`), then [`Rfc2136Provider::wait_propagation`] checks every authoritative
//! server for the new SOA serial and answers.
//!
//! * [`config`]: the `[providers.<name>]` table ([`Config`]);
//! * [`request`]: pure builders (change set -> UPDATE message, records -> record sets);
//! * `client`: TSIG-signed TCP transport, response verification, RCODE classification, retries;
//! * `propagation`: the per-server serial/answer check;
//! * `provider`: the [`dnsfailback_provider::Provider`] implementation;
//! * `adapter`: its registration with the controller (`kind = "rfc2136"`, capabilities before
//!   an instance exists; [`dnsfailback_provider::Adapter`]).
//!
//! User documentation: `docs/providers/rfc2136.md`.

mod adapter;
mod client;
pub mod config;
mod propagation;
mod provider;
pub mod request;

pub use client::KEY_REJECTED;

/// Most records ([`dnsfailback_provider::ChangeSet::record_count`]) sent in one UPDATE message.
/// A message over TCP holds at most 65,535 bytes; an update of one A set is a prerequisite, a
/// delete and an add (~25 bytes each with a compressed name), and long TXT values are larger,
/// so 500 leaves room for names, values and the TSIG record.
pub const MAX_UPDATE_RECORDS: usize = 500;
pub use config::{Algorithm, Config};
pub use propagation::{PropagationReport, ServerSync};
pub use provider::Rfc2136Provider;
