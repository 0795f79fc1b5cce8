pub mod fake;
pub mod prism;
