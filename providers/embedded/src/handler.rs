//! The hickory request handler: turns a decoded DNS request into a wire response built from
//! [`crate::lookup::resolve`].
//!
//! Sits at the serving end of the provider step (plan -> **provider** -> **verify**). hickory
//! does the socket work and the wire format (malformed packets are dropped or answered FORMERR
//! by hickory before they reach us); this handler only decides the answer, so a bad request
//! can cost at most an error response, never the server.

use std::sync::{Arc, Mutex, RwLock};

use dnsfailback_provider::Fqdn;
use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::DNSClass;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use crate::lookup::{resolve, Params, Resolution};
use crate::state::Store;
use crate::weighted::WeightRng;

/// State shared between the provider (which writes) and the DNS listener (which reads).
#[derive(Debug)]
pub struct Shared {
    /// Zone content; the write lock is held only to swap in an applied change.
    pub store: RwLock<Store>,
    /// Zones served (apex names), fixed for the life of the instance.
    pub served: Vec<Fqdn>,
    /// SOA minimum and negative-answer TTL.
    pub negative_ttl: u32,
    /// Generator for weighted choices.
    pub rng: Mutex<WeightRng>,
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
            negative_ttl: self.negative_ttl,
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

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut resp_edns = None;
        if let Some(req) = request.edns.as_ref() {
            let mut e = Edns::new();
            e.set_max_payload(req.max_payload().max(512));
            e.set_version(0);
            resp_edns = Some(e);
        }
        let builder = MessageResponseBuilder::new(&request.queries, resp_edns.as_ref());
        let mut metadata = Metadata::response_from_request(&request.metadata);

        let rcode = if request.metadata.message_type != MessageType::Query {
            Some(ResponseCode::FormErr)
        } else if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            Some(ResponseCode::BADVERS)
        } else if request.metadata.op_code != OpCode::Query {
            Some(ResponseCode::NotImp)
        } else {
            None
        };
        let info = request.request_info();
        let result = match (rcode, info) {
            (Some(code), _) => {
                let response = builder.error_msg(&request.metadata, code);
                response_handle.send_response(response).await
            }
            (None, Err(_)) => {
                let response = builder.error_msg(&request.metadata, ResponseCode::FormErr);
                response_handle.send_response(response).await
            }
            (None, Ok(info)) if info.query.query_class() != DNSClass::IN => {
                let response = builder.error_msg(&request.metadata, ResponseCode::Refused);
                response_handle.send_response(response).await
            }
            (None, Ok(info)) => {
                let res = self
                    .shared
                    .resolve(info.query.name(), info.query.query_type());
                metadata.authoritative = res.authoritative;
                metadata.response_code = res.rcode;
                let response = builder.build(
                    metadata,
                    res.answers.iter(),
                    res.authorities.iter(),
                    std::iter::empty(),
                    std::iter::empty(),
                );
                response_handle.send_response(response).await
            }
        };
        match result {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!("embedded DNS: cannot send response: {e}");
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}
