//! Configuration: TOML file -> validated [`Config`].
//!
//! Start of everything: `run`, `plan` and `validate` load the file here first. Parsing is two
//! stages, [`raw`] (serde, spans, unknown keys denied; `faults` finds every unknown key and
//! value of the wrong type, not only serde's first) then [`validate`] (typed model, every
//! problem collected with file, line, key path and fix). [`window`] parses change windows;
//! `soa` is `validate`'s optional live check of the zones' negative-caching TTL.
//!
//! In the layering (docs/architecture.md) it uses only `probe` (check specs) and `providers`
//! (the registry that validation asks, [`ProviderConfig`]); every later stage reads the
//! [`Config`] it produces.

pub mod bounds;
pub mod de_error;
pub mod error;
mod faults;
pub mod model;
pub mod names;
pub mod raw;
mod soa;
pub mod validate;
pub mod window;

use std::path::Path;

pub use error::{ConfigError, Problem, Severity};
pub use model::*;
pub use soa::negative_caching_warnings;
pub use window::ChangeWindow;

/// Reads and validates a configuration file. Warnings are returned beside the config.
pub fn load(path: &Path) -> Result<(Config, Vec<Problem>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        problems: vec![Problem::error(
            None,
            "",
            format!("cannot read the file: {e}"),
            "check the path given with -c/--config and its permissions",
        )],
    })?;
    validate::parse(path, &text)
}
