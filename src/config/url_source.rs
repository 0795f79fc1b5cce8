//! A receiver's URL: written in the file, or read from the environment or a file when the URL
//! is itself a credential (a Slack incoming webhook's address is all it takes to post).
//!
//! Part of configuration, read before the flow starts; `notify` resolves it when it starts.

use std::fmt;

use dnsfailback_provider::SecretSource;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// `url = "https://..."`, or `url = { env = "VAR" }` / `url = { file = "/path" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// Written in the configuration (shown in errors).
    Plain(String),
    /// Read when the controller starts; never shown in logs or errors.
    Secret(SecretSource),
}

impl<'de> Deserialize<'de> for UrlSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UrlVisitor)
    }
}

struct UrlVisitor;

impl<'de> Visitor<'de> for UrlVisitor {
    type Value = UrlSource;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a URL string, or { env = \"VAR\" } or { file = \"/path\" } holding the URL")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<UrlSource, E> {
        Ok(UrlSource::Plain(v.to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<UrlSource, A::Error> {
        SecretSource::deserialize(de::value::MapAccessDeserializer::new(map)).map(UrlSource::Secret)
    }
}

impl UrlSource {
    /// The URL to send to: the written one, or the secret read now. The error names the
    /// variable or file, never the value.
    pub fn resolve(&self) -> Result<String, String> {
        let (url, secret) = match self {
            UrlSource::Plain(u) => (u.clone(), false),
            UrlSource::Secret(src) => (src.load()?.expose().to_string(), true),
        };
        if is_http(&url) {
            return Ok(url);
        }
        Err(match (secret, self) {
            (true, UrlSource::Secret(src)) => format!(
                "the URL read from {} is not an http:// or https:// URL; put the receiver's \
                 address there",
                describe(src)
            ),
            _ => format!("`{url}` is not an http:// or https:// URL"),
        })
    }
}

/// Whether `url` is an absolute http(s) URL.
pub fn is_http(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|x| matches!(x.scheme(), "http" | "https"))
}

fn describe(src: &SecretSource) -> String {
    match (&src.env, &src.file) {
        (Some(var), _) => format!("environment variable {var}"),
        (_, Some(path)) => format!("file {}", path.display()),
        _ => "its source".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        url: UrlSource,
    }

    #[test]
    fn a_plain_or_secret_url_is_read_and_a_secret_one_never_shown() {
        let t: T = toml::from_str("url = \"https://hooks.example.net/x\"")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.url.resolve(), Ok("https://hooks.example.net/x".into()));
        let t: T = toml::from_str("url = { env = \"DNSFAILBACK_TEST_URL_SOURCE\" }")
            .unwrap_or_else(|e| panic!("{e}"));
        std::env::set_var("DNSFAILBACK_TEST_URL_SOURCE", "hunter2-not-a-url");
        let e = t.url.resolve().err().unwrap_or_default();
        assert!(e.contains("DNSFAILBACK_TEST_URL_SOURCE"), "{e}");
        assert!(!e.contains("hunter2"), "the secret leaked: {e}");
        std::env::set_var(
            "DNSFAILBACK_TEST_URL_SOURCE",
            "https://hooks.slack.test/T/B/c",
        );
        assert_eq!(t.url.resolve(), Ok("https://hooks.slack.test/T/B/c".into()));
        let bad = toml::from_str::<T>("url = 5").err().map(|e| e.to_string());
        assert!(bad.is_some_and(|e| e.contains("a URL string")));
    }
}
