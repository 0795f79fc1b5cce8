//! The one TXT rule: how a TXT value is written as text and split into character-strings.
//!
//! Part of the provider seam (plan -> **provider** -> verify). A TXT value travels as text
//! through config, plans, state and status, and as character-strings (at most 255 octets each)
//! on the wire. Every adapter must agree on the text, or a set read back after a change would
//! never equal what was planned and verification would fail forever. The canonical text is the
//! RFC 1035 zone-file form, which Route 53 also requires: each character-string in double
//! quotes, separated by one space, with `"` and `\` escaped as `\"` and `\\` and control bytes
//! as `\DDD` (`"v=spf1 -all"`, `"part one" "part two"`).
//!
//! Input is accepted in two forms: quoted strings as above, or plain text (`v=spf1 -all`),
//! which is one string, cut into 255-octet pieces when longer. Text that starts with `"` is
//! read as quoted strings.

/// The most octets one character-string can hold (RFC 1035 section 3.3).
pub const MAX_STRING: usize = 255;

/// How a quoted TXT text escapes a byte: the zone-file rule everyone else uses, or Route 53's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxtEscapes {
    /// RFC 1035: `\DDD` is a decimal byte; UTF-8 text is kept as it is.
    ZoneFile,
    /// Route 53: `\ooo` is an octal byte, and every byte outside printable ASCII is written so.
    Octal,
}

/// The character-strings of a TXT value in either accepted form.
///
/// Errors name the problem (an unterminated quote, text outside quotes, a bad `\DDD` escape).
pub fn txt_strings(value: &str) -> Result<Vec<Vec<u8>>, String> {
    txt_strings_with(value, TxtEscapes::ZoneFile)
}

/// [`txt_strings`] for a text whose escapes follow `escapes`.
pub fn txt_strings_with(value: &str, escapes: TxtEscapes) -> Result<Vec<Vec<u8>>, String> {
    let v = value.trim();
    let raw = if v.starts_with('"') {
        quoted_strings(v, escapes)?
    } else {
        vec![v.as_bytes().to_vec()]
    };
    Ok(raw.into_iter().flat_map(|s| chunk(&s)).collect())
}

/// The canonical text of a TXT value made of `strings`.
pub fn txt_text<'a>(strings: impl IntoIterator<Item = &'a [u8]>) -> String {
    txt_text_with(strings, TxtEscapes::ZoneFile)
}

/// [`txt_text`] with the escapes of `escapes`.
pub fn txt_text_with<'a>(
    strings: impl IntoIterator<Item = &'a [u8]>,
    escapes: TxtEscapes,
) -> String {
    let mut out = String::new();
    for s in strings {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push('"');
        match (escapes, std::str::from_utf8(s)) {
            (TxtEscapes::ZoneFile, Ok(text)) => push_text(&mut out, text),
            _ => push_bytes(&mut out, s, escapes),
        }
        out.push('"');
    }
    if out.is_empty() {
        out.push_str("\"\"");
    }
    out
}

/// Checks a TXT value and returns its canonical text.
pub fn normalize_txt(value: &str) -> Result<String, String> {
    let strings = txt_strings(value).map_err(|e| format!("`{value}`: {e} (type TXT)"))?;
    Ok(txt_text(strings.iter().map(Vec::as_slice)))
}

fn quoted_strings(v: &str, escapes: TxtEscapes) -> Result<Vec<Vec<u8>>, String> {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' => i += 1,
            b'"' => {
                let (s, next) = one_quoted(bytes, i + 1, escapes)?;
                out.push(s);
                i = next;
            }
            _ => {
                return Err(format!(
                    "text outside double quotes at byte {i}; quote every string or none"
                ))
            }
        }
    }
    Ok(out)
}

/// One quoted string starting after its opening quote; returns it and the index after its
/// closing quote.
fn one_quoted(bytes: &[u8], start: usize, escapes: TxtEscapes) -> Result<(Vec<u8>, usize), String> {
    let (radix, digit_max) = match escapes {
        TxtEscapes::ZoneFile => (10, b'9'),
        TxtEscapes::Octal => (8, b'7'),
    };
    let is_digit = |d: &u8| (b'0'..=digit_max).contains(d);
    let mut s = Vec::new();
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Ok((s, i + 1)),
            b'\\' => {
                let rest = &bytes[i + 1..];
                match rest {
                    [a, b, c, ..] if [a, b, c].into_iter().all(is_digit) => {
                        let n = [a, b, c]
                            .into_iter()
                            .fold(0u32, |n, d| n * radix + u32::from(d - b'0'));
                        let byte = u8::try_from(n)
                            .map_err(|_| format!("escape `\\{n}` is above \\255"))?;
                        s.push(byte);
                        i += 4;
                    }
                    [next, ..] => {
                        s.push(*next);
                        i += 2;
                    }
                    [] => return Err("a backslash ends the value".to_string()),
                }
            }
            other => {
                s.push(other);
                i += 1;
            }
        }
    }
    Err("a double quote is not closed".to_string())
}

/// Cuts a string into pieces of at most [`MAX_STRING`] octets, never inside a UTF-8 character.
fn chunk(s: &[u8]) -> Vec<Vec<u8>> {
    if s.len() <= MAX_STRING {
        return vec![s.to_vec()];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < s.len() {
        let mut end = (start + MAX_STRING).min(s.len());
        // Step back over UTF-8 continuation bytes so a character stays whole.
        while end < s.len() && end > start + 1 && (s[end] & 0xC0) == 0x80 {
            end -= 1;
        }
        out.push(s[start..end].to_vec());
        start = end;
    }
    out
}

fn push_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\{:03}", c as u32));
            }
            c => out.push(c),
        }
    }
}

fn push_bytes(out: &mut String, s: &[u8], escapes: TxtEscapes) {
    for &b in s {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ if escapes == TxtEscapes::Octal => out.push_str(&format!("\\{b:03o}")),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &str) -> Vec<String> {
        txt_strings(v)
            .unwrap_or_default()
            .into_iter()
            .map(|s| String::from_utf8_lossy(&s).into_owned())
            .collect()
    }

    #[test]
    fn plain_and_quoted_text_give_the_same_canonical_value() {
        assert_eq!(normalize_txt("v=spf1 -all"), Ok("\"v=spf1 -all\"".into()));
        assert_eq!(
            normalize_txt("\"v=spf1 -all\""),
            Ok("\"v=spf1 -all\"".into())
        );
        assert_eq!(normalize_txt(" \"a\"   \"b\" "), Ok("\"a\" \"b\"".into()));
        assert_eq!(normalize_txt(""), Ok("\"\"".into()));
        assert_eq!(normalize_txt("say \"hi\""), Ok("\"say \\\"hi\\\"\"".into()));
    }

    #[test]
    fn quoted_strings_unescape() {
        assert_eq!(strings("\"a b\" \"c\\\"d\""), vec!["a b", "c\"d"]);
        assert_eq!(strings("\"back\\\\slash\""), vec!["back\\slash"]);
        assert_eq!(txt_strings("\"\\065\\255\""), Ok(vec![vec![b'A', 255]]));
    }

    #[test]
    fn canonical_text_reads_back_to_the_same_strings() {
        for v in [
            "\"v=spf1 include:_spf.example.test -all\"",
            "\"a\" \"b\\\"c\" \"\\\\\"",
            "\"tab\\009here\"",
            "\"\\200\\255\"",
            "\"grüße\"",
        ] {
            let once = normalize_txt(v);
            assert_eq!(once.as_deref(), Ok(v), "{v} is already canonical");
        }
        let raw: Vec<Vec<u8>> = vec![b"x\"y".to_vec(), vec![0, 200, 32], b"".to_vec()];
        let text = txt_text(raw.iter().map(Vec::as_slice));
        assert_eq!(txt_strings(&text), Ok(raw));
    }

    #[test]
    fn route53_octal_escapes_carry_the_same_bytes() {
        let canonical = "\"grüße \\\"x\\\"\" \"\\009\"";
        let strings = txt_strings(canonical).unwrap_or_default();
        let r53 = txt_text_with(strings.iter().map(Vec::as_slice), TxtEscapes::Octal);
        assert_eq!(r53, "\"gr\\303\\274\\303\\237e \\\"x\\\"\" \"\\011\"");
        let back = txt_strings_with(&r53, TxtEscapes::Octal).unwrap_or_default();
        assert_eq!(back, strings);
        assert_eq!(txt_text(back.iter().map(Vec::as_slice)), canonical);
        assert!(
            txt_strings_with("\"\\9\"", TxtEscapes::Octal).is_ok(),
            "not an escape: 9"
        );
    }

    #[test]
    fn long_text_is_cut_into_character_strings() {
        let long = "x".repeat(600);
        let parts = strings(&long);
        assert_eq!(
            parts.iter().map(String::len).collect::<Vec<_>>(),
            vec![255, 255, 90]
        );
        let quoted = format!("\"{}\"", "y".repeat(300));
        assert_eq!(strings(&quoted).len(), 2);
        // A two-byte character is never cut in half.
        let umlauts = "ü".repeat(200);
        let parts = txt_strings(&umlauts).unwrap_or_default();
        assert!(parts.iter().all(|p| p.len() <= MAX_STRING));
        assert!(parts.iter().all(|p| std::str::from_utf8(p).is_ok()));
        assert_eq!(parts.concat(), umlauts.as_bytes());
    }

    #[test]
    fn malformed_quoted_text_is_refused_with_the_reason() {
        let e = normalize_txt("\"open").err().unwrap_or_default();
        assert!(e.contains("not closed"), "{e}");
        let e = normalize_txt("\"a\" b").err().unwrap_or_default();
        assert!(e.contains("outside double quotes"), "{e}");
        let e = normalize_txt("\"\\300\"").err().unwrap_or_default();
        assert!(e.contains("above"), "{e}");
        let e = normalize_txt("\"a\\").err().unwrap_or_default();
        assert!(e.contains("backslash") || e.contains("not closed"), "{e}");
    }
}
