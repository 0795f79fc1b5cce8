//! A baseline as it is persisted: [`BaselineSnapshot`] (serde), and [`SharedSnapshot`], the
//! cheap-to-copy form a service's state carries from tick to tick.
//!
//! Part of the health stage (probe -> **health** -> policy): the control loop stores the
//! snapshot of each target's [`Baseline`](super::Baseline) so it survives restarts.

use serde::{Deserialize, Serialize};

use super::Slot;

/// Everything a [`Baseline`](super::Baseline) knows, for persistence. Restore with
/// [`Baseline::from_snapshot`](super::Baseline::from_snapshot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineSnapshot {
    /// Histogram layout ([`LAYOUT`](super::LAYOUT)); 0 in snapshots written before the field existed.
    #[serde(default)]
    pub layout: u32,
    /// The healthy clock: milliseconds of learned operation.
    pub healthy_ms: u64,
    /// Wall time (unix ms) of the last learned sample.
    pub last_ms: Option<u64>,
    /// Decayed sum and weight of successful latencies (ms): EWMA = sum / weight.
    pub latency_sum: f64,
    pub latency_weight: f64,
    /// Decayed sum (failures) and weight (all samples): EWMA error rate = sum / weight.
    pub error_sum: f64,
    pub error_weight: f64,
    /// Ring of histogram slots, indexed by `epoch % slots`.
    pub slots: Vec<Slot>,
}

/// A persisted baseline as a service's state carries it. The loop copies and compares a
/// service's state every tick; shared, a copy costs a pointer and comparing two copies of the
/// same snapshot a pointer compare (at 10,000 services the deep copies were a third of a tick).
#[derive(Debug, Clone)]
pub struct SharedSnapshot(std::sync::Arc<BaselineSnapshot>);

impl SharedSnapshot {
    /// The snapshot itself.
    pub fn get(&self) -> &BaselineSnapshot {
        &self.0
    }
}

impl From<BaselineSnapshot> for SharedSnapshot {
    fn from(s: BaselineSnapshot) -> Self {
        SharedSnapshot(std::sync::Arc::new(s))
    }
}

impl PartialEq for SharedSnapshot {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl Serialize for SharedSnapshot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_ref().serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedSnapshot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BaselineSnapshot::deserialize(d).map(SharedSnapshot::from)
    }
}
