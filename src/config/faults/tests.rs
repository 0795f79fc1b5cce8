//! The walker on small serde types: every unknown key and bad value at every depth, each once,
//! with real array indices; a table's own fault (a missing key) beside its children's; the
//! spanned tree of a whole file.

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::{faults, Fault, Seg};
use crate::providers::{from_value, render, segments};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Outer {
    name: String,
    size: Option<u32>,
    inner: Option<Inner>,
    #[serde(default)]
    list: Vec<Inner>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Inner {
    x: u32,
    y: Option<String>,
}

fn found(text: &str) -> Vec<(String, String)> {
    let table: toml::Table = toml::from_str(text).unwrap();
    let root = toml::Value::Table(table);
    let mut probe = |part: toml::Value| {
        from_value::<Outer>(part)
            .err()
            .map(|e| Fault::new(e.at, e.message))
    };
    faults(&root, &mut probe)
        .into_iter()
        .map(|f| (render(&f.at), f.message))
        .collect()
}

fn paths(found: &[(String, String)]) -> Vec<&str> {
    found.iter().map(|(p, _)| p.as_str()).collect()
}

#[test]
fn a_clean_table_has_no_fault() {
    assert!(found("name = \"a\"\nlist = [{ x = 1 }, { x = 2, y = \"b\" }]").is_empty());
}

#[test]
fn every_unknown_key_and_bad_value_is_found_once_at_its_real_index() {
    let f = found(
        r#"
name = "a"
naem = "typo"
size = "3"
inner = { x = 1, z = 2 }
list = [{ x = 1 }, { x = "2", w = 1 }, { x = 3 }, { x = 4, y = 5 }]
"#,
    );
    assert_eq!(
        paths(&f),
        [
            "inner.z",
            "list[1].w",
            "list[1].x",
            "list[3].y",
            "naem",
            "size"
        ],
        "{f:?}"
    );
    assert!(
        f[0].1.starts_with("unknown field `z`, expected `x` or `y`"),
        "{f:?}"
    );
    assert!(f[2].1.starts_with("invalid type: string \"2\""), "{f:?}");
}

#[test]
fn a_missing_key_is_found_beside_the_faults_of_the_other_keys() {
    // `name` is missing from the top table, `x` from list[0] (whose `y` is bad too).
    let f = found("size = 1\nextra = 1\nlist = [{ y = 1 }]");
    assert_eq!(paths(&f), ["extra", "list[0].y", "list[0]", ""], "{f:?}");
    assert_eq!(f[2].1, "missing field `x`");
    assert_eq!(f[3].1, "missing field `name`");
    // A required key with a bad value is reported once, not again as missing.
    let f = found("name = 1");
    assert_eq!(paths(&f), ["name"], "{f:?}");
}

#[test]
fn a_value_of_the_wrong_shape_is_one_fault_not_one_per_item() {
    let f = found("name = [\"a\", \"b\"]\nlist = { x = 1, y = \"a\" }");
    assert_eq!(paths(&f), ["list", "name"], "{f:?}");
    assert_eq!(f[0].1, "invalid type: map, expected a sequence");
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SpannedOuter {
    a: Spanned<u32>,
    #[serde(default)]
    items: Vec<Spanned<SpannedInner>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SpannedInner {
    b: Spanned<String>,
}

#[test]
fn the_spanned_tree_of_a_file_is_walked_the_same_way() {
    let text = "a = \"1\"\n[[items]]\nb = \"x\"\n[[items]]\nb = 2\nc = 3\n";
    let (doc, errors) = DeTable::parse_recoverable(text);
    assert!(errors.is_empty());
    let root = Spanned::new(doc.span(), DeValue::Table(doc.into_inner()));
    let mut probe = |part: Spanned<DeValue<'_>>| {
        serde_path_to_error::deserialize::<_, SpannedOuter>(ValueDeserializer::from(part))
            .err()
            .map(|e| Fault::new(segments(e.path()), e.inner().message().to_string()))
    };
    let f = faults(&root, &mut probe);
    let at: Vec<String> = f.iter().map(|f| render(&f.at)).collect();
    assert_eq!(at, ["a", "items[1].b", "items[1].c"], "{f:?}");
    assert_eq!(
        f[1].at,
        [
            Seg::Key("items".into()),
            Seg::Index(1),
            Seg::Key("b".into())
        ]
    );
}
