//! The systemd service protocol (`sd_notify`): readiness, reloads, stopping and the watchdog.
//!
//! Beside the flow, around `run`: with `Type=notify` systemd waits for `READY=1`, sent once
//! the embedded DNS answers, the admin API listens and the control loop runs, so units
//! ordered after dnsfailback start against a serving controller. `RELOADING=1` and
//! `STOPPING=1` tell systemd what a SIGHUP or SIGTERM is doing. With `WatchdogSec=` the
//! watchdog is fed at half the period, and only while the control loop finishes ticks: a
//! loop that hangs stops the feeding and systemd restarts the process (the journal resumes
//! any change that was in flight). Without `NOTIFY_SOCKET` (not under systemd) every call
//! does nothing. The datagram is a few bytes on a Unix socket; no library is needed for it.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::reconcile::StatusBoard;

/// Where systemd listens, from `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket).
fn socket() -> Option<String> {
    std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Sends one state line (`READY=1`, `STOPPING=1`, ...) to systemd; a failure is logged once
/// per call and never stops the controller.
pub fn notify(state: &str) {
    let Some(path) = socket() else {
        return;
    };
    if let Err(e) = send(&path, state) {
        tracing::warn!("cannot tell systemd {state:?} on NOTIFY_SOCKET {path}: {e}");
    }
}

fn send(path: &str, state: &str) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        }
        None => {
            sock.send_to(state.as_bytes(), path)?;
        }
    }
    Ok(())
}

/// The watchdog period systemd asked for (`WATCHDOG_USEC`, for this process when
/// `WATCHDOG_PID` is set); `None` without a watchdog.
fn watchdog_period() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim() != std::process::id().to_string() {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Feeds the watchdog at half its period while the control loop behind `board` finishes
/// ticks; returns at once without a watchdog. Runs until dropped.
pub async fn feed_watchdog(board: StatusBoard) {
    let Some(period) = watchdog_period() else {
        return std::future::pending().await;
    };
    let half = period / 2;
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + half, half);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = board.ticks();
    loop {
        every.tick().await;
        let now = board.ticks();
        if now != seen {
            seen = now;
            notify("WATCHDOG=1");
        } else {
            tracing::warn!(
                "the control loop finished no tick in {half:?}; not feeding the watchdog"
            );
        }
    }
}
