//! The `dnsfailback` binary: parse the command line, set up logging, run, map errors to exit
//! codes. Everything else lives in the library (see `lib.rs` for the module map).

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = dnsfailback::cli::Cli::parse();
    dnsfailback::cli::init_tracing(cli.verbose);
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
    match runtime.block_on(dnsfailback::cli::run(cli)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
