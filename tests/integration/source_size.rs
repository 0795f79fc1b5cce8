//! The size rule of issue 13, checked on every run: no file in `src/` over about 400 lines
//! and no function outside tests over about 80, so the control loop stays readable in pieces.
//! The scan is textual (a function ends at the first `}` at its own indentation), and a
//! self-check makes sure it finds the functions it should, so it cannot pass by finding none.

use std::path::Path;

use crate::module_graph::{rust_files, src_dir};

/// "About 400": a little slack so a doc comment does not fail the build.
const MAX_FILE_LINES: usize = 420;
/// "About 80", likewise.
const MAX_FN_LINES: usize = 85;

/// Test code (unit-test files and `testutil` helpers) is held to the file rule only.
fn is_test_file(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "tests")
        || path
            .file_name()
            .is_some_and(|n| n == "tests.rs" || n == "testutil.rs")
}

/// `(name, first line, lines)` of each function in `text` before its `#[cfg(test)]` module.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("#[cfg(test)]") {
            break;
        }
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let after_vis = body
            .strip_prefix("pub(crate) ")
            .or_else(|| body.strip_prefix("pub(super) "))
            .or_else(|| body.strip_prefix("pub "))
            .unwrap_or(body);
        let after_async = after_vis.strip_prefix("async ").unwrap_or(after_vis);
        if let Some(sig) = after_async.strip_prefix("fn ") {
            let name: String = sig
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let close = format!("{indent}}}");
            let end = (i + 1..lines.len()).find(|&j| lines[j] == close);
            if let (Some(end), false) = (end, line.trim_end().ends_with(';')) {
                out.push((name, i + 1, end - i + 1));
                i = end;
            }
        }
        i += 1;
    }
    out
}

#[test]
fn source_files_and_functions_stay_small() {
    let src = src_dir();
    let mut too_long = Vec::new();
    let mut found = 0;
    for file in rust_files(&src) {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let rel = file
            .strip_prefix(&src)
            .unwrap_or(&file)
            .display()
            .to_string();
        let n = text.lines().count();
        if n > MAX_FILE_LINES {
            too_long.push(format!("src/{rel}: {n} lines (at most {MAX_FILE_LINES})"));
        }
        if is_test_file(&file) {
            continue;
        }
        for (name, at, len) in functions(&text) {
            found += 1;
            if len > MAX_FN_LINES {
                too_long.push(format!(
                    "src/{rel}:{at} fn {name}: {len} lines (at most {MAX_FN_LINES})"
                ));
            }
        }
    }
    assert!(
        found > 500,
        "the scan found only {found} functions: is it broken?"
    );
    assert!(
        too_long.is_empty(),
        "split these into named steps:\n{}",
        too_long.join("\n")
    );
}

#[test]
fn the_scan_measures_a_function_from_signature_to_closing_brace() {
    let text = "fn a() {\n    x();\n}\n\n    pub(super) async fn b(\n        y: u8,\n    ) -> u8 {\n        y\n    }\nfn c();\n#[cfg(test)]\nfn d() {\n}\n";
    assert_eq!(
        functions(text),
        vec![("a".to_string(), 1, 3), ("b".to_string(), 5, 5)]
    );
}
