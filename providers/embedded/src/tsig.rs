//! TSIG (RFC 8945) on the server side: checks a signed request against the secondaries' keys
//! and signs the responses, including the chained signatures of a multi-message transfer.
//!
//! Sits at the serving end of the provider step (plan -> **provider** -> verify): secondaries
//! sign their SOA queries and transfer requests with their key and drop any answer that is not
//! signed with it, so every response to a signed request is signed here. hickory-proto has the
//! MAC primitives ([`TSigner`]) and the first response's signature
//! ([`TSigResponseContext`]); the later messages of a transfer are signed as RFC 8945 section
//! 5.3.1 says (prior MAC, message, timers only), which hickory leaves to the caller.

use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Edns, Metadata, ResponseCode};
use hickory_proto::rr::rdata::tsig::{make_tsig_record, TsigError, TSIG};
use hickory_proto::rr::{Name, Record, TSigResponseContext, TSigner};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_proto::ProtoError;
use hickory_server::server::{Request, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};

use crate::secondaries::Secondaries;

/// What a request's TSIG says.
pub enum Check {
    /// No TSIG record: answered unsigned.
    Unsigned,
    /// A valid signature by a configured key: the response is signed with it.
    Valid(ResponseSigner),
    /// A signature we cannot accept: NOTAUTH with this (unsigned, or BADTIME signed) TSIG.
    Rejected(TSigResponseContext, &'static str),
}

/// Seconds since the Unix epoch, the TSIG clock.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Checks the TSIG of `request` (RFC 8945 section 5.2): a known key name and algorithm, a MAC
/// that verifies, a time within the fudge.
pub fn check(request: &Request, keys: &Secondaries, now: u64) -> Check {
    let Some(tsig) = request.signature.as_deref() else {
        return Check::Unsigned;
    };
    let id = request.metadata.id;
    let Some(signer) = keys
        .key(&tsig.name)
        .filter(|k| *k.algorithm() == tsig.data.algorithm)
    else {
        return Check::Rejected(
            TSigResponseContext::unknown_key(id, now, tsig.name.clone()),
            "BADKEY",
        );
    };
    let Ok((mac, _, range)) = signer.verify_message_byte(request.as_slice(), None, true) else {
        return Check::Rejected(
            TSigResponseContext::bad_signature(id, now, signer.clone()),
            "BADSIG",
        );
    };
    if !range.contains(&now) {
        return Check::Rejected(
            TSigResponseContext::new(id, now, signer.clone(), mac, Some(TsigError::BadTime)),
            "BADTIME",
        );
    }
    Check::Valid(ResponseSigner {
        signer: signer.clone(),
        previous_mac: mac,
        first: true,
        id,
        time: now,
    })
}

/// The response code that goes with a rejected TSIG (RFC 8945 section 5.2: NOTAUTH).
pub const REJECTED: ResponseCode = ResponseCode::NotAuth;

/// Signs the response messages to one signed request, each chained to the one before.
pub struct ResponseSigner {
    signer: TSigner,
    /// The request's MAC, then the MAC of the last message signed.
    previous_mac: Vec<u8>,
    first: bool,
    id: u16,
    time: u64,
}

impl ResponseSigner {
    /// The key the request was signed with.
    pub fn key_name(&self) -> &Name {
        self.signer.signer_name()
    }

    /// The TSIG record for the next response message, given that message encoded without it.
    pub fn sign(&mut self, unsigned: &[u8]) -> Result<Box<Record<TSIG>>, ProtoError> {
        let record = if self.first {
            TSigResponseContext::new(
                self.id,
                self.time,
                self.signer.clone(),
                self.previous_mac.clone(),
                None,
            )
            .sign(unsigned)?
        } else {
            // RFC 8945 section 5.3.1: prior MAC, the message, then only Time Signed and Fudge.
            let mut tbs = Vec::with_capacity(unsigned.len() + self.previous_mac.len() + 10);
            let mut e = BinEncoder::new(&mut tbs);
            e.emit_u16(u16::try_from(self.previous_mac.len()).unwrap_or(u16::MAX))?;
            e.emit_vec(&self.previous_mac)?;
            e.emit_vec(unsigned)?;
            e.emit_u16((self.time >> 32) as u16)?;
            e.emit_u32(self.time as u32)?;
            e.emit_u16(self.signer.fudge())?;
            let mac = self
                .signer
                .sign(&tbs)
                .map_err(|e| ProtoError::from(e.to_string()))?;
            let rdata = TSIG::new(
                self.signer.algorithm().clone(),
                self.time,
                self.signer.fudge(),
                mac,
                self.id,
                None,
                Vec::new(),
            );
            Box::new(make_tsig_record(self.signer.signer_name().clone(), rdata))
        };
        self.first = false;
        self.previous_mac = record.data.mac.clone();
        Ok(record)
    }
}

/// Sends one response message with the given sections, signed when `signer` is given (the
/// message is encoded once without the TSIG to compute the MAC, as RFC 8945 section 4.3
/// defines it).
pub async fn send<R: ResponseHandler>(
    handle: &mut R,
    request: &Request,
    edns: Option<&Edns>,
    metadata: Metadata,
    sections: [&[Record]; 3],
    signer: Option<&mut ResponseSigner>,
) -> Result<ResponseInfo, String> {
    let [an, ns, ad] = sections;
    let build = || {
        MessageResponseBuilder::new(&request.queries, edns).build(
            metadata,
            an.iter(),
            ns.iter(),
            std::iter::empty(),
            ad.iter(),
        )
    };
    let signature = match signer {
        None => None,
        Some(s) => {
            let unsigned = encode(build())?;
            Some(s.sign(&unsigned).map_err(|e| format!("cannot sign: {e}"))?)
        }
    };
    let mut response = build();
    if let Some(sig) = signature {
        response.set_signature(sig);
    }
    handle
        .send_response(response)
        .await
        .map_err(|e| format!("cannot send: {e}"))
}

/// Sends the NOTAUTH answer to a request whose TSIG was rejected, with the TSIG record RFC
/// 8945 section 5.2 asks for (unsigned for BADKEY and BADSIG, signed for BADTIME).
pub async fn send_rejected<R: ResponseHandler>(
    handle: &mut R,
    request: &Request,
    edns: Option<&Edns>,
    metadata: Metadata,
    context: TSigResponseContext,
) -> Result<ResponseInfo, String> {
    let build = || MessageResponseBuilder::new(&request.queries, edns).build_no_records(metadata);
    let unsigned = encode(build())?;
    let signature = context
        .sign(&unsigned)
        .map_err(|e| format!("cannot sign: {e}"))?;
    let mut response = build();
    response.set_signature(signature);
    handle
        .send_response(response)
        .await
        .map_err(|e| format!("cannot send: {e}"))
}

fn encode<'a>(
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> Result<Vec<u8>, String> {
    let mut buf = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut buf);
    response
        .destructive_emit(&mut encoder)
        .map_err(|e| format!("cannot encode: {e}"))?;
    Ok(buf)
}
