//! [`Rfc2136Provider`]: the [`Provider`] implementation on top of the request builders, the
//! TSIG transport and the propagation check.
//!
//! Sits at **provider** in probe -> health -> policy -> plan -> **provider** -> verify. Reads go
//! to the primary over TCP (a query per name, AXFR for the whole zone); a change set becomes
//! one UPDATE whose prerequisites make a concurrent edit by someone else fail the whole
//! message (`Conflict`, nothing applied) instead of being overwritten.
//!
//! RFC 2136 ignores TTLs when comparing prerequisite RRsets, so before sending, every
//! `Update`/`Delete` whose old values still match is checked for its old TTL by a query; a
//! TTL changed by someone else is reported as a conflict too. A TTL edit that races in
//! between that read and the UPDATE (milliseconds) is the one change not detected.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dnsfailback_provider::{
    ApplyReceipt, Capabilities, Change, ChangeSet, ErrorKind, Fqdn, Provider, ProviderError,
    RecordSet, RecordType, Soa, SyncStatus,
};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, TSigner};

use crate::client::{answers, soa_of, Client};
use crate::config::{Algorithm, Config};
use crate::propagation::{self, Expectation, PropagationReport};
use crate::request::{build_query, build_update, sets_from_records, to_htype, to_name};

/// How many applied changes are remembered for `sync_status`/`wait_propagation`.
const REMEMBERED: usize = 64;

/// An RFC 2136 provider instance: one primary server, one TSIG key. Cheap to share behind an
/// `Arc`; every method is safe to call concurrently.
pub struct Rfc2136Provider {
    name: String,
    config: Config,
    client: Client,
    applied: Mutex<VecDeque<(String, Expectation)>>,
    /// Held while an UPDATE is in flight, by a task that outlives a cancelled `apply`; reads
    /// wait for it, so a read after a dropped `apply` sees that update's outcome.
    inflight: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Rfc2136Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rfc2136Provider")
            .field("name", &self.name)
            .field("server", &self.config.server)
            .field("key_name", &self.config.key_name)
            .field("algorithm", &self.config.algorithm)
            .field("secret", &"<redacted>")
            .field("insecure", &self.config.insecure)
            .finish()
    }
}

impl Rfc2136Provider {
    /// Builds the instance named `instance_name` (used as the prefix of every error) and loads
    /// its TSIG secret. Fails on a missing or unreadable key unless `insecure = true`.
    pub fn new(instance_name: &str, config: Config) -> Result<Self, ProviderError> {
        let invalid =
            |m: String| ProviderError::new(instance_name, ErrorKind::Invalid, m).unchanged();
        let signer = match (&config.key_name, &config.secret, config.insecure) {
            (None, None, true) => {
                tracing::warn!(
                    provider = instance_name,
                    server = %config.server,
                    "INSECURE: sending UNSIGNED dynamic updates (insecure = true); anyone who can \
                     send packets from this host's address may change the zone. Configure a TSIG key."
                );
                None
            }
            (_, _, true) => {
                return Err(invalid(
                    "`insecure = true` together with `key_name`/`secret`: remove one; with a key \
                     the updates are signed and `insecure` must be false"
                        .into(),
                ))
            }
            (Some(key_name), Some(source), false) => {
                let secret = source
                    .load()
                    .map_err(|e| invalid(format!("TSIG secret for key {key_name}: {e}")))?;
                let bytes = dnsfailback_provider::tsig_key_bytes(secret.expose())
                    .map_err(|e| invalid(format!("key {key_name}: {e}")))?;
                let name = Name::from_ascii(key_name).map_err(|e| {
                    invalid(format!("key_name `{key_name}` is not a DNS name: {e}"))
                })?;
                let alg = match config.algorithm {
                    Algorithm::HmacSha256 => TsigAlgorithm::HmacSha256,
                    Algorithm::HmacSha512 => TsigAlgorithm::HmacSha512,
                };
                Some(
                    TSigner::new(bytes, alg, name, 300)
                        .map_err(|e| invalid(format!("key {key_name}: {e}")))?,
                )
            }
            _ => {
                return Err(invalid(
                    "a TSIG key is required: set `key_name` and `secret = { file = \"...\" }` (or \
                     `{ env = \"...\" }`); unsigned updates need an explicit `insecure = true`"
                        .into(),
                ))
            }
        };
        let client = Client {
            instance: instance_name.to_string(),
            server: config.server,
            signer,
            timeout: config.timeout,
            retries: config.retries,
            stats: Default::default(),
        };
        Ok(Rfc2136Provider {
            name: instance_name.to_string(),
            config,
            client,
            applied: Mutex::new(VecDeque::new()),
            inflight: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    fn err(&self, kind: ErrorKind, msg: impl Into<String>) -> ProviderError {
        ProviderError::new(&self.name, kind, msg)
    }

    fn name_of(&self, f: &Fqdn) -> Result<Name, ProviderError> {
        to_name(f).map_err(|e| self.err(ErrorKind::Invalid, e).unchanged())
    }

    /// Reads one RRset from the primary; `None` when absent.
    async fn read_plain(
        &self,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Option<RecordSet>, ProviderError> {
        let qname = self.name_of(name)?;
        let htype = to_htype(rtype);
        drop(self.inflight.lock().await);
        let resp = self
            .client
            .exchange(&build_query(&qname, htype), &format!("read {name} {rtype}"))
            .await?;
        if let Some(e) = crate::client::classify(&self.client, &resp, resp.metadata.op_code, "read")
        {
            return Err(e);
        }
        Ok(sets_from_records(answers(&resp, &qname, htype))
            .into_iter()
            .next())
    }

    fn remember(&self, id: String, exp: Expectation) {
        let mut g = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        g.push_back((id, exp));
        while g.len() > REMEMBERED {
            g.pop_front();
        }
    }

    fn expectation(&self, receipt: &ApplyReceipt) -> Result<Expectation, ProviderError> {
        let id = receipt.change_id.as_deref().unwrap_or_default();
        let g = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, e)) = g.iter().rev().find(|(i, _)| i == id) {
            return Ok(e.clone());
        }
        // Not remembered (restart): check the serial only, parsed from "zone@serial".
        let (zone, serial) = id
            .rsplit_once('@')
            .ok_or_else(|| self.err(ErrorKind::Invalid, format!("unknown change id `{id}`")))?;
        Ok(Expectation {
            zone: Fqdn::new(zone).map_err(|e| self.err(ErrorKind::Invalid, e))?,
            serial: serial
                .parse()
                .map_err(|_| self.err(ErrorKind::Invalid, format!("bad change id `{id}`")))?,
            sets: Vec::new(),
            applied_at: tokio::time::Instant::now(),
        })
    }

    /// Waits until every authoritative server serves the change behind `receipt` (new SOA
    /// serial and answers) or `propagation_timeout` passes, and reports each server's time.
    /// A deadline passed is not an error: the report says `in_sync: false` and which server
    /// lags and why.
    pub async fn wait_propagation(
        &self,
        receipt: &ApplyReceipt,
    ) -> Result<PropagationReport, ProviderError> {
        let exp = self.expectation(receipt)?;
        let servers = propagation::servers(
            &self.client,
            &self.config.propagation_servers,
            self.config.propagation_port,
            &exp.zone,
        )
        .await?;
        let report = propagation::wait(
            &self.client,
            &servers,
            &exp,
            self.config.propagation_timeout,
        )
        .await;
        if report.in_sync {
            tracing::info!(provider = %self.name, zone = %report.zone, serial = report.serial,
                total_ms = report.total.as_millis() as u64, "change served by all {} server(s)", report.servers.len());
        } else {
            for s in report.servers.iter().filter(|s| s.elapsed.is_none()) {
                tracing::warn!(provider = %self.name, server = %s.server,
                    problem = s.last_problem.as_deref().unwrap_or("-"), "server not in sync after {:?}", report.total);
            }
        }
        Ok(report)
    }
}

#[async_trait]
impl Provider for Rfc2136Provider {
    fn name(&self) -> &str {
        &self.name
    }

    fn call_stats(&self) -> Option<Arc<dnsfailback_provider::CallStats>> {
        Some(self.client.stats.clone())
    }

    fn capabilities(&self) -> Capabilities {
        <Self as dnsfailback_provider::Adapter>::CAPABILITIES
    }

    async fn read(
        &self,
        zone: &Fqdn,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Vec<RecordSet>, ProviderError> {
        if !name.is_in_zone(zone) {
            return Err(self
                .err(ErrorKind::Invalid, format!("{name} is outside zone {zone}"))
                .unchanged());
        }
        Ok(self.read_plain(name, rtype).await?.into_iter().collect())
    }

    async fn read_zone(&self, zone: &Fqdn) -> Result<Vec<RecordSet>, ProviderError> {
        drop(self.inflight.lock().await);
        let records = self.client.axfr(&self.name_of(zone)?).await?;
        Ok(sets_from_records(records.iter()))
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        if let Some(c) = changes.changes.iter().find(|c| c.key().set_id.is_some()) {
            return Err(self
                .err(
                    ErrorKind::Unsupported,
                    format!(
                        "{}: weighted record sets cannot be expressed with RFC 2136 (capability \
                         `weighted` is false); express splits by record-set membership",
                        c.key()
                    ),
                )
                .unchanged());
        }
        changes.validate(&self.capabilities()).map_err(|problems| {
            self.err(
                ErrorKind::Invalid,
                format!("invalid change set: {}", problems.join("; ")),
            )
            .unchanged()
        })?;
        if changes.is_empty() {
            return Ok(ApplyReceipt::default());
        }
        // TTL guard (see module docs): values are checked by the UPDATE's prerequisites.
        for change in &changes.changes {
            if let Change::Update { old, .. } | Change::Delete { old } = change {
                if let Some(cur) = self.read_plain(&old.name, old.rtype).await? {
                    let same_values = RecordSet {
                        ttl: old.ttl,
                        ..cur.clone()
                    }
                    .same_answer(old);
                    if same_values && cur.ttl != old.ttl {
                        return Err(self
                            .err(
                                ErrorKind::Conflict,
                                format!(
                                    "{}: TTL is {} but the plan expected {}: the zone changed since \
                                     it was read; nothing was applied, re-read and re-plan",
                                    old.key(),
                                    cur.ttl,
                                    old.ttl
                                ),
                            )
                            .unchanged());
                    }
                }
            }
        }
        let msg = build_update(changes).map_err(|e| self.err(ErrorKind::Invalid, e).unchanged())?;
        let what = format!("update of zone {}", changes.zone);
        // The exchange runs in its own task holding `inflight`: if this future is dropped
        // (cancelled) after the UPDATE left, the task still reads the answer, and later reads
        // wait for it instead of racing a server that applies the update a moment later.
        let guard = self.inflight.clone().lock_owned().await;
        let (client, task_msg, task_what) = (self.client.clone(), msg.clone(), what.clone());
        let task = tokio::spawn(async move {
            let r = client.exchange(&task_msg, &task_what).await;
            drop(guard);
            r
        });
        let resp = task.await.map_err(|e| {
            self.err(
                ErrorKind::Transient,
                format!("{what}: the update task failed: {e}; re-read before trusting the zone"),
            )
        })??;
        if let Some(e) = crate::client::classify(&self.client, &resp, msg.metadata.op_code, &what) {
            return Err(e);
        }
        let applied_at = tokio::time::Instant::now();
        tracing::info!(provider = %self.name, zone = %changes.zone, changes = changes.changes.len(), "UPDATE applied");
        let serial = match self.soa(&changes.zone).await {
            Ok(Some(soa)) => soa.serial,
            Ok(None) | Err(_) => 0,
        };
        let id = format!("{}@{serial}", changes.zone);
        let sets = changes
            .changes
            .iter()
            .map(|c| {
                let k = c.key();
                (k.name, k.rtype, c.after().cloned())
            })
            .collect();
        self.remember(
            id.clone(),
            Expectation {
                zone: changes.zone.clone(),
                serial,
                sets,
                applied_at,
            },
        );
        Ok(ApplyReceipt {
            change_id: Some(id),
        })
    }

    /// One round of checks over every authoritative server: `InSync` when all serve the new
    /// serial and answers. Unreachable servers count as pending.
    async fn sync_status(&self, receipt: &ApplyReceipt) -> Result<SyncStatus, ProviderError> {
        if receipt.change_id.is_none() {
            return Ok(SyncStatus::InSync);
        }
        let exp = self.expectation(receipt)?;
        let servers = propagation::servers(
            &self.client,
            &self.config.propagation_servers,
            self.config.propagation_port,
            &exp.zone,
        )
        .await?;
        for s in servers {
            if propagation::check_server(&self.client, s, &exp)
                .await
                .is_err()
            {
                return Ok(SyncStatus::Pending);
            }
        }
        Ok(SyncStatus::InSync)
    }

    async fn soa(&self, zone: &Fqdn) -> Result<Option<Soa>, ProviderError> {
        let zname = self.name_of(zone)?;
        drop(self.inflight.lock().await);
        let resp = self
            .client
            .exchange(
                &build_query(&zname, hickory_proto::rr::RecordType::SOA),
                &format!("SOA of {zone}"),
            )
            .await?;
        if let Some(e) = crate::client::classify(&self.client, &resp, resp.metadata.op_code, "SOA")
        {
            return Err(e);
        }
        if resp.metadata.response_code == ResponseCode::NXDomain {
            return Err(self.err(
                ErrorKind::NotFound,
                format!("zone {zone} does not exist on {}", self.config.server),
            ));
        }
        Ok(soa_of(&resp).map(|(serial, minimum, ttl)| Soa {
            serial,
            minimum,
            ttl,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_from_bare_base64_or_bind_key_file() {
        assert_eq!(
            dnsfailback_provider::tsig_key_bytes("aGVsbG8="),
            Ok(b"hello".to_vec())
        );
        let file = "key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"aGVsbG8=\";\n};\n";
        assert_eq!(
            dnsfailback_provider::tsig_key_bytes(file),
            Ok(b"hello".to_vec())
        );
        let e = dnsfailback_provider::tsig_key_bytes("not base64 !!! hunter2")
            .err()
            .unwrap_or_default();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn key_required_unless_insecure() {
        let cfg = Config::new("127.0.0.1:53".parse().unwrap_or_else(|e| panic!("{e}")));
        let e = Rfc2136Provider::new("ns", cfg.clone()).err();
        assert!(
            e.as_ref()
                .is_some_and(|e| e.to_string().starts_with("ns: a TSIG key is required")),
            "{e:?}"
        );
        let insecure = Config {
            insecure: true,
            ..cfg
        };
        assert!(Rfc2136Provider::new("ns", insecure).is_ok());
    }
}
