//! Writing to stdout without panicking when the reader has gone.
//!
//! `println!` panics when stdout is a pipe whose reader has closed it (EPIPE), as in
//! `dnsfailback history shop --json | head -1`: Rust ignores SIGPIPE, so the write fails
//! instead of the process being killed. Every command prints through [`line`] and [`print`],
//! which turn that failure into a [`StdoutClosed`] error; the binary stops quietly with exit
//! code 0 when it sees one ([`is_stdout_closed`]). Other write errors (a full disk under a
//! redirect) stay errors.

use std::fmt::Display;
use std::io::{ErrorKind, Write};

/// The reader of stdout closed the pipe. Not a failure of the command: the binary exits with
/// code 0 and prints nothing, as `head` expects of the programs before it.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed by its reader")]
pub struct StdoutClosed;

/// Writes `text` followed by a newline to stdout, like `println!` but returning the error.
pub fn line(text: impl Display) -> anyhow::Result<()> {
    write_stdout(|out| writeln!(out, "{text}"))
}

/// Writes `text` as it is to stdout, like `print!` but returning the error.
pub fn print(text: &str) -> anyhow::Result<()> {
    write_stdout(|out| out.write_all(text.as_bytes()))
}

/// True when `e` (or anything in its chain) is a [`StdoutClosed`]: the caller should stop
/// quietly instead of reporting an error.
pub fn is_stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<StdoutClosed>())
}

/// Runs `write` on the locked stdout and flushes, so a closed pipe is seen now and not at
/// exit; maps EPIPE to [`StdoutClosed`].
fn write_stdout(
    write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    write(&mut out).and_then(|()| out.flush()).map_err(classify)
}

/// EPIPE becomes [`StdoutClosed`]; anything else an error that says it was stdout.
fn classify(e: std::io::Error) -> anyhow::Error {
    if e.kind() == ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(e).context("cannot write to stdout")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_pipe_counts_as_a_closed_stdout() {
        let closed = classify(std::io::Error::from(ErrorKind::BrokenPipe));
        assert!(is_stdout_closed(&closed));
        assert!(is_stdout_closed(&closed.context("printing the history")));
        let full = classify(std::io::Error::from(ErrorKind::StorageFull));
        assert!(!is_stdout_closed(&full));
        assert!(full.to_string().contains("stdout"), "{full}");
        assert!(!is_stdout_closed(&anyhow::anyhow!("connection refused")));
    }
}
