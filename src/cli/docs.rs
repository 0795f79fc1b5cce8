//! Shell completions and the manual page, generated from the clap definitions of [`Cli`] so
//! they always match the parser (a new option or subcommand appears in both by itself).
//!
//! Outside the decision flow: packaging aids for the operator's shell.

use clap::CommandFactory;

use super::Cli;

/// `dnsfailback completions SHELL`: the script on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "dnsfailback", &mut buf);
    super::out::print(&String::from_utf8_lossy(&buf))?;
    Ok(0)
}

/// `dnsfailback man`: the manual page (roff) on stdout: the global options and every
/// subcommand with its summary; with `out`, that page and one per subcommand (the pages it
/// refers to) written into the directory.
pub fn man(out: Option<&std::path::Path>) -> anyhow::Result<u8> {
    if let Some(dir) = out {
        clap_mangen::generate_to(Cli::command(), dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot write the manual pages into {}: {e}; give an existing, writable directory",
                dir.display()
            )
        })?;
        return Ok(0);
    }
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
    super::out::print(&String::from_utf8_lossy(&buf))?;
    Ok(0)
}
