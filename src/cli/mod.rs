//! The `dnsfailback` command line: one file per subcommand.
//!
//! `run` starts the whole flow (probe -> health -> policy -> plan -> provider -> verify);
//! `validate` and `plan` stop before the provider is changed; `status` and `history` ask the
//! running service through the admin API; `demo` shows a failover and failback locally.

pub mod backend;
mod client;
mod demo;
pub mod dig;
mod plan;
mod run;
mod status;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use run::{start, Running};

/// DNS failover and staged failback controller.
#[derive(Debug, Parser)]
#[command(name = "dnsfailback", version, about)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        short,
        long,
        global = true,
        env = "DNSFAILBACK_CONFIG",
        default_value = "dnsfailback.toml"
    )]
    pub config: PathBuf,
    /// Admin API address of the running controller, when it differs from the configuration's
    /// `controller.admin_listen` (for `status`, `history` and the operator commands).
    #[arg(long, global = true, env = "DNSFAILBACK_ADMIN")]
    pub admin: Option<std::net::SocketAddr>,
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller (probes, control loop, admin API, embedded DNS).
    Run,
    /// Check the configuration file without touching anything.
    Validate,
    /// Show what would change now, without changing it (probes each check once).
    Plan {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show each service's targets, health, published records, TTL and phase.
    Status {
        /// Only this service.
        service: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show the audit trail of a service.
    History {
        service: String,
        #[arg(long)]
        json: bool,
    },
    /// Start local backends, the embedded DNS and the controller; stop and restart the
    /// primary and print a timeline of the failover and failback.
    Demo,
}

/// Logging to stderr; `RUST_LOG` wins over `-v`.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info,hickory_server=warn",
        1 => "debug,hickory_server=info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a parsed command; returns the process exit code (0 ok, 2 invalid input).
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Run => run::run(&cli.config).await,
        Command::Validate => Ok(validate(&cli.config)),
        Command::Plan { json } => plan::plan(&cli.config, json).await,
        Command::Status { service, json } => {
            status::status(&cli.config, cli.admin, service.as_deref(), json).await
        }
        Command::History { service, json } => {
            status::history(&cli.config, cli.admin, &service, json).await
        }
        Command::Demo => demo::demo(&cli.config).await,
    }
}

fn validate(path: &std::path::Path) -> u8 {
    match crate::config::load(path) {
        Ok((config, warnings)) => {
            for w in &warnings {
                eprintln!("{}", w.render(path));
            }
            println!(
                "{}: ok ({} service(s), {} provider(s){})",
                path.display(),
                config.services.len(),
                config.providers.len(),
                if warnings.is_empty() {
                    String::new()
                } else {
                    format!(", {} warning(s)", warnings.len())
                }
            );
            0
        }
        Err(e) => {
            eprint!("{e}");
            2
        }
    }
}
