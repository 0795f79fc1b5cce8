//! `dnsfailback failover|failback|hold|resume|abort SERVICE`, `approvals` and `approve ID`:
//! an operator steering the running controller.
//!
//! Beside the flow, entering it at `policy` (operator -> api -> policy): each subcommand is one
//! POST to the admin API, which checks the token's role and, for services under the
//! two-person rule, parks the command until another operator approves it.
//! Exit codes: 0 accepted, 3 waiting for approval, 1 refused (the reason is printed),
//! 2 bad arguments (from clap).

use std::path::{Path, PathBuf};
use std::time::Duration;

use dnsfailback_provider::SecretSource;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::client::AdminClient;
use super::out;
use crate::api::PendingApproval;
use crate::policy::command::Operation;
use crate::probe::duration_opt;

/// Exit code when the command waits for a second operator's approval.
pub const EXIT_PENDING: u8 = 3;

/// Which token the operator acts with; the token's name is the actor in the audit trail.
/// Without either option the CLI uses `$DNSFAILBACK_TOKEN`, else the configuration's
/// `admin_token` or generated token.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TokenArgs {
    /// Read your admin token from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "token_file")]
    pub token_env: Option<String>,
    /// Read your admin token from this file.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

impl TokenArgs {
    pub(super) fn source(&self) -> Option<SecretSource> {
        match (&self.token_env, &self.token_file) {
            (None, None) => None,
            (env, file) => Some(SecretSource {
                env: env.clone(),
                file: file.clone(),
            }),
        }
    }
}

/// Canary steps given as `10,50,100`: checked here so a typo is a usage error (exit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps(pub Vec<u32>);

/// Parses `--steps`: comma-separated percentages, ascending, ending at 100.
pub fn parse_steps(s: &str) -> Result<Steps, String> {
    let steps = s
        .split(',')
        .map(|x| {
            x.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{}` is not a percentage", x.trim()))
        })
        .collect::<Result<Vec<u32>, String>>()?;
    crate::api::check_steps(&steps)?;
    Ok(Steps(steps))
}

/// Parses `--hold` like the configuration's durations (`30s`, `2m`).
pub fn parse_hold(s: &str) -> Result<Duration, String> {
    duration_opt::parse(s)
}

/// The request body the API expects for an operation.
fn body(op: &Operation) -> Value {
    match op {
        Operation::Failover { to } => match to {
            Some(t) => json!({ "to": t }),
            None => json!({}),
        },
        Operation::Failback { steps, hold, now } => {
            let mut b = serde_json::Map::new();
            if let Some(s) = steps {
                b.insert("steps".into(), json!(s));
            }
            if let Some(h) = hold {
                b.insert("hold".into(), json!(duration_opt::format(*h)));
            }
            if *now {
                b.insert("now".into(), json!(true));
            }
            Value::Object(b)
        }
        Operation::Hold | Operation::Resume | Operation::Abort => json!({}),
        Operation::Apply { plan } => json!(plan),
        Operation::Rollback { force, .. } => json!({ "force": force }),
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Prints the API's answer; returns the exit code.
pub(super) fn report(status: StatusCode, v: &Value) -> anyhow::Result<u8> {
    if status == StatusCode::ACCEPTED {
        let id = text(v, "pending_approval").unwrap_or("?");
        match text(v, "message") {
            Some(m) => out::line(m)?,
            None => out::line(format_args!(
                "ask another operator to run `dnsfailback approve {id}`"
            ))?,
        }
        out::line(format_args!("pending approval: {id}"))?;
        return Ok(EXIT_PENDING);
    }
    if status.is_success() {
        out::line(text(v, "message").unwrap_or("accepted"))?;
        return Ok(0);
    }
    let reason = text(v, "error").unwrap_or("no reason given");
    let what = match status {
        StatusCode::UNAUTHORIZED => "refused (unauthorized)",
        StatusCode::FORBIDDEN => "refused (forbidden)",
        StatusCode::NOT_FOUND => "refused (not found)",
        StatusCode::CONFLICT => "refused by the controller",
        StatusCode::GONE => "refused (expired)",
        _ => "refused",
    };
    eprintln!("{what}: {reason} [{status}]");
    Ok(1)
}

/// Sends one operator command for `service`.
pub async fn operate(
    config: &Path,
    reach: &super::reach::AdminReach,
    token: &TokenArgs,
    service: &str,
    op: Operation,
) -> anyhow::Result<u8> {
    let client = AdminClient::connect(config, reach, token.source().as_ref())?;
    let path = format!("/v1/services/{service}/{}", op.verb());
    let (status, v) = client.post(&path, &body(&op)).await?;
    report(status, &v)
}

/// Approves another operator's pending command; prints the controller's answer.
pub async fn approve(
    config: &Path,
    reach: &super::reach::AdminReach,
    token: &TokenArgs,
    id: &str,
) -> anyhow::Result<u8> {
    let client = AdminClient::connect(config, reach, token.source().as_ref())?;
    let (status, v) = client
        .post(&format!("/v1/approvals/{id}/approve"), &json!({}))
        .await?;
    report(status, &v)
}

/// Lists commands waiting for a second operator.
pub async fn approvals(
    config: &Path,
    reach: &super::reach::AdminReach,
    token: &TokenArgs,
    json: bool,
) -> anyhow::Result<u8> {
    let client = AdminClient::connect(config, reach, token.source().as_ref())?;
    let list: Vec<PendingApproval> = client.get("/v1/approvals").await?;
    if json {
        out::line(serde_json::to_string_pretty(&list)?)?;
    } else if list.is_empty() {
        out::line("no pending approvals")?;
    } else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        for p in &list {
            let left = Duration::from_millis(p.expires_at_ms.saturating_sub(now) / 1000 * 1000);
            out::line(format_args!(
                "{}  {:<12} {:<9} requested by {:<10} expires in {}",
                p.id,
                p.service,
                p.op.verb(),
                p.requester,
                duration_opt::format(left)
            ))?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_or_explain() {
        assert_eq!(parse_steps("10,50,100"), Ok(Steps(vec![10, 50, 100])));
        assert_eq!(parse_steps("100"), Ok(Steps(vec![100])));
        assert!(parse_steps("5,x").err().unwrap_or_default().contains("`x`"));
        assert!(parse_steps("50,10,100").is_err());
        assert!(parse_steps("10,50").is_err());
        assert!(parse_steps("").is_err());
    }

    #[test]
    fn failback_body_carries_only_what_was_given() {
        let op = Operation::Failback {
            steps: Some(vec![10, 100]),
            hold: Some(Duration::from_secs(120)),
            now: false,
        };
        assert_eq!(body(&op), json!({"steps": [10, 100], "hold": "2m"}));
        assert_eq!(body(&Operation::Hold), json!({}));
    }
}
