//! TSIG-signed DNS transport over TCP: sends one message (or an AXFR), verifies the server's
//! signed answer and maps response codes to classified [`ProviderError`]s.
//!
//! Sits under the provider step of probe -> health -> policy -> plan -> **provider** ->
//! verify. It is written directly on hickory-proto's [`TSigner`] rather than hickory-net's
//! client because of hickory-dns#1981: when a server rejects the key it answers with an
//! unsigned TSIG (MAC length 0), and the stock client surfaces that as a protocol error about
//! "truncated HMACs" instead of NOTAUTH/BADSIG. Here the TSIG error field and the RCODE are
//! read first, so a rejected key is reported as such; only then is the MAC verified.
//!
//! Retries (exponential back-off with `backon`) cover timeouts, connection failures and
//! SERVFAIL. NOTAUTH, REFUSED, BADSIG, BADKEY, BADTIME and failed prerequisites are never
//! retried.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::{ExponentialBuilder, Retryable};
use dnsfailback_provider::{ErrorKind, ProviderError};
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::{Name, RData, Record, RecordType as HType, TSigVerifier, TSigner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The message a rejected key produces; operators grep for it.
pub const KEY_REJECTED: &str = "TSIG key rejected by server (check key name, secret, algorithm)";

/// Where and how to talk to one server.
#[derive(Clone)]
pub(crate) struct Client {
    pub instance: String,
    pub server: SocketAddr,
    pub signer: Option<TSigner>,
    pub timeout: Duration,
    pub retries: usize,
    /// Retries, for metrics (shared by the clones of this client).
    pub stats: std::sync::Arc<dnsfailback_provider::CallStats>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn tsig_error_text(e: &TsigError) -> String {
    match e {
        TsigError::BadSig => {
            "BADSIG: the server computed a different MAC (wrong secret or algorithm)".into()
        }
        TsigError::BadKey => "BADKEY: the server does not know this key name/algorithm".into(),
        TsigError::BadTime => {
            "BADTIME: client and server clocks differ by more than the fudge (300 s)".into()
        }
        TsigError::BadTrunc => "BADTRUNC".into(),
        TsigError::Unknown(n) => format!("TSIG error {n}"),
    }
}

impl Client {
    fn err(&self, kind: ErrorKind, msg: impl Into<String>) -> ProviderError {
        ProviderError::new(&self.instance, kind, msg)
    }

    /// Sends `msg` to the primary with retries on transient failures; returns the verified
    /// response whatever its RCODE, except that transient RCODEs (SERVFAIL) are retried and
    /// auth failures become errors. `what` names the operation in messages.
    pub async fn exchange(&self, msg: &Message, what: &str) -> Result<Message, ProviderError> {
        let attempt = || async {
            let resp = exchange_once(self, self.server, msg, self.signer.as_ref()).await?;
            match classify(self, &resp, msg.metadata.op_code, what) {
                Some(e) if e.is_retryable() || e.is_auth() => Err(e),
                _ => Ok(resp),
            }
        };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(5))
                    .with_max_times(self.retries)
                    .with_jitter(),
            )
            .sleep(tokio::time::sleep)
            .when(|e: &ProviderError| e.is_retryable())
            .notify(|e: &ProviderError, d: Duration| {
                self.stats.retried();
                tracing::warn!(provider = %self.instance, error = %e, "{what}: retrying in {d:?}");
            })
            .await
    }

    /// A zone transfer (AXFR), signed when a key is configured; every message of the answer
    /// must carry a valid TSIG chained to the previous one.
    pub async fn axfr(&self, zone: &Name) -> Result<Vec<Record>, ProviderError> {
        let attempt = || async { self.axfr_once(zone).await };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_times(self.retries),
            )
            .sleep(tokio::time::sleep)
            .when(|e: &ProviderError| e.is_retryable())
            .notify(|_: &ProviderError, _| self.stats.retried())
            .await
    }

    async fn axfr_once(&self, zone: &Name) -> Result<Vec<Record>, ProviderError> {
        let mut msg = crate::request::build_query(zone, HType::AXFR);
        let what = format!("zone transfer (AXFR) of {zone}");
        let mut verifier = self.sign(&mut msg)?;
        let bytes = msg
            .to_vec()
            .map_err(|e| self.err(ErrorKind::Invalid, format!("{what}: cannot encode: {e}")))?;
        let fut = async {
            let mut stream = connect(self, self.server).await?;
            write_frame(self, &mut stream, &bytes).await?;
            let mut records: Vec<Record> = Vec::new();
            let mut soa_seen = 0;
            loop {
                let body = read_frame(self, &mut stream).await?;
                let resp = self.check_response(&msg, &body, verifier.as_mut(), &what, true)?;
                if let Some(e) = classify(self, &resp, OpCode::Query, &what) {
                    return Err(e);
                }
                if resp.metadata.response_code == ResponseCode::NXDomain {
                    return Err(self.err(ErrorKind::NotFound, format!("{what}: zone not found")));
                }
                if resp.answers.is_empty() {
                    return Err(self.err(
                        ErrorKind::Protocol,
                        format!("{what}: empty transfer message"),
                    ));
                }
                for r in resp.answers {
                    if r.record_type() == HType::SOA {
                        soa_seen += 1;
                        if soa_seen == 2 {
                            return Ok(records);
                        }
                    }
                    records.push(r);
                }
            }
        };
        match tokio::time::timeout(self.timeout * 4, fut).await {
            Ok(r) => r,
            Err(_) => Err(self.err(ErrorKind::Transient, format!("{what}: timed out"))),
        }
    }

    fn sign(&self, msg: &mut Message) -> Result<Option<TSigVerifier>, ProviderError> {
        match &self.signer {
            Some(s) => msg.finalize(s, now_secs()).map_err(|e| {
                self.err(
                    ErrorKind::Invalid,
                    format!("cannot sign the request with TSIG: {e}"),
                )
            }),
            None => Ok(None),
        }
    }

    /// Parses and authenticates one response. Order matters (see the module docs): the TSIG
    /// error field and RCODE are examined before the MAC, so a rejected key is named clearly.
    fn check_response(
        &self,
        req: &Message,
        body: &[u8],
        verifier: Option<&mut TSigVerifier>,
        what: &str,
        multi: bool,
    ) -> Result<Message, ProviderError> {
        let resp = Message::from_vec(body).map_err(|e| {
            self.err(
                ErrorKind::Protocol,
                format!("{what}: malformed response from {}: {e}", self.server),
            )
        })?;
        if resp.metadata.id != req.metadata.id
            || resp.metadata.message_type != MessageType::Response
        {
            return Err(self.err(
                ErrorKind::Protocol,
                format!(
                    "{what}: response from {} does not match the request",
                    self.server
                ),
            ));
        }
        let Some(verifier) = verifier else {
            return Ok(resp);
        };
        let rcode = resp.metadata.response_code;
        if let Some(sig) = resp.signature() {
            if let Some(e) = &sig.data.error {
                return Err(self
                    .err(
                        ErrorKind::Auth,
                        format!("{what}: {KEY_REJECTED}: {} ({})", tsig_error_text(e), rcode),
                    )
                    .unchanged());
            }
        }
        // PowerDNS (4.7) answers an UPDATE whose TSIG it cannot verify (wrong secret, unknown
        // key name, wrong algorithm) with REFUSED and *no TSIG record at all*, where BIND and
        // Knot answer NOTAUTH with an unsigned TSIG carrying BADSIG/BADKEY. A server that
        // accepted the key signs its REFUSED (BIND and PowerDNS for a key without rights;
        // PowerDNS also for `dnsupdate=no` and `allow-dnsupdate-from`), so an unsigned
        // REFUSED to a signed request means the key itself was not accepted.
        if resp.signature().is_none() && rcode == ResponseCode::Refused {
            return Err(self
                .err(
                    ErrorKind::Auth,
                    format!(
                        "{what}: {KEY_REJECTED}: REFUSED by {} without a TSIG record, so it did \
                         not accept the key (PowerDNS answers a wrong secret, key name or \
                         algorithm this way)",
                        self.server
                    ),
                )
                .unchanged());
        }
        if resp.signature().is_none() || rcode == ResponseCode::NotAuth {
            if let Some(e) = classify(self, &resp, req.metadata.op_code, what) {
                if e.is_auth() {
                    return Err(e);
                }
            }
            if resp.signature().is_none() && !multi {
                return Err(self.err(
                    ErrorKind::Protocol,
                    format!(
                        "{what}: the response from {} is not TSIG-signed ({rcode}); refusing to trust it",
                        self.server
                    ),
                ));
            }
        }
        verifier.verify(body).map_err(|e| {
            self.err(
                ErrorKind::Protocol,
                format!(
                    "{what}: the TSIG signature of the response from {} did not verify ({e}); \
                     the result is unknown, re-read before trusting the zone",
                    self.server
                ),
            )
        })?;
        Ok(resp)
    }
}

/// Sends one message to `addr` and returns the authenticated response (any RCODE). Unsigned
/// when `signer` is `None` (secondaries in the propagation check may not know the key).
pub(crate) async fn exchange_once(
    client: &Client,
    addr: SocketAddr,
    msg: &Message,
    signer: Option<&TSigner>,
) -> Result<Message, ProviderError> {
    let mut msg = msg.clone();
    let mut verifier = match signer {
        Some(s) => msg.finalize(s, now_secs()).map_err(|e| {
            client.err(
                ErrorKind::Invalid,
                format!("cannot sign the request with TSIG: {e}"),
            )
        })?,
        None => None,
    };
    let what = describe(&msg);
    let bytes = msg
        .to_vec()
        .map_err(|e| client.err(ErrorKind::Invalid, format!("{what}: cannot encode: {e}")))?;
    let mut stream = tokio::time::timeout(client.timeout, connect(client, addr))
        .await
        .map_err(|_| {
            client
                .err(
                    ErrorKind::Transient,
                    format!("{what}: connecting to {addr} timed out"),
                )
                .unchanged()
        })??;
    let body = tokio::time::timeout(client.timeout, async {
        write_frame(client, &mut stream, &bytes).await?;
        read_frame(client, &mut stream).await
    })
    .await
    .map_err(|_| {
        client.err(
            ErrorKind::Transient,
            format!("{what}: no answer from {addr} within {:?}", client.timeout),
        )
    })??;
    let c = Client {
        server: addr,
        ..client.clone()
    };
    c.check_response(&msg, &body, verifier.as_mut(), &what, false)
}

fn describe(msg: &Message) -> String {
    let q = msg.queries.first();
    match (msg.metadata.op_code, q) {
        (OpCode::Update, Some(q)) => format!("update of zone {}", q.name()),
        (_, Some(q)) => format!("query {} {}", q.name(), q.query_type()),
        _ => "request".into(),
    }
}

async fn connect(client: &Client, addr: SocketAddr) -> Result<TcpStream, ProviderError> {
    TcpStream::connect(addr).await.map_err(|e| {
        client
            .err(
                ErrorKind::Transient,
                format!("cannot connect to {addr} (TCP): {e}"),
            )
            .unchanged()
    })
}

async fn write_frame(
    client: &Client,
    s: &mut TcpStream,
    bytes: &[u8],
) -> Result<(), ProviderError> {
    let len = u16::try_from(bytes.len()).map_err(|_| {
        client
            .err(ErrorKind::Invalid, "request larger than 65535 octets")
            .unchanged()
    })?;
    let mut frame = Vec::with_capacity(bytes.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(bytes);
    s.write_all(&frame).await.map_err(|e| {
        client
            .err(
                ErrorKind::Transient,
                format!("sending to {}: {e}", client.server),
            )
            .unchanged()
    })
}

async fn read_frame(client: &Client, s: &mut TcpStream) -> Result<Vec<u8>, ProviderError> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.map_err(|e| {
        client.err(
            ErrorKind::Transient,
            format!("reading from {}: {e}", client.server),
        )
    })?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body).await.map_err(|e| {
        client.err(
            ErrorKind::Transient,
            format!("reading from {}: {e}", client.server),
        )
    })?;
    Ok(body)
}

/// Maps a response's RCODE to an error, or `None` when the caller should use the answer
/// (NOERROR, and NXDOMAIN for queries: "no such name" is an answer).
pub(crate) fn classify(
    client: &Client,
    resp: &Message,
    op: OpCode,
    what: &str,
) -> Option<ProviderError> {
    let rcode = resp.metadata.response_code;
    let update = op == OpCode::Update;
    let (kind, text) = match rcode {
        ResponseCode::NoError => return None,
        ResponseCode::NXDomain if !update => return None,
        ResponseCode::NXDomain
        | ResponseCode::YXDomain
        | ResponseCode::YXRRSet
        | ResponseCode::NXRRSet => (
            ErrorKind::Conflict,
            format!(
                "{what}: prerequisite failed ({rcode}): the zone changed since it was read \
                 (someone else edited it); nothing was applied, re-read and re-plan"
            ),
        ),
        ResponseCode::NotAuth
        | ResponseCode::BADSIG
        | ResponseCode::BADKEY
        | ResponseCode::BADTIME => (
            ErrorKind::Auth,
            format!(
                "{what}: {KEY_REJECTED} ({rcode}; without TSIG, NOTAUTH can also mean the \
                 server is not authoritative for the zone)"
            ),
        ),
        ResponseCode::Refused => (
            ErrorKind::Auth,
            format!(
                "{what}: REFUSED by {}: the key is not allowed to do this (check BIND \
                 `update-policy`/`allow-transfer`, Knot `acl`, or PowerDNS `dnsupdate`, \
                 `allow-dnsupdate-from`, `TSIG-ALLOW-DNSUPDATE`), or an unsigned request was sent",
                client.server
            ),
        ),
        ResponseCode::ServFail => (
            ErrorKind::Transient,
            format!("{what}: SERVFAIL from {}", client.server),
        ),
        ResponseCode::NotZone => (
            ErrorKind::Invalid,
            format!("{what}: NOTZONE: a name is outside the zone, or the zone is wrong"),
        ),
        ResponseCode::FormErr | ResponseCode::NotImp => (
            ErrorKind::Invalid,
            format!("{what}: the server rejected the request ({rcode})"),
        ),
        other => (
            ErrorKind::Protocol,
            format!("{what}: unexpected response code {other}"),
        ),
    };
    Some(client.err(kind, text).unchanged())
}

/// Answer records of `resp` matching `name` and `rtype` (CNAME chains are not followed: an
/// authoritative server for the zone answers the name itself).
pub(crate) fn answers<'a>(
    resp: &'a Message,
    name: &'a Name,
    rtype: HType,
) -> impl Iterator<Item = &'a Record> {
    resp.answers
        .iter()
        .filter(move |r| r.record_type() == rtype && &r.name == name)
}

/// The SOA serial in an answer (or in the authority section of a negative answer).
pub(crate) fn soa_of(resp: &Message) -> Option<(u32, u32, u32)> {
    resp.answers
        .iter()
        .chain(resp.authorities.iter())
        .find_map(|r| match &r.data {
            RData::SOA(soa) => Some((soa.serial, soa.minimum, r.ttl)),
            _ => None,
        })
}
