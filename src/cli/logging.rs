//! Log output on stderr: the filter from `-v`/`RUST_LOG`, and colours only where a person
//! reads them.
//!
//! ANSI colour codes in a log file or in journald are noise (`\x1b[2m...`), so `--color auto`
//! (the default) colours only when stderr is a terminal and `NO_COLOR` is not set
//! (<https://no-color.org>); `always` and `never` decide regardless. `--log-format json`
//! writes one JSON object per line instead (level, target, message and every field such as
//! `service`), for log shippers that would otherwise parse text.

use std::ffi::OsStr;
use std::io::IsTerminal;

/// `--color`: when log lines on stderr get ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    /// Always colour, even into a pipe or file.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour, given whether stderr is a terminal and the value of `NO_COLOR`.
    /// Kept free of the environment so every case can be tested.
    pub fn use_color(self, stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stderr_is_terminal && no_color.is_none_or(OsStr::is_empty),
        }
    }
}

/// `--log-format`: how each log line on stderr is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured as `--color` says).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`
    /// and each structured field, e.g. `service`, `action`). Never coloured.
    Json,
}

/// hickory-server (the embedded DNS server's listener) logs two `info` lines for every DNS
/// query it answers, which under load is hundreds of megabytes a minute. The embedded server
/// logs its own per-query line at `debug`; hickory's stay at `warn` unless asked for by name.
const QUIET_HICKORY: &str = "hickory_server=warn";

/// The filter for `-v` count `verbose` and the value of `RUST_LOG`: `RUST_LOG` wins over
/// `-v`, but keeps hickory's per-query lines out unless it names a `hickory` target itself
/// (`RUST_LOG=info,hickory_server=info` shows them). `-vv` shows everything.
pub fn filter_spec(verbose: u8, rust_log: Option<&str>) -> String {
    match rust_log.map(str::trim) {
        Some(spec) if !spec.is_empty() && spec.contains("hickory") => spec.to_string(),
        Some(spec) if !spec.is_empty() => format!("{spec},{QUIET_HICKORY}"),
        _ => match verbose {
            0 => format!("info,{QUIET_HICKORY}"),
            1 => format!("debug,{QUIET_HICKORY}"),
            _ => "trace".to_string(),
        },
    }
}

/// Logging to stderr with [`filter_spec`], as text (colours as `color` says, see
/// [`ColorChoice::use_color`]) or as JSON lines.
pub fn init_tracing(verbose: u8, color: ColorChoice, format: LogFormat) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = tracing_subscriber::EnvFilter::try_new(filter_spec(verbose, rust_log.as_deref()))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter_spec(verbose, None)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
        LogFormat::Text => {
            let no_color = std::env::var_os("NO_COLOR");
            let ansi = color.use_color(std::io::stderr().is_terminal(), no_color.as_deref());
            builder.with_ansi(ansi).try_init()
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_query_lines_of_hickory_stay_out_unless_named() {
        assert_eq!(filter_spec(0, None), "info,hickory_server=warn");
        assert_eq!(filter_spec(1, Some(" ")), "debug,hickory_server=warn");
        assert_eq!(filter_spec(2, None), "trace");
        assert_eq!(filter_spec(0, Some("info")), "info,hickory_server=warn");
        assert_eq!(
            filter_spec(0, Some("info,hickory_server=info")),
            "info,hickory_server=info"
        );
    }

    #[test]
    fn auto_colours_only_a_terminal_without_no_color() {
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        assert!(ColorChoice::Auto.use_color(true, None));
        assert!(
            ColorChoice::Auto.use_color(true, empty),
            "empty NO_COLOR is unset"
        );
        assert!(!ColorChoice::Auto.use_color(true, set));
        assert!(!ColorChoice::Auto.use_color(false, None));
        assert!(ColorChoice::Always.use_color(false, set));
        assert!(!ColorChoice::Never.use_color(true, None));
    }
}
