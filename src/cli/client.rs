//! The CLI side of the admin API: finds the address and token from the configuration file.

use std::path::Path;

use anyhow::{anyhow, Context};
use dnsfailback_provider::{Secret, SecretSource};

/// Address and token of the running controller described by a configuration file.
pub struct AdminClient {
    base: String,
    token: Secret,
    http: reqwest::Client,
}

impl AdminClient {
    /// Reads `controller.admin_listen` and the admin token (configured source, else the
    /// generated token file beside the state database).
    pub fn from_config(path: &Path, admin: Option<std::net::SocketAddr>) -> anyhow::Result<Self> {
        let (config, _) = crate::config::load(path).map_err(|e| anyhow!("{e}"))?;
        let c = &config.controller;
        let token = match &c.admin_token {
            Some(src) => src.load(),
            None => SecretSource { env: None, file: Some(c.token_file()) }.load(),
        }
        .map_err(|e| anyhow!("cannot read the admin token: {e}; is the controller running with this configuration?"))?;
        Ok(AdminClient {
            base: format!("http://{}", admin.unwrap_or(c.admin_listen)),
            token,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()?,
        })
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
            .with_context(|| {
                format!(
                    "cannot reach the controller at {}; is `dnsfailback run` running?",
                    self.base
                )
            })?;
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
}
