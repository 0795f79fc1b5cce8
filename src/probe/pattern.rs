//! What a reply must contain: a plain substring or a regular expression, shared by the HTTP
//! body match and the TCP and UDP reply match.
//!
//! Flow: config -> spec -> (http | tcp | udp) -> **pattern** -> [`Outcome`](super::Outcome).
//!
//! Why both: a substring is what most checks need and cannot be written wrong; a regex is for
//! readiness pages whose text varies (`"status":\s*"(ok|degraded)"`, a version number). The
//! regex is compiled once when the check is built, so a bad one is a config error naming the
//! field, never a failure at probe time. Matching is on bytes, so a binary or non-UTF-8 reply
//! is searched as it is.

use regex::bytes::{Regex, RegexBuilder};

/// Largest compiled regex accepted; a pattern that needs more is almost certainly a mistake
/// (and would cost that memory once per check).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The expectation on a reply's bytes.
#[derive(Debug, Clone)]
pub(crate) enum Pattern {
    /// Any reply will do.
    Any,
    /// The reply contains these bytes.
    Substring(Vec<u8>),
    /// The regex matches somewhere in the reply.
    Regex(Regex),
}

impl Pattern {
    /// Builds the expectation from a check's substring field and regex field; setting both is
    /// an error, because it would be unclear whether both or either must match.
    pub(crate) fn new(
        substring: Option<&str>,
        regex: Option<&str>,
        substring_field: &str,
        regex_field: &str,
    ) -> Result<Self, String> {
        match (substring, regex) {
            (Some(_), Some(_)) => Err(format!(
                "set either `{substring_field}` or `{regex_field}`, not both"
            )),
            (Some(s), None) => Ok(Pattern::Substring(s.as_bytes().to_vec())),
            (None, Some(r)) => RegexBuilder::new(r)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(Pattern::Regex)
                .map_err(|e| format!("`{regex_field}` is not a valid regex: {e}")),
            (None, None) => Ok(Pattern::Any),
        }
    }

    /// True when the reply satisfies the expectation.
    pub(crate) fn matches(&self, reply: &[u8]) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Substring(s) => super::spec::contains(reply, s),
            Pattern::Regex(r) => r.is_match(reply),
        }
    }

    /// True when no particular reply is expected.
    pub(crate) fn is_any(&self) -> bool {
        matches!(self, Pattern::Any)
    }

    /// How a failure message names the expectation: `"text"` or `regex "..."`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Pattern::Any => "any reply".into(),
            Pattern::Substring(s) => format!("{:?}", String::from_utf8_lossy(s)),
            Pattern::Regex(r) => format!("regex {:?}", r.as_str()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn substring_regex_and_any() {
        let s = Pattern::new(Some("ok"), None, "expect", "expect_regex").unwrap();
        assert!(s.matches(b"all ok here"));
        assert!(!s.matches(b"all OK here"));
        assert_eq!(s.describe(), "\"ok\"");

        let r = Pattern::new(None, Some(r#""status":\s*"(ok|degraded)""#), "a", "b").unwrap();
        assert!(r.matches(br#"{"status": "degraded"}"#));
        assert!(!r.matches(br#"{"status": "down"}"#));
        // non-UTF-8 bytes in the reply do not stop the search
        assert!(r.matches(b"\xff\xfe{\"status\":\"ok\"}"));
        assert_eq!(r.describe(), r#"regex "\"status\":\\s*\"(ok|degraded)\"""#);

        let any = Pattern::new(None, None, "a", "b").unwrap();
        assert!(any.is_any() && any.matches(b""));
    }

    #[test]
    fn bad_or_ambiguous_patterns_name_the_field() {
        let e =
            Pattern::new(None, Some("(unclosed"), "expect_body", "expect_body_regex").unwrap_err();
        assert!(
            e.starts_with("`expect_body_regex` is not a valid regex"),
            "{e}"
        );
        let e = Pattern::new(Some("a"), Some("b"), "expect", "expect_regex").unwrap_err();
        assert_eq!(e, "set either `expect` or `expect_regex`, not both");
        let e = Pattern::new(None, Some("a{100000}{100000}"), "x", "y").unwrap_err();
        assert!(e.contains("not a valid regex"), "{e}");
    }
}
