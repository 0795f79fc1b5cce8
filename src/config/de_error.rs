//! Serde's and toml's messages reworded for people: the key path, what was expected in plain
//! words, and the fix; never a Rust type name, and never the value of a secret.
//!
//! Every place that turns a serde error into a [`super::Problem`] (the whole file, a
//! provider's settings, a check table) goes through [`word`], so the same mistake reads the
//! same everywhere: `invalid type: string "300", expected i64` becomes "`services.shop.ttl`
//! is written in quotes, but it must be a number, without quotes".

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
    if msg.starts_with("unknown field") {
        return (msg.to_string(), format!("remove the key or correct its spelling; the allowed keys are listed above ({DOCS})"));
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

/// The key of `table` whose value serde's message describes (`invalid type: integer `5`, ...`),
/// when exactly one matches: an internally tagged enum (a check's `kind`) loses the key path.
pub fn guess_key<'t>(table: &'t toml::Table, msg: &str) -> Option<&'t str> {
    let rest = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "))?;
    let found = rest.split_once(", expected ")?.0;
    let mut keys = table.iter().filter(|(_, v)| {
        let shown = match v {
            toml::Value::String(s) => format!("string {s:?}"),
            toml::Value::Integer(n) => format!("integer `{n}`"),
            toml::Value::Float(f) => format!("floating point `{f}`"),
            toml::Value::Boolean(b) => format!("boolean `{b}`"),
            _ => return false,
        };
        shown == found
    });
    match (keys.next(), keys.next()) {
        (Some((k, _)), None) => Some(k.as_str()),
        _ => None,
    }
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
    fn values_are_found_by_path() {
        let root: toml::Table =
            toml::from_str("[a]\nb = [{ c = 1 }, { c = 2 }]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(value_at(&root, "a.b[1].c"), Some(&toml::Value::Integer(2)));
        assert_eq!(value_at(&root, "a.x"), None);
    }
}
