//! The `dnsfailback` binary: parse the command line, set up logging, run, map errors to exit
//! codes. Everything else lives in the library (see `lib.rs` for the module map).

#![forbid(unsafe_code)]

/// mimalloc: at 10,000 services it keeps RSS near the live heap where glibc malloc kept
/// 100 MB more (decision 0009). Off with `--features heap-profile`, so heaptrack (which
/// watches malloc) sees every allocation.
#[cfg(not(feature = "heap-profile"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Duration;

use clap::Parser;

/// How long, after `run` returned, tasks still on the runtime get before the process exits
/// anyway (a blocking call that never yields must not hold up a SIGTERM).
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(300);

fn main() -> std::process::ExitCode {
    exit_on_panic();
    let cli = dnsfailback::cli::Cli::parse();
    dnsfailback::cli::init_tracing(cli.verbose, cli.color, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = runtime.block_on(dnsfailback::cli::run(cli));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        // `dnsfailback history shop | head -1`: the reader has what it wanted; stop quietly.
        Err(e) if dnsfailback::cli::out::is_stdout_closed(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

/// A panic in any thread or task ends the process with `EXIT_SOFTWARE` (70) after the default hook
/// has printed it. tokio would otherwise catch a panic inside a spawned task and keep the rest
/// running: a controller that serves DNS and the admin API but no longer fails anything over.
/// Exiting lets systemd or Kubernetes restart it, and the restart resolves open intents from
/// the journal. Only the binary does this; the library leaves panics to its caller.
fn exit_on_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        let code = dnsfailback::cli::EXIT_SOFTWARE;
        eprintln!("dnsfailback: exiting with code {code} after a panic");
        std::process::exit(i32::from(code));
    }));
}
