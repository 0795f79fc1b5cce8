//! The hickory request handler: turns a decoded DNS request into a wire response built from
//! [`crate::lookup::resolve`].
//!
//! Sits at the serving end of the provider step (plan -> **provider** -> **verify**). The
//! socket loops (`udp.rs`, hickory's TCP listener) do the socket work and the wire format
//! (malformed packets are dropped or answered FORMERR before they reach us); this handler
//! decides the answer, the EDNS reply (RFC 6891, the DO bit copied as RFC 3225 asks) and how
//! much of it fits ([`crate::fit`]), so a bad request can cost at most an error response, never
//! the server. It also checks TSIG on signed requests and signs their answers (`tsig.rs`), and
//! hands AXFR and IXFR to `transfer.rs`.
//!
//! Logging: one `debug` line per query (target `dnsfailback_provider_embedded::handler`), never
//! `info`, so a busy server does not fill the log; hickory's own per-query lines are `info` in
//! target `hickory_server`, which the controller's default filter keeps at `warn`.

use std::sync::{Arc, Mutex, RwLock};

use dnsfailback_provider::Fqdn;
use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::DNSClass;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, RequestInfo, ResponseHandler, ResponseInfo};

use crate::apex::ZoneSettings;
use crate::fit::fit;
use crate::lookup::{resolve, Params, Resolution};
use crate::secondaries::Secondaries;
use crate::state::Store;
use crate::transfer::{self, is_transfer};
use crate::tsig::{self, Check, ResponseSigner};
use crate::weighted::WeightRng;

/// The UDP payload this server offers and the most it sends over UDP, whatever a client
/// advertises: the DNS Flag Day 2020 value, which avoids IP fragmentation.
pub const UDP_PAYLOAD: u16 = 1232;
/// A UDP reply to a query without EDNS is at most this long (RFC 1035 section 4.2.1).
const PLAIN_UDP_LIMIT: u16 = 512;
/// Room kept for the TSIG record of a signed UDP reply: owner and algorithm names, the fixed
/// fields and a 64-byte (SHA-512) MAC.
const TSIG_ROOM: u16 = 400;

/// State shared between the provider (which writes) and the DNS listener (which reads).
#[derive(Debug)]
pub struct Shared {
    /// Zone content; the write lock is held only to swap in an applied change.
    pub store: RwLock<Store>,
    /// Zones served (apex names), fixed for the life of the instance.
    pub served: Vec<Fqdn>,
    /// SOA, NS and name-server addresses of the served zones, fixed like `served`.
    pub zones: ZoneSettings,
    /// Generator for weighted choices and round-robin rotation.
    pub rng: Mutex<WeightRng>,
    /// UDP response rate limiting, when configured.
    pub rrl: Option<crate::rrl::Rrl>,
    /// Who may transfer the zones (and with which TSIG key); NOTIFY targets.
    pub secondaries: Secondaries,
}

impl Shared {
    /// Answers one question from the current zone content.
    pub fn resolve(
        &self,
        qname: &hickory_proto::rr::Name,
        qtype: hickory_proto::rr::RecordType,
    ) -> Resolution {
        let store = self.store.read().unwrap_or_else(|p| p.into_inner());
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let params = Params {
            served: &self.served,
            zones: &self.zones,
        };
        resolve(&store, params, qname, qtype, &mut rng)
    }
}

/// The handler registered with the hickory [`hickory_server::Server`].
#[derive(Debug, Clone)]
pub struct Handler {
    /// The zones and the generator.
    pub shared: Arc<Shared>,
}

/// The OPT record of the reply when the query had one: our payload size, version 0, and the
/// query's DO bit (RFC 3225 section 3: copied into the response).
fn reply_edns(request: &Request) -> Option<Edns> {
    let req = request.edns.as_ref()?;
    let mut e = Edns::new();
    e.set_max_payload(UDP_PAYLOAD);
    e.set_version(0);
    e.set_dnssec_ok(req.flags().dnssec_ok);
    Some(e)
}

/// The largest reply allowed to `request`: 512 bytes over UDP without EDNS, the client's
/// advertised size (at least 512, at most [`UDP_PAYLOAD`]) with it, 65535 over TCP.
fn size_limit(request: &Request) -> u16 {
    match (request.protocol(), request.edns.as_ref()) {
        (Protocol::Udp, None) => PLAIN_UDP_LIMIT,
        (Protocol::Udp, Some(e)) => e.max_payload().clamp(PLAIN_UDP_LIMIT, UDP_PAYLOAD),
        _ => u16::MAX,
    }
}

/// The response code for a request this server does not answer from its zones, if any.
fn refusal(request: &Request) -> Option<ResponseCode> {
    if request.metadata.message_type != MessageType::Query {
        return Some(ResponseCode::FormErr);
    }
    if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
        return Some(ResponseCode::BADVERS);
    }
    if request.metadata.op_code != OpCode::Query {
        return Some(ResponseCode::NotImp);
    }
    let Ok(info) = request.request_info() else {
        return Some(ResponseCode::FormErr);
    };
    if info.query.query_class() != DNSClass::IN {
        return Some(ResponseCode::Refused);
    }
    None
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let resp_edns = reply_edns(request);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let mut signer = match tsig::check(request, &self.shared.secondaries, tsig::now()) {
            Check::Unsigned => None,
            Check::Valid(s) => Some(s),
            Check::Rejected(context, why) => {
                // Anyone can send a bad signature, so not above debug.
                tracing::debug!(from = %request.src(), "embedded DNS: TSIG {why}; NOTAUTH");
                metadata.response_code = tsig::REJECTED;
                let sent = tsig::send_rejected(
                    &mut response_handle,
                    request,
                    resp_edns.as_ref(),
                    metadata,
                    context,
                )
                .await;
                return finish(sent, metadata);
            }
        };
        let result = match (refusal(request), request.request_info()) {
            (None, Ok(info)) if is_transfer(info.query.query_type()) => {
                let edns = resp_edns.as_ref();
                return transfer::answer(
                    &self.shared,
                    request,
                    &info,
                    edns,
                    signer,
                    response_handle,
                )
                .await;
            }
            (None, Ok(info)) => {
                let edns = resp_edns.as_ref();
                let handle = &mut response_handle;
                self.answer(request, &info, edns, &mut metadata, signer.as_mut(), handle)
                    .await
            }
            (code, _) => {
                let code = code.unwrap_or(ResponseCode::FormErr);
                tracing::debug!(rcode = %code, "embedded DNS query refused");
                metadata.response_code = code;
                let edns = resp_edns.as_ref();
                let none: [&[_]; 3] = [&[], &[], &[]];
                tsig::send(
                    &mut response_handle,
                    request,
                    edns,
                    metadata,
                    none,
                    signer.as_mut(),
                )
                .await
            }
        };
        finish(result, metadata)
    }
}

impl Handler {
    /// Answers an ordinary query from the zones, fitted to the client's size (less room for
    /// the TSIG record of a signed reply over UDP), signed when the query was.
    async fn answer<R: ResponseHandler>(
        &self,
        request: &Request,
        info: &RequestInfo<'_>,
        edns: Option<&Edns>,
        metadata: &mut Metadata,
        signer: Option<&mut ResponseSigner>,
        handle: &mut R,
    ) -> Result<ResponseInfo, String> {
        let res = self
            .shared
            .resolve(info.query.name(), info.query.query_type());
        metadata.authoritative = res.authoritative;
        metadata.response_code = res.rcode;
        let sections = [&res.answers[..], &res.authorities, &res.additionals];
        let mut limit = size_limit(request);
        if signer.is_some() && request.protocol() == Protocol::Udp {
            limit = limit.saturating_sub(TSIG_ROOM);
        }
        let f = fit(request.queries.as_bytes(), sections, edns, limit);
        metadata.truncation = f.truncated;
        tracing::debug!(
            qname = %info.query.name(),
            qtype = %info.query.query_type(),
            rcode = %res.rcode,
            answers = f.answers,
            truncated = f.truncated,
            "embedded DNS query"
        );
        let sections = [
            &res.answers[..f.answers],
            &res.authorities[..f.authorities],
            &res.additionals[..f.additionals],
        ];
        tsig::send(handle, request, edns, *metadata, sections, signer).await
    }
}

/// The response info of a sent response, or SERVFAIL when it could not be sent.
fn finish(result: Result<ResponseInfo, String>, mut metadata: Metadata) -> ResponseInfo {
    match result {
        Ok(info) => info,
        Err(e) => {
            // Per query (a client that went away), so not above debug.
            tracing::debug!("embedded DNS: {e}");
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        }
    }
}
