//! Values the admin API reads on every request and a configuration reload replaces.
//!
//! Beside the flow (api, in front of reconcile): which services exist, which need a second
//! operator, which targets an agent may report on. A reload that adds or removes services
//! swaps them here after the control loop has taken the change in, so the API never knows a
//! service the loop does not.

use std::sync::{Arc, PoisonError, RwLock};

/// One value, read often and replaced whole, never edited in place.
#[derive(Debug, Default)]
pub struct Swappable<T>(RwLock<Arc<T>>);

impl<T> Swappable<T> {
    /// Holds `value` until the next [`Swappable::set`].
    pub fn new(value: T) -> Self {
        Swappable(RwLock::new(Arc::new(value)))
    }

    /// The value as of now (a cheap shared handle; a reload meanwhile does not change it).
    pub fn get(&self) -> Arc<T> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the value for every later [`Swappable::get`].
    pub fn set(&self, value: T) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(value);
    }
}
