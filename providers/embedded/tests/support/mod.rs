//! Shared helpers for the embedded provider's integration tests: a running server on
//! 127.0.0.1 with port 0, DNS clients over UDP and TCP, and a scratch directory that removes
//! itself. Everything here stops or cleans up on drop, so a failing test leaves nothing behind.

#![allow(dead_code)]

pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use dnsfailback_provider::{Change, ChangeSet, Fqdn, Provider, RecordSet};
use dnsfailback_provider_embedded::{Config, EmbeddedProvider};
use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::Message;
use hickory_net::proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use tokio::task::JoinHandle;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub fn fq(s: &str) -> Fqdn {
    Fqdn::new(s).unwrap_or_else(|e| panic!("test name {s}: {e}"))
}

/// A config for `zones` on 127.0.0.1 with a free port.
pub fn config(zones: &[&str]) -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        zones: zones.iter().map(|z| fq(z)).collect(),
        ..Config::default()
    }
}

/// Starts a provider; the server stops when the returned provider is dropped.
pub async fn started(config: Config) -> Result<(EmbeddedProvider, SocketAddr), String> {
    let p = EmbeddedProvider::new("local", config).map_err(|e| e.to_string())?;
    let addr = p.start().await.map_err(|e| e.to_string())?;
    Ok((p, addr))
}

pub async fn apply(p: &EmbeddedProvider, zone: &str, changes: Vec<Change>) -> Result<(), String> {
    let cs = ChangeSet {
        zone: fq(zone),
        changes,
    };
    p.apply(&cs).await.map(|_| ()).map_err(|e| e.to_string())
}

pub fn a_set(name: &str, ttl: u32, ips: &[&str]) -> RecordSet {
    RecordSet::new(
        fq(name),
        dnsfailback_provider::RecordType::A,
        ttl,
        ips.iter().map(|s| s.to_string()).collect(),
    )
}

/// A DNS client whose background task is aborted on drop.
pub struct Dns {
    client: Client<TokioRuntimeProvider>,
    bg: JoinHandle<()>,
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.bg.abort();
    }
}

impl Dns {
    pub async fn udp(addr: SocketAddr) -> Self {
        let conn = UdpClientStream::builder(addr, TokioRuntimeProvider::default())
            .with_timeout(Some(Duration::from_secs(2)))
            .build();
        let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(conn);
        let bg = tokio::spawn(async move {
            let _ = bg.await;
        });
        Dns { client, bg }
    }

    pub async fn tcp(addr: SocketAddr) -> Result<Self, String> {
        let (connect, sender) = TcpClientStream::new(
            addr,
            None,
            Some(Duration::from_secs(2)),
            TokioRuntimeProvider::default(),
        );
        let stream = connect.await.map_err(|e| e.to_string())?;
        let (client, bg) = Client::<TokioRuntimeProvider>::new(stream, sender);
        let bg = tokio::spawn(async move {
            let _ = bg.await;
        });
        Ok(Dns { client, bg })
    }

    pub async fn query(&mut self, name: &str, rtype: RecordType) -> Result<Message, String> {
        let name = Name::from_str(name).map_err(|e| e.to_string())?;
        let fut = self.client.query(name, DNSClass::IN, rtype);
        let resp = tokio::time::timeout(Duration::from_secs(5), fut)
            .await
            .map_err(|_| "query timed out".to_string())?
            .map_err(|e| e.to_string())?;
        Ok(resp.into_message())
    }
}

/// The A addresses in an answer, sorted.
pub fn a_values(m: &Message) -> Vec<String> {
    let mut v: Vec<String> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// A scratch directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Result<Self, String> {
        let dir =
            std::env::temp_dir().join(format!("dnsfailback-embedded-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(Scratch(dir))
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
