//! `dnsfailback run`: wires every stage together and runs until SIGINT/SIGTERM.
//!
//! Order matters: configuration, providers (embedded servers started, answering from their
//! data files at once, before anything slower), store, admin API, then the probe runner and
//! the control loop, which first resolves intents left open by a crash.
//!
//! Stopping is bounded (see [`Running::stop`]): SIGTERM ends the process within about 4 s
//! whatever the control loop is doing, and a control loop or API task that ends on its own
//! ends the process with an error instead of leaving DNS served by a controller that no
//! longer fails anything over.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::probes::{approval_timeouts, targets_of, Probes};
use crate::api::{self, ApiState};
use crate::config::Config;
use crate::health::agent::AgentReport;
use crate::reconcile::{Clock, Controller, StatusBoard};
use crate::state::{Leadership, SingleNode, SqliteStore, Store};

/// How long the control loop and the API get to finish after the shutdown signal before they
/// are aborted (the loop gives changes already at the provider 2 s to be recorded, and a tick
/// in progress finishes first).
const GRACE: Duration = Duration::from_secs(3);
/// How long an aborted task gets to reach its next await point and go.
const ABORTED_GRACE: Duration = Duration::from_millis(300);
/// Bound on giving up the etcd lease on the way out.
const RESIGN_GRACE: Duration = Duration::from_millis(600);
/// Bound on closing each embedded DNS server (open TCP connections are not waited for).
const DNS_STOP_GRACE: Duration = Duration::from_millis(300);

/// A started controller; dropping it without [`Running::stop`] aborts everything.
pub struct Running {
    pub admin_addr: SocketAddr,
    /// Bound address of each embedded DNS server, by provider name.
    pub dns_addrs: Vec<(String, SocketAddr)>,
    pub board: StatusBoard,
    shutdown: watch::Sender<bool>,
    /// `None` once it has ended (see [`Running::task_ended`]).
    controller: Option<JoinHandle<()>>,
    api: Option<JoinHandle<()>>,
    /// The probe runner, restarted by a reload that changes checks.
    pub probes: Arc<Probes>,
    /// Servers the providers run in this process (the embedded DNS), stopped last.
    servers: Vec<Arc<dyn dnsfailback_provider::LocalServer>>,
    /// In an etcd group: given up on a clean stop, so another controller takes over at once.
    lease: Option<Arc<crate::state::etcd::EtcdLeadership>>,
    /// Reloads asked for through the admin API (`POST /v1/reload`), served by [`run`].
    reloads: Option<mpsc::Receiver<api::ReloadRequest>>,
    /// What the process was started with, to tell what a reload changes (taken by [`run`]).
    reload_baseline: Option<super::reload::Baseline>,
    /// The admin API's view of the services, swapped by a reload.
    api_index: Option<super::reload::ApiIndex>,
    /// The admin API's certificate, re-read on reload.
    admin_tls: Option<Arc<api::tls::ServerTls>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in [self.controller.take(), self.api.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

impl Running {
    /// Stops the loop and the API, then the embedded DNS servers, in bounded time: the loop
    /// and the API get [`GRACE`] (together) to finish after the shutdown signal and are then
    /// aborted; the lease and the DNS servers get a fraction of a second each. Total at most
    /// about 4.5 s, so a SIGTERM is honoured within the 5 s a supervisor allows.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        tokio::join!(
            stop_task("control loop", self.controller.take()),
            stop_task("admin API", self.api.take()),
        );
        if let Some(lease) = &self.lease {
            if tokio::time::timeout(RESIGN_GRACE, lease.resign())
                .await
                .is_err()
            {
                tracing::warn!(
                    "could not give up the leader lease within {RESIGN_GRACE:?}; it expires by itself"
                );
            }
        }
        for server in &self.servers {
            if tokio::time::timeout(DNS_STOP_GRACE, server.shutdown())
                .await
                .is_err()
            {
                tracing::warn!("embedded DNS did not stop within {DNS_STOP_GRACE:?}; closing it");
            }
        }
    }

    /// Resolves when the control loop or the admin API task ends although no stop was asked
    /// for (it returned, or it panicked and the panic did not end the process); returns which
    /// one. Pending forever while both run.
    pub async fn task_ended(&mut self) -> &'static str {
        async fn ended(task: &mut Option<JoinHandle<()>>) {
            match task.as_mut() {
                Some(t) => {
                    if let Err(e) = t.await {
                        tracing::error!("task failed: {e}");
                    }
                    *task = None;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = ended(&mut self.controller) => "control loop",
            _ = ended(&mut self.api) => "admin API",
        }
    }
}

/// Waits up to [`GRACE`] for `task` after the shutdown signal, then aborts it.
async fn stop_task(what: &str, task: Option<JoinHandle<()>>) {
    let Some(mut task) = task else { return };
    match tokio::time::timeout(GRACE, &mut task).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("{what} ended with: {e}"),
        Err(_) => {
            tracing::warn!(
                "{what} did not stop within {GRACE:?} of the shutdown signal; aborting it"
            );
            task.abort();
            // An abort takes effect at the task's next await point; do not wait longer than
            // that for a task stuck in blocking code.
            let _ = tokio::time::timeout(ABORTED_GRACE, task).await;
        }
    }
}

/// Starts the controller for a loaded configuration.
///
/// The steps run in the order the module documentation explains (embedded DNS, store, admin
/// API, probes, control loop); each is its own function.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let (providers, dns_addrs, servers) = start_embedded_dns(&config).await?;
    let (store, leadership, lease) = open_store(&config)?;
    let store = with_notifications(&config, store)?;
    // Named tokens (or the single/generated `admin` token); a token that cannot be loaded
    // stops start-up with its name, never its value.
    let tokens = api::load_tokens(&config.controller).map_err(|e| anyhow!(e))?;
    let clock = Clock::system();
    let controller =
        Controller::new(config.clone(), providers, store.clone(), leadership, clock).await?;
    let board = controller.board();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (commands, commands_rx) = mpsc::channel(64);
    // Agent reports: API -> control loop (vantage quorum).
    let (agent_tx, agent_rx) = mpsc::channel::<AgentReport>(256);
    let mut api_state = ApiState::new(
        board.clone(),
        store,
        tokens,
        commands,
        approval_timeouts(&config),
        agent_tx,
        targets_of(&config),
    );
    let (reload_tx, reloads) = mpsc::channel(4);
    api_state.reload = Some(reload_tx);
    api_state.clock = clock;
    let api_index = super::reload::ApiIndex::of(&api_state);
    let (admin_addr, api, admin_tls) = serve_admin(&config, api_state, shutdown_rx.clone()).await?;
    let (tx, rx) = mpsc::channel(4096);
    let probes = Probes::start(&config, tx);
    let controller = tokio::spawn(controller.run(rx, commands_rx, agent_rx, shutdown_rx));
    Ok(Running {
        admin_addr,
        dns_addrs,
        board,
        shutdown,
        controller: Some(controller),
        api: Some(api),
        probes,
        servers,
        lease,
        reloads: Some(reloads),
        reload_baseline: Some(super::reload::Baseline::of(&config)),
        api_index: Some(api_index),
        admin_tls,
    })
}

/// The providers, the bound address of each embedded DNS server and the servers themselves.
type Providers = (
    BTreeMap<String, Arc<dyn dnsfailback_provider::Provider>>,
    Vec<(String, SocketAddr)>,
    Vec<Arc<dyn dnsfailback_provider::LocalServer>>,
);

/// Builds the providers and starts the embedded DNS servers. First: they answer from their
/// data file (the last published records) before the store is opened and long before the
/// first probe or tick, so a restart does not leave resolvers without answers.
async fn start_embedded_dns(config: &Config) -> anyhow::Result<Providers> {
    let built = crate::providers::build(
        &config.providers,
        &config.provider_zones(),
        &config.controller.state,
    )
    .map_err(|e| anyhow!(e))?;
    let mut dns_addrs = Vec::new();
    let mut servers = Vec::new();
    for (name, server) in built.servers {
        let addr = server.start().await.map_err(|e| anyhow!(e.to_string()))?;
        dns_addrs.push((name, addr));
        servers.push(server);
    }
    Ok((built.providers, dns_addrs, servers))
}

/// The store, the leadership, and the etcd lease to give up on a clean stop (if any).
type StoreAndLeadership = (
    Arc<dyn Store>,
    Arc<dyn Leadership>,
    Option<Arc<crate::state::etcd::EtcdLeadership>>,
);

/// One controller: the SQLite file. Several: the shared etcd store and a leader lease
/// (`[controller.etcd]`); a follower probes and shows status but changes nothing.
fn open_store(config: &Config) -> anyhow::Result<StoreAndLeadership> {
    match &config.controller.etcd {
        Some(settings) => {
            let (store, leadership) =
                crate::state::etcd::connect(settings).map_err(|e| anyhow!(e))?;
            tracing::info!(
                node = %settings.node,
                prefix = %settings.prefix,
                "shared state in etcd; campaigning for the leader lease"
            );
            let lease = Some(leadership.clone());
            Ok((store, leadership, lease))
        }
        None => Ok((
            Arc::new(
                SqliteStore::open(&config.controller.state)
                    .with_context(|| "cannot open the state store".to_string())?,
            ),
            Arc::new(SingleNode),
            None,
        )),
    }
}

/// The store, with every audit entry also sent to the `[[controller.notify]]` receivers.
fn with_notifications(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<Arc<dyn Store>> {
    if config.controller.notify.is_empty() {
        return Ok(store);
    }
    let notifier =
        crate::notify::Notifier::start(&config.controller.notify).map_err(|e| anyhow!(e))?;
    tracing::info!(
        "notifying {} webhook receiver(s) of every audit entry",
        config.controller.notify.len()
    );
    Ok(Arc::new(crate::notify::NotifyingStore::new(
        store, notifier,
    )))
}

/// Binds the admin API's address and serves it (over TLS when configured); returns the bound
/// address (the configured port may be 0), the task and the TLS to reload. A busy address or
/// an unusable certificate stops start-up with what to change.
async fn serve_admin(
    config: &Config,
    api_state: ApiState,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>, Option<Arc<api::tls::ServerTls>>)> {
    let tls = match &config.controller.admin_tls {
        Some(settings) => Some(api::tls::ServerTls::load(settings).map_err(|e| anyhow!(e))?),
        None => None,
    };
    let admin_listen = config.controller.admin_listen;
    let listener = tokio::net::TcpListener::bind(admin_listen)
        .await
        .with_context(|| format!("cannot listen on {admin_listen} for the admin API; set controller.admin_listen to a free address"))?;
    let admin_addr = listener.local_addr()?;
    let api = api::serve_listener(listener, api_state, tls.clone(), shutdown);
    Ok((admin_addr, api, tls))
}

/// Loads the configuration, starts, and waits for SIGINT or SIGTERM.
pub async fn run(path: &Path) -> anyhow::Result<u8> {
    let config = match crate::config::load_with_files(path) {
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
    let mut running = start(config).await?;
    tracing::info!("dnsfailback running; admin API on {}", running.admin_addr);
    let mut reloads = running.reloads.take();
    let (Some(baseline), Some(api)) = (running.reload_baseline.take(), running.api_index.take())
    else {
        return Err(anyhow!(
            "the controller started without what a reload needs"
        ));
    };
    let mut reloader = super::reload::Reloader {
        path,
        board: running.board.clone(),
        baseline,
        admin_tls: running.admin_tls.clone(),
        probes: running.probes.clone(),
        api,
    };
    let mut stop = StopSignals::watch();
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    super::systemd::notify("READY=1");
    let watchdog = super::systemd::feed_watchdog(running.board.clone());
    tokio::pin!(watchdog);
    let code = loop {
        tokio::select! {
            _ = stop.next() => {
                tracing::info!("shutting down");
                break 0;
            }
            what = running.task_ended() => {
                let code = super::EXIT_SOFTWARE;
                tracing::error!(
                    "the {what} task ended unexpectedly; exiting (code {code}) so the \
                     supervisor restarts the controller"
                );
                break code;
            }
            Some(()) = super::reload::next_hangup(&mut hangup) => {
                let _ = reloader.reload().await;
            }
            Some(reply) = super::reload::next_reload(&mut reloads) => {
                let _ = reply.send(reloader.reload().await);
            }
            () = &mut watchdog => {}
        }
    };
    super::systemd::notify("STOPPING=1");
    let started = std::time::Instant::now();
    running.stop().await;
    tracing::info!("stopped in {:?}", started.elapsed());
    Ok(code)
}

/// SIGTERM and SIGINT, watched from start to stop: a stream made once, so a signal that
/// arrives while the loop handles something else (a reload) is kept, not lost between two
/// waits.
struct StopSignals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn watch() -> StopSignals {
        use tokio::signal::unix::{signal, SignalKind};
        let watch = |kind, name| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!("cannot watch {name}: {e}");
                None
            }
        };
        StopSignals {
            term: watch(SignalKind::terminate(), "SIGTERM"),
            int: watch(SignalKind::interrupt(), "SIGINT"),
        }
    }

    /// The next SIGTERM or SIGINT.
    async fn next(&mut self) {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.term) => {}
            _ = one(&mut self.int) => {}
        }
    }
}
