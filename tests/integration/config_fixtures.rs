//! Every file in tests/fixtures/bad/ must be rejected with its expected message on its
//! expected line (both written in the file's first two comment lines); every example config
//! must validate. The real binary's `validate` and `plan` report errors without panicking.

use std::path::{Path, PathBuf};

use dnsfailback::config::{load, Severity};

use crate::harness::cli;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

fn header(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("fixture lacks a `# {key}:` line"))
}

#[test]
fn each_bad_config_is_rejected_with_its_message_and_line() {
    let files = fixtures();
    assert!(
        files.len() >= 10,
        "expected at least 10 bad configs, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let expect = header(&text, "expect");
        let line: usize = header(&text, "line").parse().unwrap_or(0);
        match load(&f) {
            Ok(_) => failures.push(format!("{}: accepted", f.display())),
            Err(e) => {
                let hit = e
                    .problems
                    .iter()
                    .find(|p| p.severity == Severity::Error && p.message.contains(&expect));
                match hit {
                    None => failures.push(format!(
                        "{}: no error contains `{expect}`; got:\n{e}",
                        f.display()
                    )),
                    Some(p) if p.line != Some(line) => failures.push(format!(
                        "{}: `{expect}` reported on line {:?}, expected {line}",
                        f.display(),
                        p.line
                    )),
                    Some(p) => {
                        assert!(!p.fix.is_empty(), "{}: no fix given", f.display());
                        let rendered = e.to_string();
                        assert!(
                            rendered.contains(&format!("{}:{line}", f.display())),
                            "rendered error names file and line: {rendered}"
                        );
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The `# problem: LINE PATH: MESSAGE` lines of a fixture: every problem planted in it.
fn planted(text: &str) -> Vec<(usize, String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# problem: "))
        .map(|p| {
            let (line, rest) = p.split_once(' ').unwrap_or((p, ""));
            let (path, message) = rest.split_once(": ").unwrap_or((rest, ""));
            let line = line.parse().unwrap_or_else(|e| panic!("`{p}`: {e}"));
            (line, path.to_string(), message.to_string())
        })
        .collect()
}

/// Issue 19: a file with several unknown keys and values of the wrong type gets every one
/// reported in one run, each once, with its line, key path and a fix, by `load` (the
/// library's `parse`) and by the real binary's `validate`.
#[test]
fn every_planted_problem_is_reported_in_one_run() {
    let files: Vec<(PathBuf, String)> = fixtures()
        .into_iter()
        .map(|f| (std::fs::read_to_string(&f).unwrap_or_default(), f))
        .filter(|(text, _)| text.contains("\n# problem: "))
        .map(|(text, f)| (f, text))
        .collect();
    assert!(!files.is_empty(), "no fixture plants several problems");
    for (f, text) in files {
        let planted = planted(&text);
        let e = match load(&f) {
            Ok(_) => panic!("{}: accepted", f.display()),
            Err(e) => e,
        };
        let errors: Vec<_> = e.errors().collect();
        for (line, path, message) in &planted {
            let p = errors
                .iter()
                .find(|p| &p.path == path)
                .unwrap_or_else(|| panic!("{}: nothing at `{path}`; got:\n{e}", f.display()));
            assert_eq!(p.line, Some(*line), "{}: {path}", f.display());
            assert!(
                p.message.starts_with(message.as_str()),
                "{}: {p:?}",
                f.display()
            );
            assert!(!p.fix.is_empty(), "{}: {path}: no fix", f.display());
            if p.message.starts_with("unknown field") {
                assert!(p.fix.contains("the keys allowed here are"), "{p:?}");
            }
        }
        assert_eq!(
            errors.len(),
            planted.len(),
            "{}: each planted problem once, nothing else; got:\n{e}",
            f.display()
        );
        let name = f.to_string_lossy();
        let (code, _, err) = cli(&["validate", "-c", &name], &[]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&format!("{name}: {} error(s)", planted.len())),
            "{err}"
        );
        for (line, path, message) in &planted {
            let shown = format!("error: {name}:{line}: {path}: {message}");
            assert!(err.contains(&shown), "`{shown}` not in:\n{err}");
        }
        assert_eq!(err.matches("\n  fix: ").count(), planted.len(), "{err}");
    }
}

#[test]
fn out_of_range_durations_name_file_line_key_path_and_range() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    for (file, line, path, message) in [
        (
            "tick_zero.toml",
            4,
            "controller.tick",
            "tick `0s` is outside the allowed range: from 10ms to 1m",
        ),
        (
            "zero_check_interval.toml",
            24,
            "services.shop.targets[1].checks[0].interval",
            "interval `0s` is outside the allowed range: from 100ms to 1h",
        ),
    ] {
        let f = dir.join(file);
        let e = match load(&f) {
            Ok(_) => panic!("{file} accepted"),
            Err(e) => e,
        };
        let p = e
            .errors()
            .find(|p| p.message == message)
            .unwrap_or_else(|| panic!("{file}: no error `{message}`; got:\n{e}"));
        assert_eq!(p.line, Some(line), "{file}");
        assert_eq!(p.path, path, "{file}");
        let rendered = e.to_string();
        assert!(
            rendered.contains(&format!("{}:{line}: {path}: {message}", f.display())),
            "{rendered}"
        );
    }
}

#[test]
fn every_example_config_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for e in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "toml") {
            n += 1;
            if let Err(err) = load(&p) {
                panic!("{} does not validate:\n{err}", p.display());
            }
        }
    }
    assert!(n >= 1);
}

#[test]
fn validate_and_plan_report_bad_input_with_exit_code_2_and_no_panic() {
    let f =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad/duplicate_priority.toml");
    let f = f.to_string_lossy();
    for cmd in ["validate", "plan"] {
        let (code, _out, err) = cli(&[cmd, "-c", &f], &[]);
        assert_eq!(code, 2, "{cmd}: {err}");
        assert!(
            err.contains("duplicate_priority.toml:23"),
            "{cmd} names file and line: {err}"
        );
        assert!(err.contains("fix:"), "{cmd} gives a fix: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, _, err) = cli(&["validate", "-c", "/nonexistent/dnsfailback.toml"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read the file"), "{err}");
    let (code, _, err) = cli(&["status", "--admin", "not-an-address"], &[]);
    assert_eq!(code, 2, "clap rejects a bad argument: {err}");
    assert!(err.contains("--admin"), "{err}");
}

#[test]
fn validate_warns_when_negative_caching_outlasts_the_failover_budget() {
    let dir = crate::harness::Scratch::new("negcache");
    let cfg = dir.path("dnsfailback.toml");
    let a: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap_or_else(|e| panic!("{e}"));
    let text = crate::harness::config(&dir.0, a, a, "").replace(
        "kind = \"embedded\"\n",
        "kind = \"embedded\"\nnegative_ttl = 900\n",
    );
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    let cfg = cfg.to_string_lossy();
    let (code, _, err) = cli(&["validate", "-c", &cfg], &[]);
    assert_eq!(code, 0, "warnings do not fail validation: {err}");
    assert!(
        err.contains("negative-caching TTL (SOA minimum) of 900s"),
        "{err}"
    );
    let (code, _, err) = cli(&["validate", "--offline", "-c", &cfg], &[]);
    assert_eq!(code, 0);
    assert!(
        !err.contains("negative-caching"),
        "--offline reads no SOA: {err}"
    );
}
