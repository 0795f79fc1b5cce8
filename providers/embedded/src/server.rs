//! Sockets and the hickory server task: binds UDP and TCP on one port and runs the handler.
//!
//! Sits beside the provider step (plan -> **provider** -> verify): the provider changes zone
//! content, this module makes it reachable by `dig`, resolvers and the controller's verifier.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};

use crate::handler::Handler;

/// How long an idle TCP connection is kept open.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection. hickory writes them only once the handler returns, so
/// this bounds the messages of one zone transfer (up to 60 KB each: about 60 MB of zone);
/// the queue holds only what is sent, so a large bound costs nothing per plain query.
const TCP_RESPONSE_BUFFER: usize = 1024;
/// Attempts to find a port free for both UDP and TCP when `listen` has port 0.
const PORT_ZERO_ATTEMPTS: usize = 8;

/// A running server; dropping it stops the listeners.
pub struct Running {
    server: Server<Handler>,
    addr: SocketAddr,
}

impl Running {
    /// The address both listeners are bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting queries and waits for the listener tasks to end.
    pub async fn stop(mut self) {
        if let Err(e) = self.server.shutdown_gracefully().await {
            tracing::debug!("embedded DNS on {} stopped with: {e}", self.addr);
        }
    }
}

/// Binds UDP and TCP on the same port and starts serving with `handler`.
///
/// With port 0, UDP is bound first and TCP then takes the same port; if that port is taken for
/// TCP, another is tried a few times.
pub async fn start(listen: SocketAddr, handler: Handler) -> io::Result<Running> {
    let (udp, tcp) = bind_pair(listen).await?;
    let addr = udp.local_addr()?;
    let mut server = Server::new(handler);
    server.register_socket(udp);
    server.register_listener(tcp, TCP_TIMEOUT, TCP_RESPONSE_BUFFER);
    Ok(Running { server, addr })
}

async fn bind_pair(listen: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let attempts = if listen.port() == 0 {
        PORT_ZERO_ATTEMPTS
    } else {
        1
    };
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free port");
    for _ in 0..attempts {
        let udp = UdpSocket::bind(listen).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = e,
        }
    }
    Err(last)
}
