//! Configuration: TOML file -> validated [`Config`].
//!
//! Start of everything: `run`, `plan` and `validate` load the file here first. Parsing is two
//! stages, [`raw`] (serde, spans, unknown keys denied; `faults` finds every unknown key and
//! value of the wrong type, not only serde's first) then [`validate`] (typed model, every
//! problem collected with file, line, key path and fix). [`window`] parses change windows;
//! `soa` is `validate`'s optional live check of the zones' negative-caching TTL; `tls_files`
//! reads the TLS files for `validate` and `run` (not for every command).
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
mod tls_files;
pub mod url_source;
pub mod validate;
pub mod window;

use std::path::Path;

pub use error::{ConfigError, Problem, Severity};
pub use model::*;
pub use soa::{failover_window_secs, negative_caching_warnings};
pub use tls_files::tls_file_problems;
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

/// [`load`], then the TLS files read ([`tls_file_problems`]): what `validate` and `run` use.
/// Other commands use [`load`] alone, so they work without access to the server's key.
pub fn load_with_files(path: &Path) -> Result<(Config, Vec<Problem>), ConfigError> {
    let (config, warnings) = load(path)?;
    let problems = tls_file_problems(&config);
    if problems.is_empty() {
        Ok((config, warnings))
    } else {
        Err(ConfigError {
            file: path.to_path_buf(),
            problems,
        })
    }
}
