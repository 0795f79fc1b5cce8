//! A tiny HTTP backend for the demo and the end-to-end tests: answers `200 ok` to every
//! request and closes the connection, so stopping it makes health checks fail at once (no
//! keep-alive connection outlives it).
//!
//! Outside the decision flow: it stands in for the services being probed (the thing probe
//! checks), for `dnsfailback demo`, unit tests of hooks and metric gates, and the integration
//! tests. It uses no other module of the crate, so any module may use it.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running backend; stops when dropped.
pub struct Backend {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    /// Listens on `addr` (port 0 picks one) and serves until dropped.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Backend> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let mut seen = Vec::new();
                    while let Ok(n) = conn.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        if seen.windows(4).any(|w| w == b"\r\n\r\n") || seen.len() > 16 * 1024 {
                            break;
                        }
                    }
                    let _ = conn
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
                        .await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Ok(Backend { addr, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}
