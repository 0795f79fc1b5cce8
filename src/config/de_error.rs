//! Serde's and toml's messages reworded for people: the key path, what was expected in plain
//! words, and the fix; never a Rust type name, and never the value of a secret.
//!
//! Every place that turns a serde error into a [`super::Problem`] (the whole file, a
//! provider's settings, a check table) goes through [`word`], so the same mistake reads the
//! same everywhere: `invalid type: string "300", expected i64` becomes "`services.shop.ttl`
//! is written in quotes, but it must be a number, without quotes". An unknown key
//! ([`unknown_key`]) gets the keys allowed in its table and the one it most likely meant.
//!
//! Part of config validation, which runs before the flow starts.

use dnsfailback_provider::{INLINE_SECRET, ONE_SOURCE};

const DOCS: &str = "see docs/config.md";

/// Longest written value quoted back in a message.
const MAX_QUOTED: usize = 80;

/// A serde message about the key at `path` (full path, e.g. `providers.local.listen`), with
/// the value written there when known: the message and the fix of the problem.
pub fn word(path: &str, msg: &str, value: Option<&toml::Value>) -> (String, String) {
    let key = key_of(path);
    if msg.starts_with(INLINE_SECRET) {
        return (
            format!("`{path}` is a secret written inline: write secrets as {{ env = \"VAR\" }} or {{ file = \"/path\" }}"),
            format!("write {key} = {{ env = \"VAR\" }} or {key} = {{ file = \"/path\" }}; the value is not repeated here"),
        );
    }
    if msg.starts_with(ONE_SOURCE) {
        return (
            format!("`{path}` must give exactly one of `env` or `file`"),
            format!(
                "write {key} = {{ env = \"VAR\" }} or {key} = {{ file = \"/path\" }}, not both"
            ),
        );
    }
    if let Some((key, allowed)) = unknown_field(msg) {
        return unknown_key(&key, &allowed, DOCS);
    }
    if msg.starts_with("missing field") {
        return (msg.to_string(), format!("add the missing key ({DOCS})"));
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        return invalid_type(path, key, rest);
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ") {
        let expected = rest.split_once(", expected ").map_or(rest, |(_, e)| e);
        return (
            format!("`{path}` is out of range: it must be {}", plain(expected)),
            format!("write {key} as {} ({DOCS})", plain(expected)),
        );
    }
    if msg.starts_with("unknown variant") {
        return (
            format!("`{path}`: {msg}"),
            "use one of the values listed".to_string(),
        );
    }
    custom(path, key, msg, value)
}

/// The key and the allowed keys of serde's ``unknown field `k`, expected one of `a`, `b` ``
/// message (no allowed keys for "there are no fields"); `None` for any other message.
pub fn unknown_field(msg: &str) -> Option<(String, Vec<String>)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (key, listed) = match rest.split_once("`, expected ") {
        Some((key, listed)) => (key, listed),
        None => (rest.split_once("`, there are no fields")?.0, ""),
    };
    // "`a`", "`a` or `b`", "one of `a`, `b`, `c`": every second piece between backticks.
    let allowed = listed
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((key.to_string(), allowed))
}

/// Key `key`, written where only `allowed` are known: the message and the fix, with the key
/// it most likely meant. `docs` is the page to read (`see docs/config.md`). A key that is
/// long or holds control characters is not quoted back.
pub fn unknown_key(key: &str, allowed: &[String], docs: &str) -> (String, String) {
    let shown = if key.len() <= MAX_QUOTED && !key.chars().any(char::is_control) {
        format!("`{key}`")
    } else {
        format!("of {} bytes", key.len())
    };
    let list = match allowed {
        [] => "this table takes no keys".to_string(),
        _ => format!(
            "the keys allowed here are {}",
            allowed
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let fix = match closest(key, allowed) {
        Some(near) => format!(
            "did you mean `{near}`? Correct the spelling or remove the key; {list} ({docs})"
        ),
        None => format!("remove the key or correct its spelling; {list} ({docs})"),
    };
    (format!("unknown field {shown}"), fix)
}

/// The allowed key `key` was most likely meant to be: the same but for case, or one or two
/// letters off (one for short keys), or the only key it starts (`prio` for `priority`).
fn closest<'a>(key: &str, allowed: &'a [String]) -> Option<&'a str> {
    if key.len() > MAX_QUOTED {
        return None;
    }
    let key = key.to_lowercase();
    let limit = if key.chars().count() <= 4 { 1 } else { 2 };
    let near = allowed
        .iter()
        .map(|a| (edits(&key, &a.to_lowercase()), a))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a.as_str());
    if near.is_some() || key.chars().count() < 3 {
        return near;
    }
    let mut starts = allowed.iter().filter(|a| a.starts_with(key.as_str()));
    match (starts.next(), starts.next()) {
        (Some(a), None) => Some(a.as_str()),
        _ => None,
    }
}

/// Edits (insert, delete, change, swap two neighbours) from `a` to `b`.
fn edits(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Rows i-2, i-1 and i of the table of distances between prefixes.
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let change = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (prev[j] + 1).min(row[j - 1] + 1).min(prev[j - 1] + change);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                if let Some(d) = before.get(j - 2) {
                    row[j] = row[j].min(d + 1);
                }
            }
        }
        before = std::mem::replace(&mut prev, row);
    }
    prev.last().copied().unwrap_or(0)
}

/// The last key of a path: `listen` of `providers.local.listen`, `targets` of `targets[1]`.
fn key_of(path: &str) -> &str {
    let last = path.rsplit('.').next().unwrap_or(path);
    last.split('[').next().unwrap_or(last)
}

/// `string "300", expected i64` (the part after `invalid type: `).
fn invalid_type(path: &str, key: &str, rest: &str) -> (String, String) {
    let (found, expected) = rest
        .split_once(", expected ")
        .unwrap_or((rest, "another type"));
    let found = match found.split([' ', ':']).next().unwrap_or(found) {
        "string" => "written in quotes (a string)",
        "integer" | "floating" => "a number",
        "boolean" => "true or false",
        "sequence" => "a list",
        "map" | "struct" => "a table",
        _ => "of another type",
    };
    let expected = plain(expected);
    (
        format!("`{path}` is {found}, but it must be {expected}"),
        format!("write {key} as {expected} ({DOCS})"),
    )
}

/// An expectation in plain words: `i64` -> "a number, without quotes".
fn plain(expected: &str) -> String {
    let e = expected.trim();
    let words = match e {
        "u8" => "a whole number from 0 to 255, without quotes",
        "u16" => "a whole number from 0 to 65535, without quotes",
        "u32" => "a whole number from 0 to 4294967295, without quotes",
        "u64" | "usize" => "a whole number of 0 or more, without quotes",
        "i8" | "i16" | "i32" | "i64" | "isize" | "an integer" => "a number, without quotes",
        "f32" | "f64" | "a float" => "a number, without quotes",
        "a boolean" | "bool" => "true or false, without quotes",
        "a string" | "string" | "a borrowed string" | "a character" => "a string in quotes",
        // An enum's name, such as a check's `kind`.
        "variant identifier" => "one of the names in docs/config.md, in quotes",
        "a sequence" => "a list, like [\"a\", \"b\"]",
        "a map" => "a table",
        _ if e.starts_with("struct ") || e.starts_with("a map") => "a table",
        _ if e.starts_with("a sequence") || e.starts_with("an array") => {
            "a list, like [\"a\", \"b\"]"
        }
        _ if e.contains("socket address") => "an address like \"127.0.0.1:53\"",
        _ if e.contains("IP address") => "an IP address like \"192.0.2.1\"",
        _ => return e.to_string(),
    };
    words.to_string()
}

/// A message of the type's own parser (`invalid socket address syntax`, a domain name's
/// error): said with the key and, when short, the written value.
fn custom(path: &str, key: &str, msg: &str, value: Option<&toml::Value>) -> (String, String) {
    let shown = match value {
        Some(toml::Value::String(s))
            if s.len() <= MAX_QUOTED && !s.chars().any(char::is_control) =>
        {
            format!("`{path} = \"{s}\"`")
        }
        _ => format!("`{path}`"),
    };
    if msg.contains("invalid socket address syntax") {
        return (
            format!("{shown} is not an address like 127.0.0.1:53"),
            format!("write {key} = \"IP:PORT\", e.g. \"127.0.0.1:53\" or \"[2001:db8::53]:53\""),
        );
    }
    if msg.contains("invalid IP address syntax") {
        return (
            format!("{shown} is not an IP address like 192.0.2.1"),
            format!("write {key} = \"192.0.2.1\" (or an IPv6 address)"),
        );
    }
    (
        format!("{shown}: {msg}"),
        format!("correct the value of {key} ({DOCS})"),
    )
}

/// The value at `path` (`a.b[1].c`) of `root`, to quote it in a message.
pub fn value_at<'v>(root: &'v toml::Table, path: &str) -> Option<&'v toml::Value> {
    let mut v: Option<&toml::Value> = None;
    for part in path.split('.') {
        let mut pieces = part.split('[');
        let name = pieces.next()?;
        v = Some(match v {
            None => root.get(name)?,
            Some(t) => t.get(name)?,
        });
        for index in pieces {
            v = v?.get(index.trim_end_matches(']').parse::<usize>().ok()?);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_number_names_the_key_and_says_without_quotes() {
        let (m, f) = word(
            "services.shop.ttl",
            "invalid type: string \"300\", expected i64",
            None,
        );
        assert_eq!(
            m,
            "`services.shop.ttl` is written in quotes (a string), but it must be a number, without quotes"
        );
        assert_eq!(
            f,
            "write ttl as a number, without quotes (see docs/config.md)"
        );
        assert!(!m.contains("i64") && !f.contains("i64"));
    }

    #[test]
    fn a_bad_address_names_key_and_value() {
        let v = toml::Value::String("localhost".into());
        let (m, _) = word(
            "providers.local.listen",
            "invalid socket address syntax",
            Some(&v),
        );
        assert_eq!(
            m,
            "`providers.local.listen = \"localhost\"` is not an address like 127.0.0.1:53"
        );
    }

    #[test]
    fn type_names_become_words() {
        let (m, _) = word(
            "x.retries",
            "invalid value: integer `-1`, expected usize",
            None,
        );
        assert_eq!(
            m,
            "`x.retries` is out of range: it must be a whole number of 0 or more, without quotes"
        );
        let (m, _) = word(
            "x.batch",
            "invalid type: string \"no\", expected a boolean",
            None,
        );
        assert_eq!(m, "`x.batch` is written in quotes (a string), but it must be true or false, without quotes");
        let (m, _) = word(
            "x.zones",
            "invalid type: string \"a\", expected a sequence",
            None,
        );
        assert_eq!(
            m,
            "`x.zones` is written in quotes (a string), but it must be a list, like [\"a\", \"b\"]"
        );
    }

    #[test]
    fn an_unknown_key_gets_the_allowed_keys_and_the_closest_one() {
        let msg = "unknown field `ttll`, expected one of `provider`, `ttl`, `failover_ttl`";
        let (m, f) = word("services.shop.ttll", msg, None);
        assert_eq!(m, "unknown field `ttll`");
        assert_eq!(f, "did you mean `ttl`? Correct the spelling or remove the key; the keys allowed here are `provider`, `ttl`, `failover_ttl` (see docs/config.md)");
        let keys = |l: &[&str]| l.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let parsed = |k: &str, l: &[&str]| Some((k.to_string(), keys(l)));
        assert_eq!(
            unknown_field("unknown field `x`, expected `a`"),
            parsed("x", &["a"])
        );
        assert_eq!(
            unknown_field("unknown field `x`, expected `a` or `b`"),
            parsed("x", &["a", "b"])
        );
        assert_eq!(
            unknown_field("unknown field `x.y`, there are no fields"),
            parsed("x.y", &[])
        );
        assert_eq!(unknown_field("missing field `x`"), None);
        let allowed = keys(&[
            "interval",
            "timeout",
            "priority",
            "min_ttl",
            "expect_status",
        ]);
        for (typo, meant) in [
            ("intervall", Some("interval")),
            ("Timeout", Some("timeout")),
            ("min_tll", Some("min_ttl")),
            ("prio", Some("priority")),
            ("expect_stauts", Some("expect_status")),
            ("colour", None),
            ("tx", None),
        ] {
            assert_eq!(closest(typo, &allowed), meant, "{typo}");
        }
        let (m, f) = unknown_key(&"k".repeat(500), &[], DOCS);
        assert_eq!(m, "unknown field of 500 bytes");
        assert!(f.contains("this table takes no keys"), "{f}");
    }

    #[test]
    fn edits_count_swaps_as_one() {
        for (a, b, n) in [
            ("", "", 0),
            ("a", "", 1),
            ("ab", "ba", 1),
            ("kitten", "sitting", 3),
            ("ttl", "ttll", 1),
        ] {
            assert_eq!(edits(a, b), n, "{a} {b}");
        }
    }

    #[test]
    fn values_are_found_by_path() {
        let root: toml::Table =
            toml::from_str("[a]\nb = [{ c = 1 }, { c = 2 }]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(value_at(&root, "a.b[1].c"), Some(&toml::Value::Integer(2)));
        assert_eq!(value_at(&root, "a.x"), None);
    }
}
