//! The UDP receive loop: one per socket, each answering its queries in turn and writing the
//! reply straight to its socket.
//!
//! Sits at the serving end of the provider step (plan -> **provider** -> verify), where most
//! of the server's queries arrive. hickory's own UDP loop spawns a task per query and hands
//! each reply back to the socket's task through a channel (and builds a per-query log record
//! even when logging is off); at tens of thousands of queries per second those wake-ups cost
//! more than answering. Here each socket (one per core, `SO_REUSEPORT`, see `server.rs`) has
//! one task that decodes, answers with the same [`Handler`] and sends, as BIND's per-thread
//! sockets do. TCP (and so zone transfers) stays with hickory's listener.
//!
//! Decoding follows hickory's rules: a datagram shorter than a header is dropped, one whose
//! header decodes but whose body does not gets FORMERR, and responses are never answered
//! (no reflection).

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Header, MessageType, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::net::NetError;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use tokio::net::UdpSocket;

use crate::handler::Handler;
use crate::rrl::Verdict;

/// Largest query read; a longer datagram is cut and so answered FORMERR.
const MAX_QUERY: usize = 4096;

/// Writes a reply to the UDP socket the query came in on.
#[derive(Clone)]
struct Reply {
    socket: Arc<UdpSocket>,
    dst: SocketAddr,
}

#[async_trait::async_trait]
impl ResponseHandler for Reply {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        // The handler has already fitted the reply to the client's size; this is a backstop.
        let limit = response.edns().map_or(512, |e| e.max_payload().max(512));
        let mut buf = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut buf);
        encoder.set_max_size(limit);
        let info = response
            .destructive_emit(&mut encoder)
            .map_err(|e| NetError::from(format!("cannot encode the reply: {e}")))?;
        self.socket.send_to(&buf, self.dst).await?;
        Ok(info)
    }
}

/// Answers queries on `socket` until the task is aborted.
pub async fn serve(socket: Arc<UdpSocket>, handler: Handler) {
    let mut buf = vec![0u8; MAX_QUERY];
    loop {
        let (n, src) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // Per datagram (ICMP errors and the like), so not above debug.
                tracing::debug!("embedded DNS: UDP receive: {e}");
                tokio::task::yield_now().await;
                continue;
            }
        };
        if src.port() == 0 {
            continue;
        }
        let reply = Reply {
            socket: socket.clone(),
            dst: src,
        };
        answer(&handler, &buf[..n], src, reply).await;
    }
}

async fn answer(handler: &Handler, bytes: &[u8], src: SocketAddr, mut reply: Reply) {
    let mut decoder = BinDecoder::new(bytes);
    let Ok(header) = Header::read(&mut decoder) else {
        return;
    };
    if header.metadata.message_type == MessageType::Response {
        return;
    }
    let verdict = handler.shared.rrl.as_ref().map_or(Verdict::Answer, |r| {
        r.check(src.ip(), std::time::Instant::now())
    });
    match verdict {
        Verdict::Answer => {}
        Verdict::Drop => return,
        Verdict::Slip => return slip(&header, bytes, reply).await,
    }
    match Request::from_bytes(bytes.to_vec(), src, Protocol::Udp) {
        Ok(request) => {
            handler
                .handle_request::<_, TokioTime>(&request, reply)
                .await;
        }
        Err(e) => {
            tracing::debug!(from = %src, "embedded DNS: malformed query: {e}");
            let Ok(queries) = Queries::read(&mut BinDecoder::new(&[]), 0) else {
                return;
            };
            let response = MessageResponseBuilder::new(&queries, None)
                .error_msg(&header.metadata, ResponseCode::FormErr);
            if let Err(e) = reply.send_response(response).await {
                tracing::debug!("embedded DNS: cannot send FORMERR: {e}");
            }
        }
    }
}

/// The reply to a rate-limited query that slips: its question, no records, TC=1, so a real
/// client asks again over TCP (see [`crate::rrl`]).
async fn slip(header: &Header, bytes: &[u8], mut reply: Reply) {
    let mut decoder = BinDecoder::new(bytes.get(12..).unwrap_or_default());
    let Ok(queries) = Queries::read(&mut decoder, usize::from(header.counts.queries)) else {
        return;
    };
    let mut metadata = hickory_proto::op::Metadata::response_from_request(&header.metadata);
    metadata.truncation = true;
    let response = MessageResponseBuilder::new(&queries, None).build_no_records(metadata);
    if let Err(e) = reply.send_response(response).await {
        tracing::debug!("embedded DNS: cannot send a truncated reply: {e}");
    }
}
