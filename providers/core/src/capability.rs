//! What a provider can do, declared once so the planner never special-cases an adapter.
//!
//! Sits beside the provider trait: `policy` and `plan` read [`Capabilities`] to decide how a
//! traffic split is expressed (native weights, or record-set membership), and the controller's
//! configuration validation reads them (through its provider registry, before any provider is
//! built) to warn when a canary step cannot be expressed, and to refuse TTLs below `min_ttl` and
//! record types the provider cannot publish.

use serde::{Deserialize, Serialize};

use crate::record_types::RecordTypes;

/// Declared abilities of one provider instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Several record sets of one name and type with `set_id` + `weight` (Route 53, embedded).
    pub weighted: bool,
    /// Largest weight accepted (Route 53: 255).
    pub max_weight: u32,
    /// A change set is applied all-or-nothing (Route 53 batch, RFC 2136 UPDATE).
    pub atomic_batch: bool,
    /// Each record set carries its own TTL.
    pub ttl_per_record: bool,
    /// Smallest TTL the provider accepts.
    pub min_ttl: u32,
    /// Changes propagate asynchronously and [`crate::Provider::sync_status`] reports progress.
    pub change_status: bool,
    /// `Update`/`Delete` are applied only if the set still equals `old` (compare-and-swap);
    /// without it the adapter re-reads first and refuses on a mismatch, which leaves a window.
    pub prerequisites: bool,
    /// The adapter can report the zone's SOA (for negative-caching checks).
    pub soa: bool,
    /// Most records one [`crate::Provider::apply`] call may carry, counted as
    /// [`crate::ChangeSet::record_count`] (values before plus after); 0 = no limit. The
    /// controller writes all changes of one zone together (a site failover is one request per
    /// zone) and splits only at this limit (Route 53: 1,000 ResourceRecord elements).
    #[serde(default)]
    pub max_batch_records: usize,
    /// Record types the adapter can publish. A service of another type is refused by
    /// configuration validation, and a change set holding one by [`crate::ChangeSet::validate`].
    #[serde(default)]
    pub record_types: RecordTypes,
}

impl Capabilities {
    /// The most conservative provider: nothing optional (every record type, though: each is
    /// plain presentation text that any DNS API can carry). `const`, so adapters can declare
    /// their capabilities as a constant starting from it.
    pub const CONSERVATIVE: Capabilities = Capabilities {
        weighted: false,
        max_weight: 0,
        atomic_batch: false,
        ttl_per_record: true,
        min_ttl: 1,
        change_status: false,
        prerequisites: false,
        soa: false,
        max_batch_records: 0,
        record_types: RecordTypes::ALL,
    };
}

impl Default for Capabilities {
    /// [`Capabilities::CONSERVATIVE`].
    fn default() -> Self {
        Capabilities::CONSERVATIVE
    }
}
