//! Sockets and server tasks: binds UDP and TCP on one port; UDP is answered by the loops in
//! `udp.rs`, TCP (and so zone transfers) by the hickory server, both with the same handler.
//!
//! Sits beside the provider step (plan -> **provider** -> verify): the provider changes zone
//! content, this module makes it reachable by `dig`, resolvers and the controller's verifier.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

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
    /// The UDP loops (`udp.rs`), one per socket.
    udp: Vec<JoinHandle<()>>,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.udp {
            task.abort();
        }
    }
}

impl Running {
    /// The address both listeners are bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting queries and waits for the listener tasks to end.
    pub async fn stop(mut self) {
        for task in std::mem::take(&mut self.udp) {
            task.abort();
            let _ = task.await;
        }
        if let Err(e) = self.server.shutdown_gracefully().await {
            tracing::debug!("embedded DNS on {} stopped with: {e}", self.addr);
        }
    }
}

/// Binds UDP and TCP on the same port and starts serving with `handler`.
///
/// With port 0, UDP is bound first and TCP then takes the same port; if that port is taken for
/// TCP, another is tried a few times. With a fixed port on Unix there is one UDP socket per
/// core (at most [`MAX_UDP_SOCKETS`]) on that port with `SO_REUSEPORT`, so the kernel spreads
/// queries over them and each has its own receive loop, as BIND does; otherwise one.
pub async fn start(listen: SocketAddr, handler: Handler) -> io::Result<Running> {
    let (udp, tcp) = bind_pair(listen).await?;
    let addr = udp[0].local_addr()?;
    let udp = udp
        .into_iter()
        .map(|socket| tokio::spawn(crate::udp::serve(Arc::new(socket), handler.clone())))
        .collect();
    let mut server = Server::new(handler);
    server.register_listener(tcp, TCP_TIMEOUT, TCP_RESPONSE_BUFFER);
    Ok(Running { server, udp, addr })
}

/// UDP sockets sharing the port at most; more than the cores only adds wake-ups.
const MAX_UDP_SOCKETS: usize = 4;

async fn bind_pair(listen: SocketAddr) -> io::Result<(Vec<UdpSocket>, TcpListener)> {
    let attempts = if listen.port() == 0 {
        PORT_ZERO_ATTEMPTS
    } else {
        1
    };
    // Port 0 (tests): one socket, since the kernel may hand a port-0 SO_REUSEPORT socket a
    // port another such socket of this user already holds.
    let count = if cfg!(unix) && listen.port() != 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_UDP_SOCKETS))
    } else {
        1
    };
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free port");
    for _ in 0..attempts {
        let first = udp_socket(listen, count > 1)?;
        let addr = first.local_addr()?;
        let mut sockets = vec![first];
        for _ in 1..count {
            sockets.push(udp_socket(addr, true)?);
        }
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((sockets, tcp)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn udp_socket(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(unix))]
    let _ = reuse_port;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}
