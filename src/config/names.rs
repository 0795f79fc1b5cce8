//! The one rule for names, and the length limits of every other free string.
//!
//! Names (targets, services, sites, uplink anchors, agents) end up in the state file, the
//! audit trail, metrics labels and `status` lines; a name with a newline forges a log line and
//! a 1 MiB name grew the state file. Every name follows [`name_problem`]; every other string
//! of the file is bounded by [`MAX_TEXT`] (record values by [`MAX_RECORD_VALUE`]).

/// Longest name: a DNS label's length, so a name fits in a label and in one `status` column.
pub const MAX_NAME: usize = 63;

/// Longest free string (a hook command, URL, header value, expected body text, ...): far
/// above any real value, low enough that a pasted file cannot grow the state or the logs.
pub const MAX_TEXT: usize = 4096;

/// Longest record value (`address`/`addresses`), in bytes: Route 53's limit for one value
/// (API reference, `ResourceRecord.Value`: at most 4,000 characters), the lowest among the
/// adapters (DNS itself allows 65535 octets of RDATA).
pub const MAX_RECORD_VALUE: usize = 4000;

/// The rule every name follows, in the words of the error messages.
pub const NAME_RULE: &str = "use 1 to 63 letters, digits, `-`, `_` or `.`";

/// Why `s` is not a valid name, or `None`. A value is quoted only when it is short and has no
/// control characters, so the message itself stays one short line.
pub fn name_problem(s: &str) -> Option<String> {
    let n = s.chars().count();
    if s.is_empty() {
        Some("is empty".to_string())
    } else if n > MAX_NAME {
        Some(format!("is {n} characters long"))
    } else if let Some(c) = s.chars().find(|c| c.is_control()) {
        Some(format!(
            "`{}` contains the control character `{}`",
            s.escape_debug(),
            c.escape_debug()
        ))
    } else {
        s.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .map(|c| format!("`{s}` contains `{c}`"))
    }
}

/// Why a free string of `limit` bytes at most is too long, or `None`.
pub fn text_problem(s: &str, limit: usize) -> Option<String> {
    (s.len() > limit).then(|| format!("is {} bytes long; the limit is {limit} bytes", s.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_one_rule() {
        assert_eq!(name_problem("eu-west_1.a"), None);
        assert_eq!(name_problem(&"a".repeat(63)), None);
        assert_eq!(name_problem("").as_deref(), Some("is empty"));
        assert_eq!(
            name_problem(&"a".repeat(64)).as_deref(),
            Some("is 64 characters long")
        );
        assert_eq!(
            name_problem("a\nb").as_deref(),
            Some("`a\\nb` contains the control character `\\n`")
        );
        assert_eq!(
            name_problem("eu west").as_deref(),
            Some("`eu west` contains ` `")
        );
    }

    #[test]
    fn free_strings_are_bounded() {
        assert_eq!(text_problem(&"x".repeat(MAX_TEXT), MAX_TEXT), None);
        assert_eq!(
            text_problem(&"x".repeat(5000), MAX_TEXT).as_deref(),
            Some("is 5000 bytes long; the limit is 4096 bytes")
        );
    }
}
