//! Secrets (API tokens, TSIG keys) loaded from the environment or a file, never from config
//! text, and never printed.
//!
//! Used by every adapter's configuration; [`Secret`]'s `Debug` and `Display` print
//! `<redacted>`, so a secret cannot leak through `{:?}` in a log line, an error or `status`.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where a secret comes from: exactly one of an environment variable or a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Name of an environment variable holding the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Path of a file whose content (trimmed) is the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

impl SecretSource {
    /// Reads the secret; the error names the variable or file and the fix, never the value.
    pub fn load(&self) -> Result<Secret, String> {
        match (&self.env, &self.file) {
            (Some(var), None) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_string())),
                Ok(_) => Err(format!("environment variable {var} is empty; set it to the secret")),
                Err(_) => Err(format!(
                    "environment variable {var} is not set; export it before starting dnsfailback"
                )),
            },
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_string())),
                Ok(_) => Err(format!("secret file {} is empty", path.display())),
                Err(e) => Err(format!(
                    "cannot read secret file {}: {e}; check the path and its permissions",
                    path.display()
                )),
            },
            (Some(_), Some(_)) => Err("give either `env` or `file` for a secret, not both".into()),
            (None, None) => Err(
                "a secret needs `env = \"VARIABLE\"` or `file = \"/path\"`; secrets are never written in the config"
                    .into(),
            ),
        }
    }
}

/// A loaded secret. Only [`Secret::expose`] gives the value, so every use is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value obtained some other way (tests, generated tokens).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text, for signing or an Authorization header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("hunter2-token");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-token");
    }

    #[test]
    fn missing_source_explains_fix() {
        let e = SecretSource {
            env: None,
            file: None,
        }
        .load()
        .err()
        .unwrap_or_default();
        assert!(e.contains("never written in the config"), "{e}");
    }
}
