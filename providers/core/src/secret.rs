//! Secrets (API tokens, TSIG keys) loaded from the environment or a file, never from config
//! text, and never printed.
//!
//! Used by every adapter's configuration; [`Secret`]'s `Debug` and `Display` print
//! `<redacted>`, so a secret cannot leak through `{:?}` in a log line, an error or `status`.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The error for a secret written as a value (a string, a number, ...) instead of a source.
/// It never contains the value: whatever was written may be the real secret.
pub const INLINE_SECRET: &str =
    "a secret is written inline: write secrets as { env = \"VAR\" } or { file = \"/path\" }";

/// The error for a secret table with both or neither of `env` and `file`.
pub const ONE_SOURCE: &str = "give exactly one of `env` or `file`";

/// Where a secret comes from: exactly one of an environment variable or a file.
///
/// Deserialised by hand: a secret written inline is refused with [`INLINE_SECRET`], which
/// (unlike serde's `invalid type` error) does not repeat the value, and a table with both or
/// neither source is refused while the file is read, not when the secret is first loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretSource {
    /// Name of an environment variable holding the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Path of a file whose content (trimmed) is the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SourceVisitor)
    }
}

/// Accepts only a table `{ env = ... }` or `{ file = ... }`; every other form is an inline
/// secret, refused without its value.
struct SourceVisitor;

impl<'de> Visitor<'de> for SourceVisitor {
    type Value = SecretSource;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{ env = \"VAR\" } or { file = \"/path\" }")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<SecretSource, E> {
        Err(E::custom(INLINE_SECRET))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretSource, E> {
        Err(E::custom(INLINE_SECRET))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretSource, E> {
        Err(E::custom(INLINE_SECRET))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretSource, E> {
        Err(E::custom(INLINE_SECRET))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretSource, E> {
        Err(E::custom(INLINE_SECRET))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<SecretSource, A::Error> {
        Err(de::Error::custom(INLINE_SECRET))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
        let mut source = SecretSource {
            env: None,
            file: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "env" => source.env = Some(map.next_value()?),
                "file" => source.file = Some(map.next_value()?),
                other => return Err(de::Error::unknown_field(other, &["env", "file"])),
            }
        }
        if source.env.is_some() == source.file.is_some() {
            return Err(de::Error::custom(ONE_SOURCE));
        }
        Ok(source)
    }
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

/// The key bytes of a TSIG secret given as the bare base64 secret or as a BIND key file
/// (`key "name" { algorithm ...; secret "...."; };`), so `tsig-keygen` output works as is;
/// shared by every adapter that signs with TSIG. Errors never contain the text.
pub fn tsig_key_bytes(text: &str) -> Result<Vec<u8>, String> {
    let b64 = match text.find("secret") {
        Some(i) => {
            let rest = &text[i + "secret".len()..];
            let start = rest
                .find('"')
                .ok_or("key file: `secret` has no quoted value")?;
            let rest = &rest[start + 1..];
            let end = rest.find('"').ok_or("key file: unterminated secret")?;
            &rest[..end]
        }
        None => text,
    };
    let clean: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = data_encoding::BASE64
        .decode(clean.as_bytes())
        .map_err(|_| {
            "the TSIG secret is not valid base64 (as written by tsig-keygen or keymgr)".to_string()
        })?;
    if bytes.is_empty() {
        return Err("the TSIG secret is empty".into());
    }
    Ok(bytes)
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

    #[test]
    fn a_secret_is_exactly_one_source_and_never_inline() {
        let parse =
            |text: &str| serde_json::from_str::<SecretSource>(text).map_err(|e| e.to_string());
        assert_eq!(
            parse(r#"{"env": "TOKEN"}"#),
            Ok(SecretSource {
                env: Some("TOKEN".into()),
                file: None
            })
        );
        for text in [r#"{"env": "A", "file": "/b"}"#, "{}"] {
            let e = parse(text).err().unwrap_or_default();
            assert!(e.starts_with(ONE_SOURCE), "{text}: {e}");
        }
        for text in [r#""hunter2-inline""#, "12345678", "[\"hunter2-inline\"]"] {
            let e = parse(text).err().unwrap_or_default();
            assert!(e.starts_with(INLINE_SECRET), "{text}: {e}");
            assert!(!e.contains("hunter2") && !e.contains("12345678"), "{e}");
        }
    }
}
