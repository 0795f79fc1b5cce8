//! A one-shot DNS query, like `dig +short`, for the demo and the end-to-end tests: they check
//! answers the way a user would, over the wire, not through the provider trait.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

/// The answer to one query: values in presentation format (sorted) and the smallest TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub values: Vec<String>,
    pub ttl: Option<u32>,
}

/// Queries `server` over UDP for `name`/`rtype` (e.g. "A").
pub async fn lookup(server: SocketAddr, name: &str, rtype: &str) -> Result<Answer, String> {
    let rtype = RecordType::from_str(rtype).map_err(|e| e.to_string())?;
    let name = Name::from_str(name).map_err(|e| e.to_string())?;
    let conn = UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(Duration::from_secs(2)))
        .build();
    let (mut client, bg) = Client::<TokioRuntimeProvider>::from_sender(conn);
    let bg = tokio::spawn(async move {
        let _ = bg.await;
    });
    let resp = tokio::time::timeout(
        Duration::from_secs(3),
        client.query(name, DNSClass::IN, rtype),
    )
    .await;
    bg.abort();
    let msg = resp
        .map_err(|_| "DNS query timed out".to_string())?
        .map_err(|e| e.to_string())?
        .into_message();
    let mut values: Vec<String> = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            RData::CNAME(c) => Some(c.0.to_string()),
            _ => None,
        })
        .collect();
    values.sort();
    let ttl = msg.answers.iter().map(|r| r.ttl).min();
    Ok(Answer { values, ttl })
}
