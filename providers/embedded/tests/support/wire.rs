//! Raw DNS on the wire for the RFC tests: queries built byte for byte (EDNS on or off, the DO
//! bit), replies read as bytes over UDP or TCP, and two independent strict parsers of those
//! bytes: hickory-proto's (plus a check that nothing follows the counted records, which
//! hickory's `from_vec` does not make) and dnspython's `dns.message.from_wire`, which raises
//! `TrailingJunk` the way `dig` prints "extra bytes at end".
//!
//! dnspython comes from `scripts/install-test-deps.sh` (a venv in
//! `$DNSFAILBACK_PEERS/dnspython-2.9.2`, default `~/.cache/dnsfailback-peers`); without it the
//! tests that use it fail with that fix, they never skip.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long any one exchange may take before the test fails (a bound, not a wait).
const EXCHANGE_LIMIT: Duration = Duration::from_secs(5);

/// The EDNS part of a query: advertised UDP payload and the DO bit.
#[derive(Debug, Clone, Copy)]
pub struct EdnsOpt {
    pub payload: u16,
    pub dnssec_ok: bool,
}

/// A query for `name`/`rtype` without RD, with `edns` when given, as wire bytes.
pub fn query(name: &str, rtype: RecordType, edns: Option<EdnsOpt>) -> Result<Vec<u8>, String> {
    let mut m = Message::query();
    m.metadata.recursion_desired = false;
    m.add_query(Query::query(
        Name::from_str(name).map_err(|e| e.to_string())?,
        rtype,
    ));
    if let Some(o) = edns {
        let mut e = Edns::new();
        e.set_max_payload(o.payload);
        e.set_dnssec_ok(o.dnssec_ok);
        m.set_edns(e);
    }
    m.to_vec().map_err(|e| e.to_string())
}

/// Sends `query` over UDP from a fresh loopback socket and returns the reply's bytes.
pub async fn udp(addr: SocketAddr, query: &[u8]) -> Result<Vec<u8>, String> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    sock.send_to(query, addr).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(EXCHANGE_LIMIT, sock.recv_from(&mut buf))
        .await
        .map_err(|_| "no UDP reply".to_string())?
        .map_err(|e| e.to_string())?;
    buf.truncate(n);
    Ok(buf)
}

/// Sends `query` over a new TCP connection (2-byte length prefix) and returns the reply.
pub async fn tcp(addr: SocketAddr, query: &[u8]) -> Result<Vec<u8>, String> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let len = u16::try_from(query.len()).unwrap_or(u16::MAX);
        s.write_all(&len.to_be_bytes()).await?;
        s.write_all(query).await?;
        let n = s.read_u16().await?;
        let mut buf = vec![0u8; usize::from(n)];
        s.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    tokio::time::timeout(EXCHANGE_LIMIT, exchange)
        .await
        .map_err(|_| "no TCP reply".to_string())?
        .map_err(|e| e.to_string())
}

/// hickory-proto's parse of `bytes`, refusing bytes after the last counted record.
pub fn parse_strict(bytes: &[u8]) -> Result<Message, String> {
    let mut d = BinDecoder::new(bytes);
    let m = Message::read(&mut d).map_err(|e| format!("hickory cannot parse the reply: {e}"))?;
    if !d.is_empty() {
        return Err(format!(
            "{} extra bytes at end of a {}-byte reply",
            d.len(),
            bytes.len()
        ));
    }
    Ok(m)
}

/// The dnspython interpreter installed by `scripts/install-test-deps.sh`; panics with the fix
/// when it is missing (the RFC tests must run, in CI and everywhere else).
pub fn dnspython() -> PathBuf {
    let peers = std::env::var_os("DNSFAILBACK_PEERS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/dnsfailback-peers"))
        })
        .unwrap_or_else(|| PathBuf::from(".cache/dnsfailback-peers"));
    let python = peers.join("dnspython-2.9.2/bin/python");
    assert!(
        python.exists(),
        "dnspython 2.9.2 is not installed at {}: run scripts/install-test-deps.sh (pip install \
         dnspython==2.9.2 into a venv there) or set DNSFAILBACK_PEERS",
        python.display()
    );
    python
}

/// Reads each reply with dnspython's strict `dns.message.from_wire` and returns one JSON
/// object per reply: `{"tc", "rcode", "do", "edns", "answer", "authority", "additional"}`
/// (sections as lists of `[name, type, rdata]`), or `{"error": "<exception>"}`.
const DNSPYTHON_SCRIPT: &str = r#"
import json, sys
import dns.flags, dns.message, dns.rcode, dns.rdatatype
out = []
for hexed in json.load(sys.stdin):
    try:
        m = dns.message.from_wire(bytes.fromhex(hexed))
    except Exception as e:
        out.append({"error": type(e).__name__ + ": " + str(e)})
        continue
    def rows(section):
        return [[str(r.name), dns.rdatatype.to_text(r.rdtype), rd.to_text()]
                for r in section for rd in r]
    out.append({
        "tc": bool(m.flags & dns.flags.TC),
        "aa": bool(m.flags & dns.flags.AA),
        "rcode": dns.rcode.to_text(m.rcode()),
        "edns": m.edns,
        "do": bool(m.ednsflags & dns.flags.DO),
        "payload": m.payload,
        "answer": rows(m.answer),
        "authority": rows(m.authority),
        "additional": rows(m.additional),
    })
json.dump(out, sys.stdout)
"#;

/// dnspython's reading of each of `replies` (see [`DNSPYTHON_SCRIPT`]), in one process.
pub fn dnspython_parse(replies: &[Vec<u8>]) -> Result<Vec<Value>, String> {
    let hexed: Vec<String> = replies
        .iter()
        .map(|r| r.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let input = serde_json::to_vec(&hexed).map_err(|e| e.to_string())?;
    let mut child = Command::new(dnspython())
        .arg("-c")
        .arg(DNSPYTHON_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start dnspython: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&input).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "dnspython failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("dnspython output: {e}"))
}

/// dnspython's reading of one reply; an exception (such as `TrailingJunk`) is an error.
pub fn dnspython_one(reply: &[u8]) -> Result<Value, String> {
    let mut all = dnspython_parse(&[reply.to_vec()])?;
    let v = all.pop().ok_or("dnspython returned nothing")?;
    match v.get("error") {
        Some(e) => Err(format!("dnspython: {e}")),
        None => Ok(v),
    }
}

/// The `[name, type, rdata]` rows of `section` in a dnspython result, as `"type rdata"`.
pub fn rows(v: &Value, section: &str) -> Vec<String> {
    v.get(section)
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .filter_map(Value::as_array)
                .map(|r| {
                    let text: Vec<&str> = r.iter().skip(1).filter_map(Value::as_str).collect();
                    text.join(" ")
                })
                .collect()
        })
        .unwrap_or_default()
}
