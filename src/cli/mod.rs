//! The `dnsfailback` command line: one file per subcommand.
//!
//! `run` starts the whole flow (probe -> health -> policy -> plan -> provider -> verify);
//! `validate` and `plan` stop before the provider is changed; `status` and `history` ask the
//! running service through the admin API; `demo` shows a failover and failback locally.
//! `failover`, `failback`, `hold`, `resume`, `abort`, `approvals` and `approve` let an operator
//! steer the running controller (operator -> admin API -> policy), see [`operate`]. `agent`
//! runs the probes from another vantage point and reports to the controller (agent -> admin
//! API -> health at the controller), see [`agent`].

pub mod agent;
mod client;
mod demo;
pub mod dig;
mod operate;
mod plan;
mod reload;
mod run;

/// Exit code after a panic, or when the control loop or the admin API task ended without
/// being asked to (`EX_SOFTWARE` from sysexits.h): the supervisor should restart the process.
pub const EXIT_SOFTWARE: u8 = 70;
mod status;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::policy::command::Operation;

pub use operate::{Steps, TokenArgs, EXIT_PENDING};
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
    Validate {
        /// Do not contact providers (by default the zones' SOA is read where the provider can,
        /// to check negative caching).
        #[arg(long)]
        offline: bool,
    },
    /// Show what the next tick would change, without changing it: asks the running
    /// controller; with none running, plans here (probing each check once).
    Plan {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Re-read provider settings and secrets in the running controller (as SIGHUP does) and
    /// resume the services that wait for an operator (`needs operator`). Exit 0 done, 1 refused.
    Reload,
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
    /// Planned failover: lower the TTL, wait out the old one, then move traffic to a backup.
    /// Exit 0 accepted, 3 waiting for a second operator, 1 refused.
    Failover {
        service: String,
        /// The target to move to (default: the best healthy backup).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Start the return to the primary now, optionally with other canary steps or hold time.
    /// Exit 0 accepted, 3 waiting for a second operator, 1 refused.
    Failback {
        service: String,
        /// The primary's traffic share per step, e.g. 10,50,100.
        #[arg(long, value_parser = operate::parse_steps)]
        steps: Option<Steps>,
        /// How long each step is held, e.g. 2m.
        #[arg(long, value_parser = operate::parse_hold)]
        hold: Option<std::time::Duration>,
        /// Skip the stable time and the canary: all traffic at once.
        #[arg(long)]
        now: bool,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Freeze the service where it is: no automatic change until `resume`.
    Hold {
        service: String,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Undo `hold` (or a frozen canary): the state machine continues.
    Resume {
        service: String,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Return to the last stable state and stop the operation in progress.
    Abort {
        service: String,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// List commands waiting for a second operator's approval.
    Approvals {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Approve another operator's pending command (two-person rule); it is then sent.
    Approve {
        /// The id printed by the requesting command.
        id: String,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Run the probes from this machine as a remote vantage point and report each target's
    /// state to the controller (no DNS, no admin API, no provider changes).
    Agent(agent::AgentArgs),
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
        Command::Validate { offline } => Ok(validate(&cli.config, offline).await),
        Command::Plan { json } => plan::plan(&cli.config, cli.admin, json).await,
        Command::Reload => reload::reload(&cli.config, cli.admin).await,
        Command::Status { service, json } => {
            status::status(&cli.config, cli.admin, service.as_deref(), json).await
        }
        Command::History { service, json } => {
            status::history(&cli.config, cli.admin, &service, json).await
        }
        Command::Demo => demo::demo(&cli.config).await,
        Command::Failover { service, to, token } => {
            let op = Operation::Failover { to };
            operate::operate(&cli.config, cli.admin, &token, &service, op).await
        }
        Command::Failback {
            service,
            steps,
            hold,
            now,
            token,
        } => {
            let op = Operation::Failback {
                steps: steps.map(|s| s.0),
                hold,
                now,
            };
            operate::operate(&cli.config, cli.admin, &token, &service, op).await
        }
        Command::Hold { service, token } => {
            operate::operate(&cli.config, cli.admin, &token, &service, Operation::Hold).await
        }
        Command::Resume { service, token } => {
            operate::operate(&cli.config, cli.admin, &token, &service, Operation::Resume).await
        }
        Command::Abort { service, token } => {
            operate::operate(&cli.config, cli.admin, &token, &service, Operation::Abort).await
        }
        Command::Approvals { json, token } => {
            operate::approvals(&cli.config, cli.admin, &token, json).await
        }
        Command::Approve { id, token } => {
            operate::approve(&cli.config, cli.admin, &token, &id).await
        }
        Command::Agent(args) => agent::agent(&cli.config, &args).await,
    }
}

async fn validate(path: &std::path::Path, offline: bool) -> u8 {
    match crate::config::load(path) {
        Ok((config, mut warnings)) => {
            if !offline {
                warnings.extend(crate::config::negative_caching_warnings(&config).await);
            }
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
