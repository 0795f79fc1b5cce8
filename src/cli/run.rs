//! `dnsfailback run`: wires every stage together and runs until SIGINT/SIGTERM.
//!
//! Order matters: configuration, store, providers (embedded servers started), admin API, then
//! the probe runner and the control loop, which first resolves intents left open by a crash.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use tokio::sync::{mpsc, watch};

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::health::agent::AgentReport;
use crate::health::check_id;
use crate::probe::{CheckId, CheckSpec, Runner};
use crate::reconcile::{Clock, Controller, StatusBoard};
use crate::state::{Leadership, SingleNode, SqliteStore, Store};

/// A started controller; dropping it without [`Running::stop`] aborts everything.
pub struct Running {
    pub admin_addr: SocketAddr,
    /// Bound address of each embedded DNS server, by provider name.
    pub dns_addrs: Vec<(String, SocketAddr)>,
    pub board: StatusBoard,
    shutdown: watch::Sender<bool>,
    controller: tokio::task::JoinHandle<()>,
    api: tokio::task::JoinHandle<()>,
    _runner: Runner,
    embedded: Vec<Arc<dnsfailback_provider_embedded::EmbeddedProvider>>,
    /// In an etcd group: given up on a clean stop, so another controller takes over at once.
    lease: Option<Arc<crate::state::etcd::EtcdLeadership>>,
}

impl Running {
    /// Stops the loop and the API, then the embedded DNS servers.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.controller.await;
        let _ = self.api.await;
        if let Some(lease) = &self.lease {
            lease.resign().await;
        }
        for e in &self.embedded {
            e.shutdown().await;
        }
    }
}

/// Starts the controller for a loaded configuration.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    // One controller: the SQLite file. Several: the shared etcd store and a leader lease
    // (`[controller.etcd]`); a follower probes and shows status but changes nothing.
    let mut lease = None;
    let (store, leadership): (Arc<dyn Store>, Arc<dyn Leadership>) = match &config.controller.etcd {
        Some(settings) => {
            let (store, leadership) =
                crate::state::etcd::connect(settings).map_err(|e| anyhow!(e))?;
            tracing::info!(
                node = %settings.node,
                prefix = %settings.prefix,
                "shared state in etcd; campaigning for the leader lease"
            );
            lease = Some(leadership.clone());
            (store, leadership)
        }
        None => (
            Arc::new(
                SqliteStore::open(&config.controller.state)
                    .with_context(|| "cannot open the state store".to_string())?,
            ),
            Arc::new(SingleNode),
        ),
    };
    let built = crate::providers::build(&config).map_err(|e| anyhow!(e))?;
    let mut dns_addrs = Vec::new();
    for e in &built.embedded {
        let addr = e.start().await.map_err(|e| anyhow!(e.to_string()))?;
        dns_addrs.push((
            dnsfailback_provider::Provider::name(e.as_ref()).to_string(),
            addr,
        ));
    }
    // Named tokens (or the single/generated `admin` token); a token that cannot be loaded
    // stops start-up with its name, never its value.
    let tokens = api::load_tokens(&config.controller).map_err(|e| anyhow!(e))?;
    let controller = Controller::new(
        config.clone(),
        built.providers,
        store.clone(),
        leadership,
        Clock::system(),
    )
    .await?;
    let board = controller.board();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (commands, commands_rx) = mpsc::channel(64);
    let approval = config
        .services
        .values()
        .map(|s| (s.name.clone(), s.approval.as_ref().map(|a| a.timeout)))
        .collect();
    // Agent reports: API -> control loop (vantage quorum).
    let (agent_tx, agent_rx) = mpsc::channel::<AgentReport>(256);
    let api_state = ApiState::new(
        board.clone(),
        store,
        tokens,
        commands,
        approval,
        agent_tx,
        targets_of(&config),
    );
    let admin_listen = config.controller.admin_listen;
    let listener = tokio::net::TcpListener::bind(admin_listen)
        .await
        .with_context(|| format!("cannot listen on {admin_listen} for the admin API; set controller.admin_listen to a free address"))?;
    let admin_addr = listener.local_addr()?;
    let api = api::serve_listener(listener, api_state, shutdown_rx.clone());
    let (tx, rx) = mpsc::channel(4096);
    let runner = Runner::spawn(checks_of(&config), tx);
    let controller = tokio::spawn(controller.run(rx, commands_rx, agent_rx, shutdown_rx));
    Ok(Running {
        admin_addr,
        dns_addrs,
        board,
        shutdown,
        controller,
        api,
        _runner: runner,
        embedded: built.embedded,
        lease,
    })
}

/// Every check of every service with the id health knows it by: what the controller's probe
/// runner runs, and what a probe agent (`dnsfailback agent`) runs from its vantage point.
pub fn checks_of(config: &Config) -> Vec<(CheckId, CheckSpec)> {
    let services = config.services.values().flat_map(|s| {
        s.targets.iter().flat_map(move |t| {
            t.checks
                .iter()
                .enumerate()
                .map(move |(i, c)| (check_id(&s.name, &t.name, i), c.spec.clone()))
        })
    });
    // The controller's uplink anchors, probed like targets (health files them under UPLINK).
    let uplink = config.controller.uplink_checks.iter().flat_map(|a| {
        a.checks
            .iter()
            .enumerate()
            .map(move |(i, c)| (check_id(crate::health::UPLINK, &a.name, i), c.spec.clone()))
    });
    services.chain(uplink).collect()
}

/// Every configured `(service, target)` pair: what an agent's report may name.
pub fn targets_of(config: &Config) -> std::collections::BTreeSet<(String, String)> {
    config
        .services
        .values()
        .flat_map(|s| s.targets.iter().map(|t| (s.name.clone(), t.name.clone())))
        .collect()
}

/// Loads the configuration, starts, and waits for SIGINT or SIGTERM.
pub async fn run(path: &Path) -> anyhow::Result<u8> {
    let config = match crate::config::load(path) {
        Ok((c, warnings)) => {
            for w in warnings {
                tracing::warn!("{}", w.render(path));
            }
            c
        }
        Err(e) => {
            eprint!("{e}");
            return Ok(2);
        }
    };
    let running = start(config).await?;
    tracing::info!("dnsfailback running; admin API on {}", running.admin_addr);
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(0)
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot watch SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
