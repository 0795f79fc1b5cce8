//! The `dnsfailback` command line: one file per subcommand.
//!
//! `run` starts the whole flow (probe -> health -> policy -> plan -> provider -> verify);
//! `validate` and `plan` stop before the provider is changed; `status` and `history` ask the
//! running service through the admin API; `demo` shows a failover and failback locally.
//! `failover`, `failback`, `hold`, `resume`, `abort`, `approvals` and `approve` let an operator
//! steer the running controller (operator -> admin API -> policy), see [`operate`]. `agent`
//! runs the probes from another vantage point and reports to the controller (agent -> admin
//! API -> health at the controller), see [`agent`].
//!
//! `drill` rehearses a failover and failback through the running controller and measures it
//! (see [`drill`]); [`online`] holds the live checks of `validate` and `drill`.
//!
//! Shared by all of them: [`out`] prints to stdout without panicking on a closed pipe,
//! [`logging`] sets up the log on stderr (`-v`, `--color`); `state::when` formats times for people.

pub mod agent;
mod apply;
mod client;
mod demo;
pub mod dig;
mod docs;
mod drill;
pub mod export;
pub mod logging;
pub mod online;
mod operate;
pub mod out;
mod plan;
mod probes;
pub mod reach;
mod reload;
mod rollback;
mod run;

/// Exit code after a panic, or when the control loop or the admin API task ended without
/// being asked to (`EX_SOFTWARE` from sysexits.h): the supervisor should restart the process.
pub const EXIT_SOFTWARE: u8 = 70;
mod status;
mod systemd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::policy::command::Operation;

pub use logging::{init_tracing, ColorChoice, LogFormat};
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
    /// How to reach the running controller's admin API (for `status`, `history`, `plan`,
    /// `reload`, the operator commands and `agent`).
    #[command(flatten)]
    pub reach: reach::AdminReach,
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour the log on stderr: `auto` only when stderr is a terminal and NO_COLOR is unset
    /// (so log files and journald get plain text), `always`, or `never`.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Log lines on stderr as human-readable `text` or as one JSON object per line (`json`,
    /// with the structured fields such as `service`, for log shippers).
    #[arg(long, global = true, value_enum, env = "DNSFAILBACK_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller (probes, control loop, admin API, embedded DNS).
    #[command(after_help = "Example:\n  dnsfailback run -c /etc/dnsfailback/dnsfailback.toml")]
    Run,
    /// Check the configuration file without touching anything.
    #[command(
        after_help = "Example:\n  dnsfailback validate --offline -c examples/quickstart.toml"
    )]
    Validate {
        /// Do not contact providers or name servers (by default the zones' SOA minimum, the
        /// records' TTL at the provider and the zones' name servers are checked live).
        #[arg(long)]
        offline: bool,
    },
    /// Show what the next tick would change, without changing it: asks the running
    /// controller; with none running, plans here (probing each check once).
    #[command(after_help = "Example:\n  dnsfailback plan -c /etc/dnsfailback/dnsfailback.toml")]
    Plan {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also write the plan as a reviewed plan file for `dnsfailback apply` (JSON, with
        /// the provider records it was made against and their fingerprint).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// With --to and --out: plan moving this service to one target now.
        #[arg(long, requires_all = ["to", "out"])]
        service: Option<String>,
        /// The target to plan the switch to (see --service).
        #[arg(long, requires = "service")]
        to: Option<String>,
    },
    /// Write a zone as an RFC 1035 master file, read from the provider (AXFR for RFC 2136,
    /// the list APIs for Route 53 and Cloudflare, the data file for the embedded server).
    #[command(
        after_help = "Example:\n  dnsfailback export --provider ns --zone example.test --out example.test.zone"
    )]
    Export {
        /// The provider instance (`[providers.NAME]`).
        #[arg(long)]
        provider: String,
        /// The zone (default: the only zone the provider's services use).
        #[arg(long)]
        zone: Option<String>,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Apply a reviewed plan file (from `plan --out`) in the running controller, only if the
    /// provider's records still match it; the services stay as applied until `resume`.
    /// Exit 0 applied, 3 waiting for a second operator, 1 refused.
    #[command(
        after_help = "Example:\n  dnsfailback plan --service shop --to backup --out shop.plan.json\n  dnsfailback apply shop.plan.json"
    )]
    Apply {
        /// The plan file.
        file: PathBuf,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Undo an applied change by its id (shown by `history`), only if its records are still
    /// as it left them. Exit 0 rolled back, 3 waiting for a second operator, 1 refused.
    #[command(after_help = "Example:\n  dnsfailback rollback 42")]
    Rollback {
        /// The change id from `dnsfailback history SERVICE`.
        change_id: i64,
        /// Roll back even though newer changes of the same records exist.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Rehearse a failover and failback of SERVICE through the running controller (planned
    /// switch, canary, TTL restore), measured with DNS queries; writes a Markdown or JSON
    /// report. Exit 0 completed, 1 refused or failed, 130 interrupted (traffic returned).
    #[command(
        after_help = "Example:\n  dnsfailback drill shop --to backup --resolver 9.9.9.9 --report drill.md\n  dnsfailback drill shop --dry-run"
    )]
    Drill(drill::DrillArgs),
    /// Re-read provider settings and secrets in the running controller (as SIGHUP does) and
    /// resume the services that wait for an operator (`needs operator`). Exit 0 done, 1 refused.
    #[command(after_help = "Example:\n  dnsfailback reload -c /etc/dnsfailback/dnsfailback.toml")]
    Reload,
    /// Show each service's targets, health, published records, TTL and phase.
    #[command(
        after_help = "Example:\n  dnsfailback status shop -c /etc/dnsfailback/dnsfailback.toml"
    )]
    Status {
        /// Only this service.
        service: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show the audit trail of a service, newest first: time (RFC 3339, UTC) and age, action,
    /// actor, reason, and the record changes.
    #[command(
        after_help = "Example:\n  dnsfailback history shop -c /etc/dnsfailback/dnsfailback.toml\n\n\
        --json prints the entries as recorded, times as unix milliseconds (`at_ms`)."
    )]
    History {
        service: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Start local backends, the embedded DNS and the controller; stop and restart the
    /// primary and print a timeline of the failover and failback.
    #[command(after_help = "Example:\n  dnsfailback demo -c examples/quickstart.toml")]
    Demo,
    /// Planned failover: lower the TTL, wait out the old one, then move traffic to a backup.
    /// Exit 0 accepted, 3 waiting for a second operator, 1 refused.
    #[command(
        after_help = "Example:\n  dnsfailback failover shop --to backup -c /etc/dnsfailback/dnsfailback.toml"
    )]
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
    #[command(
        after_help = "Example:\n  dnsfailback failback shop --steps 10,50,100 --hold 2m \\\n      -c /etc/dnsfailback/dnsfailback.toml"
    )]
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
    #[command(
        after_help = "Example:\n  dnsfailback hold shop -c /etc/dnsfailback/dnsfailback.toml"
    )]
    Hold {
        service: String,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Undo `hold` (or a frozen canary): the state machine continues.
    #[command(
        after_help = "Example:\n  dnsfailback resume shop -c /etc/dnsfailback/dnsfailback.toml"
    )]
    Resume {
        service: String,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Return to the last stable state and stop the operation in progress.
    #[command(
        after_help = "Example:\n  dnsfailback abort shop -c /etc/dnsfailback/dnsfailback.toml"
    )]
    Abort {
        service: String,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// List commands waiting for a second operator's approval.
    #[command(
        after_help = "Example:\n  dnsfailback approvals -c /etc/dnsfailback/dnsfailback.toml"
    )]
    Approvals {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Approve another operator's pending command (two-person rule); it is then sent.
    #[command(
        after_help = "Example (ID as printed by the requesting command or by `approvals`):\n  dnsfailback approve ID -c /etc/dnsfailback/dnsfailback.toml"
    )]
    Approve {
        /// The id printed by the requesting command.
        id: String,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Run the probes from this machine as a remote vantage point and report each target's
    /// state to the controller (no DNS, no admin API, no provider changes).
    #[command(
        after_help = "Example:\n  dnsfailback agent --name eu-probe --controller 192.0.2.5:8053 \\\n      --token-file /etc/dnsfailback/agent.token -c /etc/dnsfailback/dnsfailback.toml"
    )]
    Agent(agent::AgentArgs),
    /// Print a shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Example:\n  dnsfailback completions bash > /etc/bash_completion.d/dnsfailback"
    )]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per subcommand into a directory.
    #[command(after_help = "Example:\n  dnsfailback man --out /usr/local/share/man/man1")]
    Man {
        /// Write dnsfailback.1 and dnsfailback-SUBCOMMAND.1 here instead of printing the main
        /// page.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// Runs a parsed command; returns the process exit code (0 ok, 2 invalid input).
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Run => run::run(&cli.config).await,
        Command::Validate { offline } => validate(&cli.config, offline).await,
        Command::Plan {
            json,
            out,
            service,
            to,
        } => match (service, to, out) {
            (Some(s), Some(t), Some(o)) => apply::plan_switch(&cli.config, &s, &t, &o).await,
            (_, _, out) => plan::plan(&cli.config, &cli.reach, json, out.as_deref()).await,
        },
        Command::Export {
            provider,
            zone,
            out,
        } => export::export(&cli.config, &provider, zone.as_deref(), out.as_deref()).await,
        Command::Apply { file, token } => {
            apply::apply(&cli.config, &cli.reach, &token, &file).await
        }
        Command::Rollback {
            change_id,
            force,
            token,
        } => rollback::rollback(&cli.config, &cli.reach, &token, change_id, force).await,
        Command::Drill(args) => drill::drill(&cli.config, &cli.reach, &args).await,
        Command::Reload => reload::reload(&cli.config, &cli.reach).await,
        Command::Status { service, json } => {
            status::status(&cli.config, &cli.reach, service.as_deref(), json).await
        }
        Command::History { service, json } => {
            status::history(&cli.config, &cli.reach, &service, json).await
        }
        Command::Demo => demo::demo(&cli.config).await,
        Command::Failover { service, to, token } => {
            let op = Operation::Failover { to };
            operate::operate(&cli.config, &cli.reach, &token, &service, op).await
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
            operate::operate(&cli.config, &cli.reach, &token, &service, op).await
        }
        Command::Hold { service, token } => {
            operate::operate(&cli.config, &cli.reach, &token, &service, Operation::Hold).await
        }
        Command::Resume { service, token } => {
            operate::operate(&cli.config, &cli.reach, &token, &service, Operation::Resume).await
        }
        Command::Abort { service, token } => {
            operate::operate(&cli.config, &cli.reach, &token, &service, Operation::Abort).await
        }
        Command::Approvals { json, token } => {
            operate::approvals(&cli.config, &cli.reach, &token, json).await
        }
        Command::Approve { id, token } => {
            operate::approve(&cli.config, &cli.reach, &token, &id).await
        }
        Command::Agent(args) => agent::agent(&cli.config, &args, &cli.reach).await,
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { out } => docs::man(out.as_deref()),
    }
}

async fn validate(path: &std::path::Path, offline: bool) -> anyhow::Result<u8> {
    match crate::config::load_with_files(path) {
        Ok((config, mut warnings)) => {
            if !offline {
                warnings.extend(online::warnings(&config, None, true).await);
            }
            for w in &warnings {
                eprintln!("{}", w.render(path));
            }
            out::line(format_args!(
                "{}: ok ({} service(s), {} provider(s){})",
                path.display(),
                config.services.len(),
                config.providers.len(),
                if warnings.is_empty() {
                    String::new()
                } else {
                    format!(", {} warning(s)", warnings.len())
                }
            ))?;
            Ok(0)
        }
        Err(e) => {
            eprint!("{e}");
            Ok(2)
        }
    }
}
