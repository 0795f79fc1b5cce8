//! How the CLI and probe agents reach the running controller's admin API: its address
//! (`--admin`, else the configuration's `controller.admin_listen`), whether it speaks TLS, whom
//! to trust (`--admin-ca`) and which client certificate to present for mTLS (`--admin-cert`,
//! `--admin-key`).
//!
//! Part of the CLI (operator -> **admin API** -> policy); the server side is
//! `api::tls`. Certificates come from files only, and their content never appears in an error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;

use crate::config::ControllerConfig;
use crate::tls::Identity;

/// The global `--admin*` options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AdminReach {
    /// Admin API of the running controller, when it differs from the configuration's
    /// `controller.admin_listen`: IP:PORT, or an http:// or https:// URL (with TLS the
    /// certificate is checked against the URL's host).
    #[arg(long, global = true, env = "DNSFAILBACK_ADMIN", value_name = "ADDR", value_parser = parse_admin)]
    pub admin: Option<reqwest::Url>,
    /// PEM CA that signed the admin API's certificate (default: the system's roots).
    #[arg(long, global = true, env = "DNSFAILBACK_ADMIN_CA", value_name = "PATH")]
    pub admin_ca: Option<PathBuf>,
    /// Client certificate (PEM) for an admin API that requires one (mTLS).
    #[arg(
        long,
        global = true,
        env = "DNSFAILBACK_ADMIN_CERT",
        value_name = "PATH",
        requires = "admin_key"
    )]
    pub admin_cert: Option<PathBuf>,
    /// Private key (PEM) of `--admin-cert`.
    #[arg(
        long,
        global = true,
        env = "DNSFAILBACK_ADMIN_KEY",
        value_name = "PATH",
        requires = "admin_cert"
    )]
    pub admin_key: Option<PathBuf>,
}

/// `--admin`: IP:PORT (plain HTTP unless a TLS option is given) or a base URL.
fn parse_admin(text: &str) -> Result<reqwest::Url, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return reqwest::Url::parse(&format!("http://{addr}")).map_err(|e| e.to_string());
    }
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        return Err(format!(
            "`{text}` is not IP:PORT or an http(s) URL; write e.g. 127.0.0.1:8053 or https://ctl.example.net:8053"
        ));
    }
    let url = reqwest::Url::parse(text).map_err(|e| format!("`{text}`: {e}"))?;
    if url.host_str().is_none_or(str::is_empty) || url.path() != "/" || url.query().is_some() {
        return Err(format!("`{text}`: give only the scheme, host and port"));
    }
    Ok(url)
}

impl AdminReach {
    /// True when a TLS option was given, so an IP:PORT means https.
    fn tls_options(&self) -> bool {
        self.admin_ca.is_some() || self.admin_cert.is_some()
    }

    /// The base URL given on the command line, if any (`https` for an IP:PORT when a TLS
    /// option is given).
    pub fn given(&self) -> Option<reqwest::Url> {
        let mut url = self.admin.clone()?;
        if self.tls_options() && url.scheme() == "http" && url.set_scheme("https").is_err() {
            return None;
        }
        Some(url)
    }

    /// The base URL: the given one, else the configuration's listener (https when it has
    /// `[controller.admin_tls]`; an unspecified address like 0.0.0.0 is reached on loopback).
    pub fn base(&self, controller: &ControllerConfig) -> anyhow::Result<reqwest::Url> {
        if let Some(url) = self.given() {
            return Ok(url);
        }
        let mut addr = controller.admin_listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let tls = controller.admin_tls.is_some() || self.tls_options();
        let scheme = if tls { "https" } else { "http" };
        reqwest::Url::parse(&format!("{scheme}://{addr}")).map_err(|e| anyhow!("{e}"))
    }

    /// `http://HOST:PORT/v1/agents/NAME/report` from an agent's `--controller` (HOST:PORT or
    /// a base URL); `https://` for a HOST:PORT when a TLS option is given.
    pub fn report_url(&self, controller: &str, name: &str) -> Result<reqwest::Url, String> {
        let base = if controller.starts_with("http://") || controller.starts_with("https://") {
            controller.trim_end_matches('/').to_string()
        } else if self.tls_options() {
            format!("https://{controller}")
        } else {
            format!("http://{controller}")
        };
        let bad = |e: String| format!("`{controller}` is not HOST:PORT or an http(s) URL: {e}");
        let parsed = reqwest::Url::parse(&base).map_err(|e| bad(e.to_string()))?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host".into()));
        }
        if parsed.path() != "/" || parsed.query().is_some() {
            return Err(bad("give only the scheme, host and port".into()));
        }
        parsed
            .join(&crate::api::agents::report_path(name))
            .map_err(|e| bad(e.to_string()))
    }

    /// An HTTP client for the admin API: requests bounded by `timeout`, trusting `--admin-ca`
    /// (or the system roots) and presenting `--admin-cert` when the server asks for one.
    pub fn http(&self, timeout: Duration) -> anyhow::Result<reqwest::Client> {
        let identity = match (&self.admin_cert, &self.admin_key) {
            (Some(cert), Some(key)) => Some(Identity {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        };
        let tls = crate::tls::client_config(self.admin_ca.as_deref(), identity.as_ref())
            .map_err(|e| anyhow!("admin API TLS: {e}"))?;
        Ok(reqwest::Client::builder()
            .timeout(timeout)
            .use_preconfigured_tls(tls)
            .build()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_or_a_base_url_and_nothing_else() {
        assert_eq!(
            parse_admin("127.0.0.1:8053").map(|u| u.to_string()),
            Ok("http://127.0.0.1:8053/".to_string())
        );
        assert_eq!(
            parse_admin("https://ctl.example.net:8443").map(|u| u.to_string()),
            Ok("https://ctl.example.net:8443/".to_string())
        );
        for bad in [
            "localhost",
            "ftp://x:1",
            "https://x:1/v1/status",
            "https://:1",
        ] {
            assert!(parse_admin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn controller_addresses_become_report_urls() {
        let plain = AdminReach::default();
        let u = |c| plain.report_url(c, "edge").map(|u| u.to_string());
        assert_eq!(
            u("127.0.0.1:9090"),
            Ok("http://127.0.0.1:9090/v1/agents/edge/report".into())
        );
        assert_eq!(
            u("https://ctl.example.test/"),
            Ok("https://ctl.example.test/v1/agents/edge/report".into())
        );
        assert!(u("http://").is_err());
        assert!(u("http://ctl/admin").is_err());
        assert!(u("ctl.example.test:9090").is_ok());
        let tls = AdminReach {
            admin_ca: Some(PathBuf::from("/etc/ca.pem")),
            ..AdminReach::default()
        };
        assert_eq!(
            tls.report_url("127.0.0.1:9090", "edge")
                .map(|u| u.to_string()),
            Ok("https://127.0.0.1:9090/v1/agents/edge/report".into())
        );
    }

    #[test]
    fn a_tls_option_turns_an_address_into_https() {
        let reach = AdminReach {
            admin: parse_admin("127.0.0.1:8053").ok(),
            admin_ca: Some(PathBuf::from("/etc/ca.pem")),
            ..AdminReach::default()
        };
        assert_eq!(
            reach.given().map(|u| u.to_string()),
            Some("https://127.0.0.1:8053/".to_string())
        );
    }
}
