//! Test kit (feature `testkit`): a real moto server on loopback, for this crate's peer tests
//! and for the controller's end-to-end tests against the Route 53 API.
//!
//! Not part of the adapter: nothing here runs in production.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dnsfailback_provider::ProviderError;

use crate::client::{CallKind, Client, ReqwestTransport};
use crate::credentials::{AwsCredentials, Environment};
use crate::request::parse_xml;
use crate::{Config, Route53Provider};

/// moto_server from `scripts/install-test-deps.sh`, started on a free loopback port.
///
/// It runs under a small shell wrapper that kills moto when the wrapper's stdin closes, so moto
/// also dies when the test process aborts; `Drop` kills both (also on panic).
pub struct Moto {
    wrapper: Child,
    pub endpoint: String,
}

fn moto_binary() -> PathBuf {
    let peers = std::env::var("DNSFAILBACK_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/dnsfailback-peers")
        });
    peers.join("moto-5.2.5/bin/moto_server")
}

impl Moto {
    pub async fn start() -> Moto {
        let bin = moto_binary();
        assert!(
            bin.exists(),
            "moto server not found at {}: run scripts/install-test-deps.sh (installs \
             moto[server]==5.2.5 into ~/.cache/dnsfailback-peers, or $DNSFAILBACK_PEERS)",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let script = format!(
            "'{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; read _ ; kill $m 2>/dev/null; wait $m",
            bin.display()
        );
        let wrapper = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto_server: {e}"));
        let moto = Moto {
            wrapper,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http
                .get(format!("{}/moto-api/", moto.endpoint))
                .send()
                .await
                .is_ok()
            {
                return moto;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on {} within 60 s",
                moto.endpoint
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A provider instance on this moto, for the given zone id.
    pub fn provider(&self, name: &str, zone_id: &str) -> Route53Provider {
        provider_at(name, &self.endpoint, Some(zone_id))
    }

    /// Creates a hosted zone and returns its bare id.
    pub async fn create_zone(&self, zone: &str) -> String {
        let client = raw_client(&self.endpoint);
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>{zone}</Name><CallerReference>test-{zone}-{}</CallerReference></CreateHostedZoneRequest>"#,
            std::process::id()
        );
        let answer = client
            .call("POST", "/2013-04-01/hostedzone", Some(&body), write_kind())
            .await
            .unwrap_or_else(|e| panic!("CreateHostedZone failed: {e}"));
        let root = parse_xml(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
        let id = root
            .child("HostedZone")
            .and_then(|z| z.text_of("Id"))
            .unwrap_or_else(|| panic!("no zone id in {answer}"));
        id.trim_start_matches("/hostedzone/").to_string()
    }

    /// Sends a raw ChangeBatch (e.g. an alias set the controller does not manage).
    pub async fn raw_change(
        &self,
        zone_id: &str,
        changes_xml: &str,
    ) -> Result<String, ProviderError> {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes>{changes_xml}</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#
        );
        raw_client(&self.endpoint)
            .call(
                "POST",
                &format!("/2013-04-01/hostedzone/{zone_id}/rrset/"),
                Some(&body),
                write_kind(),
            )
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing stdin makes the wrapper kill moto; then make sure the wrapper is gone.
        if let Some(mut stdin) = self.wrapper.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.wrapper.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.wrapper.kill();
        let _ = self.wrapper.wait();
    }
}

fn write_kind() -> CallKind {
    CallKind {
        operation: "test",
        writes: true,
        has_delete: false,
    }
}

pub fn test_env() -> Environment {
    Environment {
        vars: [
            ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
        ]
        .into(),
    }
}

pub fn test_config(endpoint: &str, zone_id: Option<&str>) -> Config {
    Config {
        endpoint: Some(endpoint.to_string()),
        hosted_zone_id: zone_id.map(str::to_string),
        rate_per_second: 200,
        burst: Some(200),
        max_retries: 4,
        retry_min_delay_ms: 10,
        retry_max_delay_ms: 100,
        request_timeout_secs: 30,
        // moto 5.2.5 validates CREATE/DELETE against its change journal (see
        // docs/providers/route53.md); the read-before-write check keeps the contract there.
        precheck: true,
        upsert_writes: true,
        ..Config::default()
    }
}

pub fn provider_at(name: &str, endpoint: &str, zone_id: Option<&str>) -> Route53Provider {
    let transport =
        ReqwestTransport::new(Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    Route53Provider::with_transport(
        name,
        test_config(endpoint, zone_id),
        &test_env(),
        Arc::new(transport),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn raw_client(endpoint: &str) -> Client {
    let creds = AwsCredentials {
        access_key_id: "testing".into(),
        secret_access_key: dnsfailback_provider::Secret::new("testing"),
        session_token: None,
        origin: "test".into(),
    };
    let transport =
        ReqwestTransport::new(Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    Client::new(
        "test",
        &test_config(endpoint, None),
        creds,
        Arc::new(transport),
    )
}
