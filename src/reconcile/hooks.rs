//! Failback hooks: the user's own checks around a failback ("replication lag below 5 s",
//! "write drain done", "warm the caches"), run as tasks with a time limit, never inside the
//! loop: a hanging hook holds its own service's failback and nothing else.
//!
//! Sits between policy and plan: a pre-failback hook must pass before the first canary step is
//! published; a post-step hook runs after a step and is audited, never fatal. Output (trimmed)
//! goes to the audit trail.

use super::{Controller, Done};
use crate::config::{Hook, Service};
use crate::policy::HookPoint;

const OUTPUT_KEPT: usize = 2000;

fn trimmed(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    if s.len() > OUTPUT_KEPT {
        let mut cut = OUTPUT_KEPT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &s[..cut])
    } else {
        s.to_string()
    }
}

/// Runs one hook; `Ok(output)` when it passed.
pub async fn run(hook: &Hook) -> Result<String, String> {
    match hook {
        Hook::Command { argv, timeout } => {
            let Some((prog, args)) = argv.split_first() else {
                return Err("empty hook command".into());
            };
            let mut cmd = tokio::process::Command::new(prog);
            cmd.args(args)
                .kill_on_drop(true)
                .stdin(std::process::Stdio::null());
            match tokio::time::timeout(*timeout, cmd.output()).await {
                Err(_) => Err(format!(
                    "`{prog}` did not finish within {}s",
                    timeout.as_secs()
                )),
                Ok(Err(e)) => Err(format!("cannot run `{prog}`: {e}")),
                Ok(Ok(out)) => {
                    let text = format!("{}{}", trimmed(&out.stdout), trimmed(&out.stderr));
                    if out.status.success() {
                        Ok(text)
                    } else {
                        Err(format!("`{prog}` exited with {}: {text}", out.status))
                    }
                }
            }
        }
        Hook::Http { url, timeout } => {
            let client = reqwest::Client::builder()
                .timeout(*timeout)
                .build()
                .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
            let resp = client
                .get(url)
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let status = resp.status();
            let body = resp.bytes().await.map(|b| trimmed(&b)).unwrap_or_default();
            if status.is_success() {
                Ok(format!("{status}: {body}"))
            } else {
                Err(format!("GET {url} answered {status}: {body}"))
            }
        }
    }
}

impl Controller {
    /// Starts the hook for `point` as a task with its own timeout; the result comes back to
    /// the loop (see `finish`), which audits it. Only the service's own transition waits for a
    /// pre-failback hook; every other service goes on.
    pub(super) fn start_hook(&mut self, service: &Service, point: HookPoint) {
        let hook = match point {
            HookPoint::PreFailback => service.canary.pre_hook.clone(),
            HookPoint::PostStep => service.canary.post_step_hook.clone(),
        };
        let Some(hook) = hook else { return };
        let name = service.name.clone();
        self.spawn(async move {
            let started = tokio::time::Instant::now();
            let result = run(&hook).await;
            Done::Hook {
                service: name,
                point,
                result,
                took_s: started.elapsed().as_secs_f64(),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn cmd(script: &str, timeout_ms: u64) -> Hook {
        Hook::Command {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[tokio::test]
    async fn a_passing_command_returns_its_output() {
        assert_eq!(
            run(&cmd("echo replication lag 0.2s", 5000)).await,
            Ok("replication lag 0.2s".into())
        );
    }

    #[tokio::test]
    async fn a_failing_command_says_how_and_what_it_printed() {
        let e = run(&cmd("echo lag 12s >&2; exit 3", 5000))
            .await
            .err()
            .unwrap_or_default();
        assert!(e.contains("exit status: 3") && e.contains("lag 12s"), "{e}");
    }

    #[tokio::test]
    async fn a_hanging_command_is_stopped_at_its_timeout() {
        let started = std::time::Instant::now();
        let e = run(&cmd("sleep 30", 200)).await.err().unwrap_or_default();
        assert!(e.contains("did not finish within"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_missing_program_is_a_clear_error() {
        let h = Hook::Command {
            argv: vec!["/nonexistent/check".into()],
            timeout: Duration::from_secs(1),
        };
        assert!(run(&h)
            .await
            .err()
            .unwrap_or_default()
            .contains("cannot run `/nonexistent/check`"));
    }

    #[tokio::test]
    async fn an_http_hook_passes_on_2xx_and_fails_when_nothing_answers() {
        let backend =
            crate::backend::Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        let ok = Hook::Http {
            url: format!("http://{}/ready", backend.addr()),
            timeout: Duration::from_secs(2),
        };
        assert!(run(&ok).await.is_ok());
        let addr = backend.addr();
        drop(backend);
        let down = Hook::Http {
            url: format!("http://{addr}/ready"),
            timeout: Duration::from_secs(2),
        };
        assert!(run(&down).await.is_err());
    }
}
