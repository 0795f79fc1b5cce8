//! Log output on stderr: the filter from `-v`/`RUST_LOG`, and colours only where a person
//! reads them.
//!
//! ANSI colour codes in a log file or in journald are noise (`\x1b[2m...`), so `--color auto`
//! (the default) colours only when stderr is a terminal and `NO_COLOR` is not set
//! (<https://no-color.org>); `always` and `never` decide regardless.

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

/// Logging to stderr; `RUST_LOG` wins over `-v`; colours as `color` says (see
/// [`ColorChoice::use_color`]).
pub fn init_tracing(verbose: u8, color: ColorChoice) {
    let default = match verbose {
        0 => "info,hickory_server=warn",
        1 => "debug,hickory_server=info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let no_color = std::env::var_os("NO_COLOR");
    let ansi = color.use_color(std::io::stderr().is_terminal(), no_color.as_deref());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

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
