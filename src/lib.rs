//! dnsfailback controller (skeleton).
