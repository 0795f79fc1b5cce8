//! What a provider can do, declared once so the planner never special-cases an adapter.
//!
//! Sits beside the provider trait: `policy` and `plan` read [`Capabilities`] to decide how a
//! traffic split is expressed (native weights, or record-set membership), and `validate` warns
//! when a configured canary step cannot be expressed on the chosen provider.

use serde::{Deserialize, Serialize};

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
}

impl Default for Capabilities {
    /// The most conservative provider: nothing optional.
    fn default() -> Self {
        Capabilities {
            weighted: false,
            max_weight: 0,
            atomic_batch: false,
            ttl_per_record: true,
            min_ttl: 1,
            change_status: false,
            prerequisites: false,
            soa: false,
            max_batch_records: 0,
        }
    }
}
