//! The CLI side of the admin API: finds the address and token from the configuration file
//! (or from `--admin` and an explicit token source) and speaks JSON to the controller.

use std::path::Path;

use anyhow::{anyhow, Context};
use dnsfailback_provider::{Secret, SecretSource};

use super::reach::AdminReach;

/// The environment variable the CLI reads an operator's own token from by default.
pub const TOKEN_ENV: &str = "DNSFAILBACK_TOKEN";

/// Address and token of the running controller described by a configuration file.
pub struct AdminClient {
    base: String,
    token: Secret,
    http: reqwest::Client,
}

impl AdminClient {
    /// Reads `controller.admin_listen` and the admin token (configured source, else the
    /// generated token file beside the state database).
    pub fn from_config(path: &Path, reach: &AdminReach) -> anyhow::Result<Self> {
        Self::connect(path, reach, None)
    }

    /// Like [`AdminClient::from_config`], with the token from `token` when given (an operator's
    /// own named token). Without it, a non-empty `$DNSFAILBACK_TOKEN` is used when set (so
    /// `status` and `history` work with a named token too), else the configuration's token.
    /// With both `admin` and a token the configuration file is not read, so an operator can
    /// steer a remote controller without its configuration.
    pub fn connect(
        path: &Path,
        reach: &AdminReach,
        token: Option<&SecretSource>,
    ) -> anyhow::Result<Self> {
        let from_env = SecretSource {
            env: Some(TOKEN_ENV.into()),
            file: None,
        };
        let env_set = std::env::var(TOKEN_ENV).is_ok_and(|v| !v.trim().is_empty());
        let token = token.or(env_set.then_some(&from_env));
        let (base, token) = match (reach.given(), token) {
            (Some(base), Some(src)) => (base, load_given(src)?),
            _ => {
                let (config, _) = crate::config::load(path).map_err(|e| anyhow!("{e}"))?;
                let c = &config.controller;
                let token = match (token, &c.admin_token) {
                    (Some(src), _) => load_given(src)?,
                    (None, Some(src)) => src.load().map_err(|e| anyhow!("cannot read the admin token: {e}"))?,
                    (None, None) if !c.admin_tokens.is_empty() => {
                        return Err(anyhow!(
                            "this controller uses named tokens (controller.admin_tokens); export yours as {TOKEN_ENV} (or give an operator command --token-env VAR / --token-file PATH)"
                        ))
                    }
                    (None, None) => SecretSource { env: None, file: Some(c.token_file()) }
                        .load()
                        .map_err(|e| anyhow!("cannot read the admin token: {e}; is the controller running with this configuration?"))?,
                };
                (reach.base(c)?, token)
            }
        };
        Ok(AdminClient {
            base: base.as_str().trim_end_matches('/').to_string(),
            token,
            http: reach.http(std::time::Duration::from_secs(15))?,
        })
    }

    fn unreachable(&self) -> String {
        if self.base.starts_with("https://") {
            format!(
                "cannot reach the controller at {} over TLS; is `dnsfailback run` running, does --admin-ca name the CA of its certificate, and, if it requires client certificates, are --admin-cert and --admin-key given?",
                self.base
            )
        } else {
            format!(
                "cannot reach the controller at {}; is `dnsfailback run` running?",
                self.base
            )
        }
    }

    /// GETs a JSON document from the API.
    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(self.token.expose())
            .send()
            .await
            .with_context(|| self.unreachable())?;
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            let msg = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or(body);
            return Err(anyhow!("controller answered {status}: {msg}"));
        }
        serde_json::from_str(&body).with_context(|| format!("unexpected answer from {url}"))
    }

    /// POSTs a JSON body; returns the HTTP status and the JSON answer whatever the status,
    /// because operator commands distinguish accepted, pending approval and refused.
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(self.token.expose())
            .json(body)
            .send()
            .await
            .with_context(|| self.unreachable())?;
        let status = resp.status();
        let text = resp.text().await?;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| serde_json::json!({ "error": text.trim() }));
        Ok((status, value))
    }
}

fn load_given(src: &SecretSource) -> anyhow::Result<Secret> {
    src.load()
        .map_err(|e| anyhow!("cannot read your admin token: {e}"))
}
