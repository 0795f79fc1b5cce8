//! Every fault serde finds in a table, not only the first: the unknown keys and the values of
//! the wrong type, each with its key path.
//!
//! Part of config validation, which runs before the flow (probe -> health -> policy -> plan ->
//! provider -> verify) starts. Serde stops at the first unknown key or bad value of a file, so
//! a file with three typos took three runs. When a read fails, [`faults`] probes the table
//! again piece by piece: each part alone, with its ancestors but without its siblings, through
//! the same serde types (so no list of keys is kept beside the structs). A part that still
//! fails is split further, down to the key or array element at fault; a fault that names an
//! ancestor of the probed part (a required sibling left out, say) says nothing about the part.
//! Used for the whole file ([`super::validate`]'s `read`), each provider's settings and each
//! check table; docs/decisions/0011-every-config-error-in-one-run.md says why.

use std::collections::HashSet;

use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

use super::de_error;
pub use crate::providers::Seg;

/// One problem a probe found: where, below the probed root, and serde's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Key path from the root that was probed (real array indices).
    pub at: Vec<Seg>,
    /// Serde's message, e.g. ``unknown field `ttll`, expected one of ...``.
    pub message: String,
}

impl Fault {
    /// A fault from a probe's error. An unknown key is put at the end of the path when serde
    /// names only its table (a hand-written reader, like a secret's, refuses the key before
    /// reading it), so the walker can tell two unknown keys of one table apart.
    pub fn new(mut at: Vec<Seg>, message: String) -> Fault {
        if let Some((key, _)) = de_error::unknown_field(&message) {
            if !matches!(at.last(), Some(Seg::Key(k)) if *k == key) {
                at.push(Seg::Key(key));
            }
        }
        Fault { at, message }
    }
}

/// A value the walker can take apart and put back together: the spanned tree of the whole
/// file, or a plain [`toml::Value`] (a provider's settings, a check table).
pub trait Tree: Clone {
    /// The entries of a table (by key) or the items of an array (by index); none for a scalar.
    fn children(&self) -> Vec<(Seg, &Self)>;
    /// A container of the same kind and place as `self` that holds only `child`: under the
    /// same key for a table, as the only item for an array.
    fn only(&self, seg: &Seg, child: Self) -> Self;
    /// This table without the keys in `drop` (anything else unchanged).
    fn without(&self, drop: &[Seg]) -> Self;
}

/// Every fault of `root`, found with `probe` (which reads a value as the real reader does and
/// returns its first fault). Empty when `root` reads without a fault. At most one fault per
/// key path; faults are in the order of the tree (keys sorted, items in order).
pub fn faults<T: Tree>(root: &T, probe: &mut dyn FnMut(T) -> Option<Fault>) -> Vec<Fault> {
    let mut walker = Walker {
        probe,
        found: Vec::new(),
        seen: HashSet::new(),
    };
    walker.node(&mut Vec::new(), root, &mut Vec::new());
    walker.found
}

struct Walker<'p, T> {
    probe: &'p mut dyn FnMut(T) -> Option<Fault>,
    found: Vec<Fault>,
    /// The paths in `found`.
    seen: HashSet<Vec<Seg>>,
}

impl<'t, T: Tree> Walker<'_, T> {
    /// Probes `node` (at `path`, inside `ancestors`) alone and records its faults, split down
    /// to its children when they explain them. Whether it has any fault of its own.
    fn node(
        &mut self,
        ancestors: &mut Vec<(&'t T, Seg)>,
        node: &'t T,
        path: &mut Vec<Seg>,
    ) -> bool {
        let Some(fault) = self.probe_at(ancestors, node.clone()) else {
            return false;
        };
        if !at_or_below(&fault.at, path) {
            // Left out by the probe (a required sibling), or a fault of another part.
            return false;
        }
        let mut bad = Vec::new();
        for (seg, child) in node.children() {
            ancestors.push((node, seg.clone()));
            path.push(seg.clone());
            if self.node(ancestors, child, path) {
                bad.push(seg);
            }
            path.pop();
            ancestors.pop();
        }
        if bad.is_empty() {
            self.record(fault, path);
        } else if matches!(bad.first(), Some(Seg::Key(_))) {
            // The table's own fault (a missing key, a rule across keys), hidden so far by its
            // children's. Removing a bad key that is required makes it "missing": not news.
            if let Some(f) = self.probe_at(ancestors, node.without(&bad)) {
                if at_or_below(&f.at, path) && !missing_one_of(&f.message, &bad) {
                    self.record(f, path);
                }
            }
        }
        true
    }

    /// `node` alone, wrapped in each of its ancestors (without their other parts), probed.
    fn probe_at(&mut self, ancestors: &[(&'t T, Seg)], node: T) -> Option<Fault> {
        let doc = ancestors
            .iter()
            .rev()
            .fold(node, |inner, (parent, seg)| parent.only(seg, inner));
        (self.probe)(doc)
    }

    /// Keeps `fault` (of the node at `path`) with the real indices of `path`, once per path.
    fn record(&mut self, mut fault: Fault, path: &[Seg]) {
        for (seg, real) in fault.at.iter_mut().zip(path) {
            if let (Seg::Index(_), Seg::Index(i)) = (&*seg, real) {
                *seg = Seg::Index(*i);
            }
        }
        if self.seen.insert(fault.at.clone()) {
            self.found.push(fault);
        }
    }
}

/// `at` is `path` or below it. Indices are not compared: a probed array holds one item.
fn at_or_below(at: &[Seg], path: &[Seg]) -> bool {
    at.len() >= path.len()
        && at.iter().zip(path).all(|(a, p)| match (a, p) {
            (Seg::Key(a), Seg::Key(p)) => a == p,
            (Seg::Index(_), Seg::Index(_)) => true,
            _ => false,
        })
}

/// Serde's "missing field `k`" for one of the keys in `removed`.
fn missing_one_of(message: &str, removed: &[Seg]) -> bool {
    let Some(rest) = message.strip_prefix("missing field `") else {
        return false;
    };
    let name = rest.split('`').next().unwrap_or(rest);
    removed
        .iter()
        .any(|s| matches!(s, Seg::Key(k) if k == name))
}

impl<'i> Tree for Spanned<DeValue<'i>> {
    fn children(&self) -> Vec<(Seg, &Self)> {
        match self.get_ref() {
            DeValue::Table(t) => t
                .iter()
                .map(|(k, v)| (Seg::Key(k.get_ref().to_string()), v))
                .collect(),
            DeValue::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (Seg::Index(i), v))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn only(&self, seg: &Seg, child: Self) -> Self {
        let value = match (self.get_ref(), seg) {
            (DeValue::Table(t), Seg::Key(k)) => {
                let mut out = DeTable::new();
                if let Some((key, _)) = t.get_key_value(k.as_str()) {
                    out.insert(key.clone(), child);
                }
                DeValue::Table(out)
            }
            (DeValue::Array(_), _) => {
                let mut out = DeArray::new();
                out.push(child);
                DeValue::Array(out)
            }
            (other, _) => other.clone(),
        };
        Spanned::new(self.span(), value)
    }

    fn without(&self, drop: &[Seg]) -> Self {
        match self.get_ref() {
            DeValue::Table(t) => {
                let mut out = DeTable::new();
                for (k, v) in t.iter() {
                    if !drop
                        .iter()
                        .any(|d| matches!(d, Seg::Key(d) if d == k.get_ref()))
                    {
                        out.insert(k.clone(), v.clone());
                    }
                }
                Spanned::new(self.span(), DeValue::Table(out))
            }
            _ => self.clone(),
        }
    }
}

impl Tree for toml::Value {
    fn children(&self) -> Vec<(Seg, &Self)> {
        match self {
            toml::Value::Table(t) => t.iter().map(|(k, v)| (Seg::Key(k.clone()), v)).collect(),
            toml::Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (Seg::Index(i), v))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn only(&self, seg: &Seg, child: Self) -> Self {
        match (self, seg) {
            (toml::Value::Table(_), Seg::Key(k)) => {
                toml::Value::Table(std::iter::once((k.clone(), child)).collect())
            }
            (toml::Value::Array(_), _) => toml::Value::Array(vec![child]),
            (other, _) => other.clone(),
        }
    }

    fn without(&self, drop: &[Seg]) -> Self {
        match self {
            toml::Value::Table(t) => toml::Value::Table(
                t.iter()
                    .filter(|(k, _)| !drop.iter().any(|d| matches!(d, Seg::Key(d) if d == *k)))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
