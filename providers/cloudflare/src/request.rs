//! Pure translation between dnsfailback's record sets and Cloudflare's JSON.
//!
//! Sits inside the provider step of the flow (plan -> **provider** -> verify): `provider.rs`
//! reads the records a change set touches, this module turns the change set plus what was read
//! into one batch body (`deletes`, `patches`, `posts`), and turns Cloudflare's answers back
//! into [`RecordSet`]s and classified errors. Nothing here does I/O, so every request shape
//! is unit-tested offline and checked against Cloudflare's OpenAPI schema in `tests/`.
//!
//! # Mapping
//!
//! * One [`RecordSet`] with several values is several Cloudflare records (one per value) with
//!   the same name and type. Reading groups them back; the set's TTL is the smallest of the
//!   group's TTLs.
//! * TTL `1` is Cloudflare's "automatic" (300 s today). It is read as `ttl = 300` with
//!   `meta["ttl"] = "auto"`, so validation against `min_ttl` passes and a plan that copies the
//!   old set's `meta` restores "automatic" when it restores TTL 300. Any other TTL is written
//!   as given.
//! * `proxied` is kept as `meta["proxied"]` (`"true"`, `"false"`, or `"mixed"` when the
//!   records of one set disagree) and written back only where the planner set it; `"mixed"`
//!   or absent leaves each record's flag as it is.
//! * Cloudflare record ids are not stored in `meta`: `apply` re-reads the records right before
//!   it writes, both to check `old` and to learn the ids.
//! * Updates prefer PATCH over delete + create, so a record's id, comment and tags survive a
//!   failover.

use std::collections::BTreeMap;

use dnsfailback_provider::{Change, ChangeSet, ErrorKind, Fqdn, RecordSet, RecordType};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// What Cloudflare's "automatic" TTL (`ttl: 1`) currently means, in seconds.
pub const AUTO_TTL_SECONDS: u32 = 300;

/// `meta` key holding `"auto"` when Cloudflare reported TTL 1 (automatic).
pub const META_TTL: &str = "ttl";

/// `meta` key holding Cloudflare's `proxied` flag of the set's records.
pub const META_PROXIED: &str = "proxied";

/// One DNS record as Cloudflare returns it; only the fields the adapter needs.
///
/// Public so tests and tools can inspect what the API returned without re-parsing JSON.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CfRecord {
    /// Cloudflare's record id, needed for PATCH, PUT and DELETE.
    pub id: String,
    /// Record type mnemonic (`A`, `AAAA`, `CNAME`, ...; also types dnsfailback ignores).
    #[serde(rename = "type")]
    pub rtype: String,
    /// Fully-qualified name without the trailing dot.
    pub name: String,
    /// The value; for MX the host only, for SRV a read-only summary (see `data`).
    #[serde(default)]
    pub content: Option<String>,
    /// TTL in seconds, `1` meaning automatic.
    #[serde(default)]
    pub ttl: Option<f64>,
    /// Whether Cloudflare proxies traffic for this record (A, AAAA, CNAME only).
    #[serde(default)]
    pub proxied: Option<bool>,
    /// MX (and URI) priority.
    #[serde(default)]
    pub priority: Option<f64>,
    /// Structured value of SRV (and other complex) records.
    #[serde(default)]
    pub data: Option<Value>,
}

/// One entry of Cloudflare's `errors` (or `messages`) array.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiMessage {
    /// Cloudflare's error code (>= 1000), e.g. 81057 "Record already exists."
    #[serde(default)]
    pub code: i64,
    /// Human-readable text from Cloudflare.
    #[serde(default)]
    pub message: String,
}

/// Pagination block of list answers.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ResultInfo {
    /// Page number of this answer (1-based).
    #[serde(default)]
    pub page: Option<f64>,
    /// Page size used.
    #[serde(default)]
    pub per_page: Option<f64>,
    /// Items on this page.
    #[serde(default)]
    pub count: Option<f64>,
    /// Items across all pages.
    #[serde(default)]
    pub total_count: Option<f64>,
    /// Number of pages (present on the live API, absent from the 2024 schema).
    #[serde(default)]
    pub total_pages: Option<f64>,
}

/// The envelope around every Cloudflare v4 answer, with `result` still as JSON.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    /// `false` when the call failed. Some 2xx answers leave it out (the schema's DELETE
    /// answer is only `{"result":{"id":…}}`), so a missing flag on a 2xx means success.
    #[serde(default)]
    pub success: Option<bool>,
    /// Why the call failed (empty on success).
    #[serde(default)]
    pub errors: Vec<ApiMessage>,
    /// The payload: an object, a list or null.
    #[serde(default)]
    pub result: Value,
    /// Pagination, on list answers.
    #[serde(default)]
    pub result_info: Option<ResultInfo>,
}

/// Parses an answer body into its envelope; the error explains what was wrong.
pub fn parse_envelope(body: &str) -> Result<Envelope, String> {
    serde_json::from_str(body).map_err(|e| {
        format!(
            "answer is not a Cloudflare JSON envelope ({e}); body starts with `{}`",
            snippet(body)
        )
    })
}

/// The first 200 characters of a body, for error messages.
pub fn snippet(body: &str) -> String {
    let mut s: String = body.chars().take(200).collect();
    if body.chars().count() > 200 {
        s.push('…');
    }
    s
}

/// Decodes `result` as a list of records.
pub fn parse_records(result: &Value) -> Result<Vec<CfRecord>, String> {
    serde_json::from_value(result.clone())
        .map_err(|e| format!("`result` is not a list of DNS records: {e}"))
}

/// Decodes `result` as one record.
pub fn parse_record(result: &Value) -> Result<CfRecord, String> {
    serde_json::from_value(result.clone()).map_err(|e| format!("`result` is not a DNS record: {e}"))
}

/// Decodes the zone list of `GET /zones?name=`: `(id, name)` pairs.
pub fn parse_zones(result: &Value) -> Result<Vec<(String, String)>, String> {
    #[derive(Deserialize)]
    struct Zone {
        id: String,
        name: String,
    }
    let zones: Vec<Zone> = serde_json::from_value(result.clone())
        .map_err(|e| format!("`result` is not a list of zones: {e}"))?;
    Ok(zones.into_iter().map(|z| (z.id, z.name)).collect())
}

/// Decodes the zone of `GET /zones/{id}`: its name.
pub fn parse_zone_name(result: &Value) -> Result<String, String> {
    result
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| "`result` has no zone `name`".to_string())
}

/// Maps Cloudflare's TTL to dnsfailback's: `(seconds, automatic)`.
pub fn ttl_from_cf(ttl: Option<f64>) -> (u32, bool) {
    match ttl {
        None => (AUTO_TTL_SECONDS, true),
        Some(t) if t <= 1.0 => (AUTO_TTL_SECONDS, true),
        Some(t) if t >= f64::from(u32::MAX) => (u32::MAX, false),
        // Truncation is intended: TTLs are whole seconds.
        Some(t) => (t as u32, false),
    }
}

/// The TTL to send for `set`: `1` (automatic) when the set was read as automatic and still
/// has the automatic TTL, else its explicit TTL.
pub fn ttl_to_cf(set: &RecordSet) -> u32 {
    let auto = set.meta.get(META_TTL).map(String::as_str) == Some("auto");
    if auto && set.ttl == AUTO_TTL_SECONDS {
        1
    } else {
        set.ttl
    }
}

/// Whether a record type carries Cloudflare's `proxied` flag.
fn proxiable_type(rtype: RecordType) -> bool {
    matches!(rtype, RecordType::A | RecordType::Aaaa | RecordType::Cname)
}

/// The `proxied` flag the planner asked for, if it asked for a definite one.
fn wanted_proxied(set: &RecordSet) -> Option<bool> {
    if !proxiable_type(set.rtype) {
        return None;
    }
    match set.meta.get(META_PROXIED).map(String::as_str) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

fn num_u16(v: Option<&Value>, what: &str) -> Result<u16, String> {
    v.and_then(Value::as_f64)
        .filter(|n| (0.0..=65535.0).contains(n) && n.fract() == 0.0)
        .map(|n| n as u16)
        .ok_or_else(|| format!("SRV `data.{what}` is missing or not a number 0-65535"))
}

/// The record's value in dnsfailback's presentation format, normalised.
pub fn value_from_cf(rtype: RecordType, r: &CfRecord) -> Result<String, String> {
    let content = || {
        r.content
            .as_deref()
            .ok_or_else(|| format!("record {} ({} {}) has no `content`", r.id, r.name, r.rtype))
    };
    let raw = match rtype {
        RecordType::A | RecordType::Aaaa | RecordType::Cname | RecordType::Txt => {
            content()?.to_string()
        }
        RecordType::Mx => {
            let prio = r.priority.unwrap_or(0.0);
            format!("{prio} {}", content()?)
        }
        RecordType::Srv => match &r.data {
            Some(d) if d.get("target").is_some() => {
                let target = d.get("target").and_then(Value::as_str).unwrap_or_default();
                format!(
                    "{} {} {} {}",
                    num_u16(d.get("priority"), "priority")?,
                    num_u16(d.get("weight"), "weight")?,
                    num_u16(d.get("port"), "port")?,
                    target
                )
            }
            _ => match r.priority {
                Some(p) => format!("{p} {}", content()?),
                None => content()?.to_string(),
            },
        },
    };
    rtype
        .normalize_value(&raw)
        .map_err(|e| format!("record {} ({} {}): {e}", r.id, r.name, r.rtype))
}

/// The value fields of one record body (`content`, `priority`, `data`) for a normalised value.
pub fn value_fields(rtype: RecordType, value: &str) -> Result<Map<String, Value>, String> {
    let value = rtype.normalize_value(value)?;
    let mut m = Map::new();
    let host = |h: &str| h.strip_suffix('.').unwrap_or(h).to_string();
    match rtype {
        RecordType::A | RecordType::Aaaa | RecordType::Txt => {
            m.insert("content".into(), json!(value));
        }
        RecordType::Cname => {
            m.insert("content".into(), json!(host(&value)));
        }
        RecordType::Mx => {
            let (pref, h) = value
                .split_once(' ')
                .ok_or_else(|| format!("`{value}` is not `PREFERENCE HOST`"))?;
            let pref: u16 = pref
                .parse()
                .map_err(|_| format!("bad MX preference in `{value}`"))?;
            m.insert("content".into(), json!(host(h)));
            m.insert("priority".into(), json!(pref));
        }
        RecordType::Srv => {
            let parts: Vec<&str> = value.split(' ').collect();
            let [prio, weight, port, target] = parts.as_slice() else {
                return Err(format!("`{value}` is not `PRIORITY WEIGHT PORT TARGET`"));
            };
            let n = |s: &str| {
                s.parse::<u16>()
                    .map_err(|_| format!("bad number in `{value}`"))
            };
            m.insert(
                "data".into(),
                json!({
                    "priority": n(prio)?,
                    "weight": n(weight)?,
                    "port": n(port)?,
                    "target": host(target),
                }),
            );
        }
    }
    Ok(m)
}

/// Full body of a create (POST) or overwrite (PUT) for one value of `set`.
pub fn record_body(set: &RecordSet, value: &str) -> Result<Map<String, Value>, String> {
    let mut m = Map::new();
    m.insert("type".into(), json!(set.rtype.as_str()));
    m.insert("name".into(), json!(set.name.without_dot()));
    m.extend(value_fields(set.rtype, value).map_err(|e| format!("{}: {e}", set.key()))?);
    m.insert("ttl".into(), json!(ttl_to_cf(set)));
    if let Some(p) = wanted_proxied(set) {
        m.insert("proxied".into(), json!(p));
    }
    Ok(m)
}

/// The current Cloudflare records of one name and type, as a record set.
///
/// Returns `Ok(None)` when there are none.
pub fn group_to_set(
    name: &Fqdn,
    rtype: RecordType,
    records: &[CfRecord],
) -> Result<Option<RecordSet>, String> {
    if records.is_empty() {
        return Ok(None);
    }
    let mut values = Vec::with_capacity(records.len());
    let mut ttl: Option<(u32, bool)> = None;
    let mut proxied: Option<&str> = None;
    for r in records {
        values.push(value_from_cf(rtype, r)?);
        let t = ttl_from_cf(r.ttl);
        ttl = Some(match ttl {
            Some(cur) if cur.0 <= t.0 => cur,
            _ => t,
        });
        let p = if r.proxied == Some(true) {
            "true"
        } else {
            "false"
        };
        proxied = Some(match proxied {
            Some(cur) if cur != p => "mixed",
            Some(cur) => cur,
            None => p,
        });
    }
    let (ttl, auto) = ttl.unwrap_or((AUTO_TTL_SECONDS, true));
    let mut set = RecordSet::new(name.clone(), rtype, ttl, values)
        .normalized()
        .map_err(|e| format!("records of {name} {rtype}: {e}"))?;
    if auto {
        set.meta.insert(META_TTL.into(), "auto".into());
    }
    if proxiable_type(rtype) {
        if let Some(p) = proxied {
            set.meta.insert(META_PROXIED.into(), p.into());
        }
    }
    Ok(Some(set))
}

/// Groups any list of Cloudflare records into record sets, skipping types dnsfailback does
/// not manage (NS, CAA, ...). Errors name the offending record.
pub fn records_to_sets(records: &[CfRecord]) -> Result<Vec<RecordSet>, String> {
    let mut groups: BTreeMap<(Fqdn, RecordType), Vec<CfRecord>> = BTreeMap::new();
    for r in records {
        let Ok(rtype) = r.rtype.parse::<RecordType>() else {
            continue;
        };
        let name = Fqdn::new(&r.name).map_err(|e| format!("record {}: {e}", r.id))?;
        groups.entry((name, rtype)).or_default().push(r.clone());
    }
    let mut sets = Vec::with_capacity(groups.len());
    for ((name, rtype), recs) in &groups {
        if let Some(set) = group_to_set(name, *rtype, recs)? {
            sets.push(set);
        }
    }
    Ok(sets)
}

/// Record operations for one change set, in Cloudflare's batch execution order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchPlan {
    /// Ids of records to delete.
    pub deletes: Vec<String>,
    /// `(id, fields)` of records to change in place.
    pub patches: Vec<(String, Map<String, Value>)>,
    /// Full bodies of records to create.
    pub posts: Vec<Map<String, Value>>,
}

impl BatchPlan {
    /// Number of record operations (what Cloudflare's batch size limit counts).
    pub fn len(&self) -> usize {
        self.deletes.len() + self.patches.len() + self.posts.len()
    }

    /// True when the change set needs no request at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The body of `POST /zones/{zone_id}/dns_records/batch`. Empty lists are left out.
    pub fn to_batch_body(&self) -> Value {
        let mut body = Map::new();
        if !self.deletes.is_empty() {
            let d: Vec<Value> = self.deletes.iter().map(|id| json!({ "id": id })).collect();
            body.insert("deletes".into(), Value::Array(d));
        }
        if !self.patches.is_empty() {
            let p: Vec<Value> = self
                .patches
                .iter()
                .map(|(id, fields)| {
                    let mut m = fields.clone();
                    m.insert("id".into(), json!(id));
                    Value::Object(m)
                })
                .collect();
            body.insert("patches".into(), Value::Array(p));
        }
        if !self.posts.is_empty() {
            let p: Vec<Value> = self.posts.iter().cloned().map(Value::Object).collect();
            body.insert("posts".into(), Value::Array(p));
        }
        Value::Object(body)
    }
}

/// Why a change set could not be turned into requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The zone differs from the change set's `old` sets (or a created set exists).
    Conflict(String),
    /// The change set cannot be expressed (bad value for its type).
    Invalid(String),
}

impl PlanError {
    /// The matching [`ErrorKind`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            PlanError::Conflict(_) => ErrorKind::Conflict,
            PlanError::Invalid(_) => ErrorKind::Invalid,
        }
    }

    /// The explanation.
    pub fn message(&self) -> &str {
        match self {
            PlanError::Conflict(m) | PlanError::Invalid(m) => m,
        }
    }
}

/// The records currently at Cloudflare for each `(name, type)` a change set touches.
pub type Current = BTreeMap<(Fqdn, RecordType), Vec<CfRecord>>;

/// Turns a change set into record operations, checking every `old` against `current` first.
///
/// Fails with [`PlanError::Conflict`] when a created set already exists or an updated or
/// deleted set is not exactly its `old` (values and TTL), so nothing is sent for a stale plan.
pub fn plan_changes(changes: &ChangeSet, current: &Current) -> Result<BatchPlan, PlanError> {
    let mut plan = BatchPlan::default();
    let empty = Vec::new();
    for change in &changes.changes {
        let key = change.key();
        let recs = current
            .get(&(key.name.clone(), key.rtype))
            .unwrap_or(&empty);
        let cur = group_to_set(&key.name, key.rtype, recs).map_err(PlanError::Invalid)?;
        if let Some(old) = change.before() {
            let old = old.clone().normalized().map_err(PlanError::Invalid)?;
            match &cur {
                None => {
                    return Err(PlanError::Conflict(format!(
                        "{key}: expected {old} but it does not exist"
                    )))
                }
                Some(c) if !c.same_answer(&old) => {
                    return Err(PlanError::Conflict(format!(
                        "{key}: expected {old} but found {c}"
                    )))
                }
                Some(_) => {}
            }
        }
        match change {
            Change::Create { new } => {
                if let Some(c) = &cur {
                    return Err(PlanError::Conflict(format!(
                        "{key}: cannot create, it already exists as {c}"
                    )));
                }
                let new = new.clone().normalized().map_err(PlanError::Invalid)?;
                for v in &new.values {
                    plan.posts
                        .push(record_body(&new, v).map_err(PlanError::Invalid)?);
                }
            }
            Change::Delete { .. } => {
                plan.deletes.extend(recs.iter().map(|r| r.id.clone()));
            }
            Change::Update { new, .. } => {
                let new = new.clone().normalized().map_err(PlanError::Invalid)?;
                plan_update(&new, recs, &mut plan).map_err(PlanError::Invalid)?;
            }
        }
    }
    Ok(plan)
}

/// Moves the records `recs` to `new` with as few operations as possible, preferring PATCH.
fn plan_update(new: &RecordSet, recs: &[CfRecord], plan: &mut BatchPlan) -> Result<(), String> {
    let want_ttl = ttl_to_cf(new);
    let want_proxied = wanted_proxied(new);
    let mut missing: Vec<&String> = new.values.iter().collect();
    let mut kept: Vec<&CfRecord> = Vec::new();
    let mut spare: Vec<&CfRecord> = Vec::new();
    for r in recs {
        let v = value_from_cf(new.rtype, r)?;
        match missing.iter().position(|m| **m == v) {
            Some(i) => {
                missing.remove(i);
                kept.push(r);
            }
            None => spare.push(r),
        }
    }
    let extras = |r: &CfRecord, m: &mut Map<String, Value>| {
        if r.ttl.map(|t| t as u32) != Some(want_ttl) {
            m.insert("ttl".into(), json!(want_ttl));
        }
        if let Some(p) = want_proxied {
            if r.proxied.unwrap_or(false) != p {
                m.insert("proxied".into(), json!(p));
            }
        }
    };
    for r in kept {
        let mut m = Map::new();
        extras(r, &mut m);
        if !m.is_empty() {
            plan.patches.push((r.id.clone(), m));
        }
    }
    let mut spare = spare.into_iter();
    let mut posts = Vec::new();
    for v in missing {
        match spare.next() {
            Some(r) => {
                let mut m = value_fields(new.rtype, v)?;
                m.insert("type".into(), json!(new.rtype.as_str()));
                extras(r, &mut m);
                plan.patches.push((r.id.clone(), m));
            }
            None => posts.push(record_body(new, v)?),
        }
    }
    plan.deletes.extend(spare.map(|r| r.id.clone()));
    plan.posts.extend(posts);
    Ok(())
}

/// Cloudflare codes that mean the token or key was rejected.
const AUTH_CODES: [i64; 6] = [6003, 6111, 9103, 9106, 9109, 10000];
/// Cloudflare codes that mean "already exists" / "does not exist": someone else changed the
/// zone between our read and our write.
const CONFLICT_CODES: [i64; 4] = [81044, 81053, 81057, 81058];
/// "More than 1200 requests per 300 seconds reached."
const RATE_LIMIT_CODE: i64 = 10100;

/// Classifies a failed answer by HTTP status and Cloudflare error codes.
pub fn classify(status: u16, errors: &[ApiMessage]) -> ErrorKind {
    let has = |codes: &[i64]| errors.iter().any(|e| codes.contains(&e.code));
    if status == 429 || has(&[RATE_LIMIT_CODE]) {
        ErrorKind::RateLimited
    } else if status >= 500 {
        ErrorKind::Transient
    } else if status == 401 || status == 403 || has(&AUTH_CODES) {
        ErrorKind::Auth
    } else if status == 409 || has(&CONFLICT_CODES) {
        ErrorKind::Conflict
    } else if status == 404 {
        ErrorKind::NotFound
    } else if (400..500).contains(&status) {
        ErrorKind::Invalid
    } else {
        ErrorKind::Protocol
    }
}

/// `Cloudflare error 81057: Record already exists.; error 9005: ...`, or a note that the
/// answer had no error details.
pub fn describe_errors(errors: &[ApiMessage]) -> String {
    if errors.is_empty() {
        return "no error details in the answer".into();
    }
    errors
        .iter()
        .map(|e| format!("Cloudflare error {}: {}", e.code, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Parses `Retry-After` given in seconds (what Cloudflare sends). HTTP dates are not
/// supported and yield `None`, so the caller falls back to exponential back-off.
pub fn parse_retry_after(value: &str) -> Option<std::time::Duration> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .map(std::time::Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fq(s: &str) -> Fqdn {
        Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn rec(id: &str, t: &str, name: &str, content: &str, ttl: f64) -> CfRecord {
        CfRecord {
            id: id.into(),
            rtype: t.into(),
            name: name.into(),
            content: Some(content.into()),
            ttl: Some(ttl),
            proxied: Some(false),
            priority: None,
            data: None,
        }
    }

    fn current(recs: Vec<CfRecord>) -> Current {
        let mut c = Current::new();
        for r in recs {
            let k = (fq(&r.name), r.rtype.parse().unwrap_or(RecordType::Txt));
            c.entry(k).or_default().push(r);
        }
        c
    }

    fn cs(changes: Vec<Change>) -> ChangeSet {
        ChangeSet {
            zone: fq("example.com"),
            changes,
        }
    }

    fn a(ttl: u32, values: &[&str]) -> RecordSet {
        RecordSet::new(
            fq("www.example.com"),
            RecordType::A,
            ttl,
            values.iter().map(|v| v.to_string()).collect(),
        )
    }

    #[test]
    fn create_becomes_one_post_per_value() -> Result<(), String> {
        let plan = plan_changes(
            &cs(vec![Change::Create {
                new: a(60, &["192.0.2.2", "192.0.2.1"]),
            }]),
            &Current::new(),
        )
        .map_err(|e| e.message().to_string())?;
        assert_eq!(
            plan.to_batch_body(),
            json!({"posts": [
                {"type": "A", "name": "www.example.com", "content": "192.0.2.1", "ttl": 60},
                {"type": "A", "name": "www.example.com", "content": "192.0.2.2", "ttl": 60},
            ]})
        );
        Ok(())
    }

    #[test]
    fn update_patches_in_place_and_keeps_ids() -> Result<(), String> {
        let cur = current(vec![
            rec("r1", "A", "www.example.com", "192.0.2.1", 300.0),
            rec("r2", "A", "www.example.com", "192.0.2.2", 300.0),
        ]);
        let change = Change::Update {
            old: a(300, &["192.0.2.1", "192.0.2.2"]),
            new: a(60, &["192.0.2.2", "198.51.100.7", "198.51.100.8"]),
        };
        let plan = plan_changes(&cs(vec![change]), &cur).map_err(|e| e.message().to_string())?;
        assert_eq!(
            plan.to_batch_body(),
            json!({
                "patches": [
                    {"id": "r2", "ttl": 60},
                    {"id": "r1", "type": "A", "content": "198.51.100.7", "ttl": 60},
                ],
                "posts": [
                    {"type": "A", "name": "www.example.com", "content": "198.51.100.8", "ttl": 60},
                ],
            })
        );
        Ok(())
    }

    #[test]
    fn shrinking_a_set_deletes_the_spare_records() -> Result<(), String> {
        let cur = current(vec![
            rec("r1", "A", "www.example.com", "192.0.2.1", 60.0),
            rec("r2", "A", "www.example.com", "192.0.2.2", 60.0),
        ]);
        let change = Change::Update {
            old: a(60, &["192.0.2.1", "192.0.2.2"]),
            new: a(60, &["192.0.2.2"]),
        };
        let plan = plan_changes(&cs(vec![change]), &cur).map_err(|e| e.message().to_string())?;
        assert_eq!(plan.to_batch_body(), json!({"deletes": [{"id": "r1"}]}));
        Ok(())
    }

    #[test]
    fn stale_old_and_existing_create_are_conflicts() {
        let cur = current(vec![rec("r1", "A", "www.example.com", "192.0.2.9", 60.0)]);
        let stale = Change::Update {
            old: a(60, &["192.0.2.1"]),
            new: a(60, &["192.0.2.2"]),
        };
        let err = plan_changes(&cs(vec![stale]), &cur).err();
        assert!(
            matches!(err, Some(PlanError::Conflict(ref m)) if m.contains("found")),
            "{err:?}"
        );
        let dup = Change::Create {
            new: a(60, &["192.0.2.1"]),
        };
        let err = plan_changes(&cs(vec![dup]), &cur).err();
        assert!(matches!(err, Some(PlanError::Conflict(ref m)) if m.contains("already exists")));
        let gone = Change::Delete {
            old: a(60, &["192.0.2.1"]),
        };
        let err = plan_changes(&cs(vec![gone]), &Current::new()).err();
        assert!(matches!(err, Some(PlanError::Conflict(ref m)) if m.contains("does not exist")));
    }

    #[test]
    fn delete_removes_every_record_of_the_set() -> Result<(), String> {
        let cur = current(vec![
            rec("r1", "A", "www.example.com", "192.0.2.1", 60.0),
            rec("r2", "A", "www.example.com", "192.0.2.2", 60.0),
        ]);
        let change = Change::Delete {
            old: a(60, &["192.0.2.2", "192.0.2.1"]),
        };
        let plan = plan_changes(&cs(vec![change]), &cur).map_err(|e| e.message().to_string())?;
        assert_eq!(plan.deletes, vec!["r1".to_string(), "r2".to_string()]);
        Ok(())
    }

    #[test]
    fn auto_ttl_reads_as_300_and_is_written_back_as_1() -> Result<(), String> {
        let mut r = rec("r1", "A", "www.example.com", "192.0.2.1", 1.0);
        r.proxied = Some(true);
        let set =
            group_to_set(&fq("www.example.com"), RecordType::A, &[r.clone()])?.ok_or("no set")?;
        assert_eq!(set.ttl, AUTO_TTL_SECONDS);
        assert_eq!(set.meta.get(META_TTL).map(String::as_str), Some("auto"));
        assert_eq!(set.meta.get(META_PROXIED).map(String::as_str), Some("true"));
        assert_eq!(ttl_to_cf(&set), 1);
        // The planner lowers the TTL for a failover: an explicit TTL is written.
        let mut low = set.clone();
        low.ttl = 60;
        low.values = vec!["198.51.100.1".into()];
        assert_eq!(ttl_to_cf(&low), 60);
        let plan = plan_changes(
            &cs(vec![Change::Update {
                old: set.clone(),
                new: low.clone(),
            }]),
            &current(vec![r]),
        )
        .map_err(|e| e.message().to_string())?;
        // proxied stays as it was read (true): nothing to patch for it.
        assert_eq!(
            plan.to_batch_body(),
            json!({"patches": [{"id": "r1", "type": "A", "content": "198.51.100.1", "ttl": 60}]})
        );
        // Restoring 300 with the copied meta goes back to automatic.
        let body = record_body(&set, "192.0.2.1")?;
        assert_eq!(body.get("ttl"), Some(&json!(1)));
        assert_eq!(body.get("proxied"), Some(&json!(true)));
        Ok(())
    }

    #[test]
    fn mixed_proxied_is_left_alone() -> Result<(), String> {
        let r1 = rec("r1", "A", "www.example.com", "192.0.2.1", 60.0);
        let mut r2 = rec("r2", "A", "www.example.com", "192.0.2.2", 60.0);
        r2.proxied = Some(true);
        let set = group_to_set(&fq("www.example.com"), RecordType::A, &[r1, r2])?.ok_or("none")?;
        assert_eq!(
            set.meta.get(META_PROXIED).map(String::as_str),
            Some("mixed")
        );
        let body = record_body(&set, "192.0.2.3")?;
        assert!(!body.contains_key("proxied"));
        Ok(())
    }

    #[test]
    fn mx_srv_cname_values_round_trip() -> Result<(), String> {
        let mx = value_fields(RecordType::Mx, "10 Mail.Example.com.")?;
        assert_eq!(
            Value::Object(mx),
            json!({"content": "mail.example.com", "priority": 10})
        );
        let srv = value_fields(RecordType::Srv, "10 5 5060 sip.example.com.")?;
        assert_eq!(
            Value::Object(srv),
            json!({"data": {"priority": 10, "weight": 5, "port": 5060, "target": "sip.example.com"}})
        );
        let cname = value_fields(RecordType::Cname, "lb.example.net")?;
        assert_eq!(Value::Object(cname), json!({"content": "lb.example.net"}));

        let mut r = rec("m", "MX", "example.com", "mail.example.com", 300.0);
        r.priority = Some(10.0);
        assert_eq!(value_from_cf(RecordType::Mx, &r)?, "10 mail.example.com.");
        let mut s = rec(
            "s",
            "SRV",
            "_sip._tcp.example.com",
            "5 5060 sip.example.com",
            300.0,
        );
        s.data =
            Some(json!({"priority": 10, "weight": 5, "port": 5060, "target": "sip.example.com"}));
        assert_eq!(
            value_from_cf(RecordType::Srv, &s)?,
            "10 5 5060 sip.example.com."
        );
        s.data = None;
        s.priority = Some(10.0);
        assert_eq!(
            value_from_cf(RecordType::Srv, &s)?,
            "10 5 5060 sip.example.com."
        );
        Ok(())
    }

    #[test]
    fn unmanaged_types_are_skipped_and_bad_values_named() -> Result<(), String> {
        let sets = records_to_sets(&[
            rec("n", "NS", "example.com", "ns1.example.net", 86400.0),
            rec("a", "A", "WWW.example.com", "192.0.2.1", 60.0),
        ])?;
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].name, fq("www.example.com"));
        let bad = records_to_sets(&[rec("bad1", "A", "x.example.com", "not-an-ip", 60.0)]);
        assert!(bad.err().unwrap_or_default().contains("bad1"));
        Ok(())
    }

    #[test]
    fn envelopes_and_errors_parse() -> Result<(), String> {
        let env = parse_envelope(
            r#"{"success":false,"errors":[{"code":81057,"message":"Record already exists."}],"messages":[],"result":null}"#,
        )?;
        assert_eq!(env.success, Some(false));
        assert_eq!(classify(400, &env.errors), ErrorKind::Conflict);
        assert_eq!(
            describe_errors(&env.errors),
            "Cloudflare error 81057: Record already exists."
        );
        assert!(parse_envelope("<html>502 Bad Gateway</html>").is_err());
        assert_eq!(classify(429, &[]), ErrorKind::RateLimited);
        assert_eq!(classify(403, &[]), ErrorKind::Auth);
        assert_eq!(classify(502, &[]), ErrorKind::Transient);
        assert_eq!(classify(404, &[]), ErrorKind::NotFound);
        assert_eq!(classify(400, &[]), ErrorKind::Invalid);
        let limited = [ApiMessage {
            code: 10100,
            message: "More than 1200 requests".into(),
        }];
        assert_eq!(classify(400, &limited), ErrorKind::RateLimited);
        assert_eq!(
            parse_retry_after(" 7 "),
            Some(std::time::Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        Ok(())
    }

    #[test]
    fn list_and_zone_results_parse() -> Result<(), String> {
        let env = parse_envelope(
            r#"{"success":true,"errors":[],"messages":[],"result":[{"id":"z1","name":"example.com","status":"active"}],"result_info":{"page":1,"per_page":20,"count":1,"total_count":1}}"#,
        )?;
        assert_eq!(
            parse_zones(&env.result)?,
            vec![("z1".into(), "example.com".into())]
        );
        assert_eq!(env.result_info.and_then(|i| i.total_count), Some(1.0));
        assert!(parse_records(&json!([{"id": 5}])).is_err());
        Ok(())
    }
}
