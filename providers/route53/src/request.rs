//! Pure translation between dnsfailback's types and Route 53's XML, with no I/O.
//!
//! Sits inside the provider step (plan -> **provider** -> verify): the planner's [`ChangeSet`]
//! becomes one ChangeResourceRecordSets `ChangeBatch` document, and Route 53's answers
//! (ListResourceRecordSets pages, ChangeInfo, ListHostedZonesByName, error bodies) become
//! [`RecordSet`]s, change status and classified errors. Keeping this pure means every shape is
//! tested offline against fixtures, including the forms that only the real service produces
//! (root `<InvalidChangeBatch>`) and those only moto produces (ids without `/change/`).
//!
//! # Mapping
//!
//! | dnsfailback | Route 53 |
//! |---|---|
//! | `Create { new }` | `CREATE new` (fails if it exists: conflict) |
//! | `Update { old, new }` | `DELETE old` + `CREATE new` in the same batch: DELETE must match the current set exactly, so a stale `old` fails the whole (transactional) batch, which is the compare-and-swap the contract needs; `UPSERT` would silently overwrite |
//! | `Delete { old }` | `DELETE old` |
//! | `set_id` / `weight` | `SetIdentifier` / `Weight` |
//! | `meta["failover"]` | `Failover` (`PRIMARY`/`SECONDARY`), with `set_id` and no weight |
//! | `meta["health_check_id"]` | `HealthCheckId` |
//! | `meta["alias_target"]`, `alias_hosted_zone_id`, `alias_evaluate_target_health` | `AliasTarget` (read only) |
//! | `meta["region"]`, `geolocation`, `geoproximity`, `multivalue`, `cidr_collection`, `traffic_policy_instance_id` | other routing policies (read only) |
//!
//! All DELETEs are written before all CREATEs, so an update of a set and a conversion between a
//! plain set and weighted members work inside one batch.

use std::borrow::Cow;
use std::collections::BTreeMap;

use dnsfailback_provider::{
    txt_strings, txt_strings_with, txt_text, txt_text_with, Capabilities, Change, ChangeSet,
    ErrorKind, Fqdn, RecordSet, RecordType, TxtEscapes,
};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

/// XML namespace of the 2013-04-01 API.
pub const NAMESPACE: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
/// Route 53 limit: ResourceRecord elements per ChangeResourceRecordSets request.
pub const MAX_RECORDS_PER_BATCH: usize = 1000;
/// Route 53 limit: characters summed over all `Value` elements of one request.
pub const MAX_VALUE_CHARS_PER_BATCH: usize = 32_000;
/// Route 53 limit: largest weight.
pub const MAX_WEIGHT: u32 = 255;

/// `meta` key for a failover set's role (`PRIMARY` or `SECONDARY`).
pub const META_FAILOVER: &str = "failover";
/// `meta` key for the health check attached to a set.
pub const META_HEALTH_CHECK: &str = "health_check_id";
/// `meta` key for an alias set's target DNS name.
pub const META_ALIAS_TARGET: &str = "alias_target";
/// `meta` key for an alias set's target hosted zone.
pub const META_ALIAS_ZONE: &str = "alias_hosted_zone_id";
/// `meta` key for an alias set's EvaluateTargetHealth flag.
pub const META_ALIAS_EVALUATE: &str = "alias_evaluate_target_health";

/// Attributes this adapter shows but never writes: a change naming a set that carries any of
/// them is refused, so such sets are preserved exactly as their owner made them.
pub const READ_ONLY_META: &[&str] = &[
    META_ALIAS_TARGET,
    META_ALIAS_ZONE,
    META_ALIAS_EVALUATE,
    "region",
    "geolocation",
    "geoproximity",
    "multivalue",
    "cidr_collection",
    "traffic_policy_instance_id",
];

/// A ChangeBatch ready to send, with the counts Route 53 limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeBatch {
    /// The request body.
    pub xml: String,
    /// `Change` elements in the batch.
    pub changes: usize,
    /// ResourceRecord elements (what the 1,000 limit counts).
    pub records: usize,
    /// Characters over all `Value` elements (what the 32,000 limit counts).
    pub value_chars: usize,
    /// True when the batch contains a DELETE (whose mismatch moto reports as InvalidInput).
    pub has_delete: bool,
}

/// Checks a change set against the core rules and Route 53's own, returning every problem.
///
/// Route 53-specific: failover sets (`meta["failover"]`) need a `set_id` and no weight; set
/// identifiers are 1-128 characters; sets with read-only attributes (alias, latency, geo...)
/// are never written; the batch must fit Route 53's size limits. moto accepts many invalid
/// batches, so this check is what keeps an invalid plan from reaching DNS.
pub fn validate(cs: &ChangeSet, caps: &Capabilities) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    // The core check treats `set_id` without `weight` as an error; failover members are
    // legitimately like that, so they are checked with a stand-in weight.
    let mut shadow = cs.clone();
    for change in &mut shadow.changes {
        let sets: Vec<&mut RecordSet> = match change {
            Change::Create { new } => vec![new],
            Change::Update { old, new } => vec![old, new],
            Change::Delete { old } => vec![old],
        };
        for s in sets {
            if s.meta.contains_key(META_FAILOVER) && s.weight.is_none() && s.set_id.is_some() {
                s.weight = Some(0);
            }
        }
    }
    if let Err(p) = shadow.validate(caps) {
        problems.extend(p);
    }
    for change in &cs.changes {
        for set in [change.before(), change.after()].into_iter().flatten() {
            let key = set.key();
            for k in READ_ONLY_META {
                if set.meta.contains_key(*k) {
                    problems.push(format!(
                        "{key}: has `{k}` (alias or a routing policy this adapter does not manage); \
                         such sets are preserved, never written"
                    ));
                }
            }
            if let Some(id) = &set.set_id {
                if id.is_empty() || id.chars().count() > 128 {
                    problems.push(format!("{key}: a set identifier must be 1-128 characters"));
                }
            }
            if let Some(f) = set.meta.get(META_FAILOVER) {
                if f != "PRIMARY" && f != "SECONDARY" {
                    problems.push(format!(
                        "{key}: failover must be PRIMARY or SECONDARY, not `{f}`"
                    ));
                }
                if set.weight.is_some() {
                    problems.push(format!("{key}: a set cannot be both weighted and failover"));
                }
                if set.set_id.is_none() {
                    problems.push(format!("{key}: a failover set needs a set identifier"));
                }
            }
            if set.ttl > i32::MAX as u32 {
                problems.push(format!(
                    "{key}: TTL {} is above Route 53's maximum",
                    set.ttl
                ));
            }
        }
    }
    if problems.is_empty() {
        if let Err(e) = build_change_batch(cs, None, false) {
            problems.push(e);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Compares a change set with the sets currently stored (all sets of every name and type it
/// touches) and returns one problem per change whose precondition fails: a create whose set
/// exists, an update or delete whose set is missing or differs from `old` (values, TTL, weight,
/// failover role, health check). Used by the `precheck` option.
pub fn precondition_failures(cs: &ChangeSet, current: &[RecordSet]) -> Vec<String> {
    let mut problems = Vec::new();
    let matches = |a: &RecordSet, b: &RecordSet| {
        a.same_answer(b)
            && a.meta.get(META_FAILOVER) == b.meta.get(META_FAILOVER)
            && a.meta.get(META_HEALTH_CHECK) == b.meta.get(META_HEALTH_CHECK)
    };
    for change in &cs.changes {
        let key = change.key();
        let cur = current.iter().find(|s| s.key() == key);
        match (change, cur) {
            (Change::Create { .. }, Some(c)) => {
                problems.push(format!("{key}: cannot create, it already exists as {c}"))
            }
            (Change::Update { old, .. } | Change::Delete { old }, None) => {
                problems.push(format!("{key}: expected {old} but it was not found"))
            }
            (Change::Update { old, .. } | Change::Delete { old }, Some(c)) if !matches(c, old) => {
                problems.push(format!(
                    "{key}: expected {old} but found {c} (values do not match)"
                ))
            }
            _ => {}
        }
    }
    problems
}

fn text_el<W: std::io::Write>(w: &mut Writer<W>, name: &str, text: &str) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(BytesText::new(text)))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn open<W: std::io::Write>(w: &mut Writer<W>, name: &str) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))
}

fn close<W: std::io::Write>(w: &mut Writer<W>, name: &str) -> std::io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn write_set<W: std::io::Write>(
    w: &mut Writer<W>,
    action: &str,
    s: &RecordSet,
) -> std::io::Result<()> {
    open(w, "Change")?;
    text_el(w, "Action", action)?;
    open(w, "ResourceRecordSet")?;
    text_el(w, "Name", s.name.as_str())?;
    text_el(w, "Type", s.rtype.as_str())?;
    if let Some(id) = &s.set_id {
        text_el(w, "SetIdentifier", id)?;
    }
    if let Some(weight) = s.weight {
        text_el(w, "Weight", &weight.to_string())?;
    }
    if let Some(f) = s.meta.get(META_FAILOVER) {
        text_el(w, "Failover", f)?;
    }
    text_el(w, "TTL", &s.ttl.to_string())?;
    open(w, "ResourceRecords")?;
    for v in &s.values {
        open(w, "ResourceRecord")?;
        text_el(w, "Value", &wire_value(s.rtype, v))?;
        close(w, "ResourceRecord")?;
    }
    close(w, "ResourceRecords")?;
    if let Some(h) = s.meta.get(META_HEALTH_CHECK) {
        text_el(w, "HealthCheckId", h)?;
    }
    close(w, "ResourceRecordSet")?;
    close(w, "Change")
}

/// Builds the ChangeResourceRecordSets body for the whole change set (one atomic batch).
///
/// Fails, naming the limit, when the batch exceeds Route 53's limits: splitting it would give
/// up the all-or-nothing guarantee the controller relies on, so the planner must send smaller
/// change sets instead.
///
/// With `upsert` (config `upsert_writes`), creates and updates are sent as `UPSERT new`
/// (counted twice, as Route 53 does) instead of `CREATE` / `DELETE old` + `CREATE new`.
pub fn build_change_batch(
    cs: &ChangeSet,
    comment: Option<&str>,
    upsert: bool,
) -> Result<ChangeBatch, String> {
    let mut deletes: Vec<&RecordSet> = Vec::new();
    let mut creates: Vec<&RecordSet> = Vec::new();
    for change in &cs.changes {
        match change {
            Change::Create { new } => creates.push(new),
            Change::Update { new, .. } if upsert => creates.push(new),
            Change::Update { old, new } => {
                deletes.push(old);
                creates.push(new);
            }
            Change::Delete { old } => deletes.push(old),
        }
    }
    let count = |sets: &[&RecordSet]| -> (usize, usize) {
        sets.iter().fold((0, 0), |(r, c), s| {
            (
                r + s.values.len(),
                c + s
                    .values
                    .iter()
                    .map(|v| wire_value(s.rtype, v).chars().count())
                    .sum::<usize>(),
            )
        })
    };
    let (dr, dc) = count(&deletes);
    let (cr, cc) = count(&creates);
    let factor = if upsert { 2 } else { 1 };
    let records = dr + cr * factor;
    let value_chars = dc + cc * factor;
    if records > MAX_RECORDS_PER_BATCH {
        return Err(format!(
            "the change set needs {records} ResourceRecord elements (an update counts its old and \
             new values), above Route 53's limit of {MAX_RECORDS_PER_BATCH} per request; split it \
             into smaller change sets"
        ));
    }
    if value_chars > MAX_VALUE_CHARS_PER_BATCH {
        return Err(format!(
            "the change set has {value_chars} characters of record values, above Route 53's limit \
             of {MAX_VALUE_CHARS_PER_BATCH} per request; split it into smaller change sets"
        ));
    }
    if deletes.is_empty() && creates.is_empty() {
        return Err("an empty change set cannot be sent to Route 53".into());
    }
    let io = |e: std::io::Error| format!("cannot write the ChangeBatch XML: {e}");
    let mut w = Writer::new(Vec::new());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(io)?;
    let mut root = BytesStart::new("ChangeResourceRecordSetsRequest");
    root.push_attribute(("xmlns", NAMESPACE));
    w.write_event(Event::Start(root)).map_err(io)?;
    open(&mut w, "ChangeBatch").map_err(io)?;
    if let Some(c) = comment {
        text_el(&mut w, "Comment", c).map_err(io)?;
    }
    open(&mut w, "Changes").map_err(io)?;
    for s in &deletes {
        write_set(&mut w, "DELETE", s).map_err(io)?;
    }
    for s in &creates {
        write_set(&mut w, if upsert { "UPSERT" } else { "CREATE" }, s).map_err(io)?;
    }
    close(&mut w, "Changes").map_err(io)?;
    close(&mut w, "ChangeBatch").map_err(io)?;
    close(&mut w, "ChangeResourceRecordSetsRequest").map_err(io)?;
    let xml =
        String::from_utf8(w.into_inner()).map_err(|e| format!("ChangeBatch is not UTF-8: {e}"))?;
    Ok(ChangeBatch {
        xml,
        changes: deletes.len() + creates.len(),
        records,
        value_chars,
        has_delete: !deletes.is_empty(),
    })
}

/// An element of a parsed XML document: local name, concatenated text, children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// The first child called `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children called `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Trimmed text of the first child called `name`, if present and not empty.
    pub fn text_of(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .filter(|t| !t.is_empty())
    }
}

fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// Parses an XML document into a [`Node`] tree (namespaces dropped). Errors describe where the
/// document is malformed; nothing here panics on bad input.
pub fn parse_xml(xml: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.error_position()))?;
        match ev {
            Event::Start(s) => stack.push(Node {
                name: s.local_name().as_ref().to_string(),
                ..Node::default()
            }),
            Event::Empty(s) => {
                let node = Node {
                    name: s.local_name().as_ref().to_string(),
                    ..Node::default()
                };
                if let Some(top) = stack.last_mut() {
                    top.children.push(node);
                }
            }
            Event::End(_) => {
                if stack.len() < 2 {
                    return Err("malformed XML: closing tag without an opening tag".into());
                }
                if let Some(node) = stack.pop() {
                    if let Some(top) = stack.last_mut() {
                        top.children.push(node);
                    }
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    Ok(None) => predefined_entity(&r.xml10_content()),
                    Err(e) => return Err(format!("malformed XML character reference: {e}")),
                };
                match (c, stack.last_mut()) {
                    (Some(c), Some(top)) => top.text.push(c),
                    (None, _) => {
                        return Err(format!("unknown XML entity `&{};`", r.xml10_content()))
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err("malformed XML: the document ends inside an element".into());
    }
    let doc = stack.pop().unwrap_or_default();
    doc.children
        .into_iter()
        .next()
        .ok_or_else(|| "empty XML document".to_string())
}

/// A record set exactly as Route 53 listed it, before mapping to [`RecordSet`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRecordSet {
    pub name: String,
    pub rtype: String,
    pub set_id: Option<String>,
    pub weight: Option<u32>,
    pub ttl: Option<u32>,
    pub values: Vec<String>,
    pub meta: BTreeMap<String, String>,
}

/// One page of ListResourceRecordSets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub sets: Vec<RawRecordSet>,
    pub is_truncated: bool,
    pub next_name: Option<String>,
    pub next_type: Option<String>,
    pub next_identifier: Option<String>,
}

/// Parses a ListResourceRecordSetsResponse.
pub fn parse_list_page(xml: &str) -> Result<ListPage, String> {
    let root = parse_xml(xml)?;
    if root.name != "ListResourceRecordSetsResponse" {
        return Err(format!(
            "expected ListResourceRecordSetsResponse, got <{}>",
            root.name
        ));
    }
    let list = root
        .child("ResourceRecordSets")
        .ok_or("ListResourceRecordSetsResponse without ResourceRecordSets")?;
    let mut sets = Vec::new();
    for rs in list.children_named("ResourceRecordSet") {
        sets.push(parse_raw_set(rs)?);
    }
    Ok(ListPage {
        sets,
        is_truncated: root.text_of("IsTruncated").as_deref() == Some("true"),
        next_name: root.text_of("NextRecordName"),
        next_type: root.text_of("NextRecordType"),
        next_identifier: root.text_of("NextRecordIdentifier"),
    })
}

fn parse_raw_set(rs: &Node) -> Result<RawRecordSet, String> {
    let name = rs
        .text_of("Name")
        .ok_or("a ResourceRecordSet without a Name")?;
    let rtype = rs
        .text_of("Type")
        .ok_or_else(|| format!("ResourceRecordSet {name} without a Type"))?;
    let num = |field: &str| -> Result<Option<u32>, String> {
        rs.text_of(field)
            .map(|t| {
                t.parse::<u32>()
                    .map_err(|_| format!("{name} {rtype}: {field} `{t}` is not a number"))
            })
            .transpose()
    };
    let mut meta = BTreeMap::new();
    if let Some(f) = rs.text_of("Failover") {
        meta.insert(META_FAILOVER.to_string(), f);
    }
    if let Some(h) = rs.text_of("HealthCheckId") {
        meta.insert(META_HEALTH_CHECK.to_string(), h);
    }
    if let Some(a) = rs.child("AliasTarget") {
        meta.insert(
            META_ALIAS_TARGET.to_string(),
            a.text_of("DNSName").unwrap_or_default(),
        );
        if let Some(z) = a.text_of("HostedZoneId") {
            meta.insert(META_ALIAS_ZONE.to_string(), z);
        }
        if let Some(e) = a.text_of("EvaluateTargetHealth") {
            meta.insert(META_ALIAS_EVALUATE.to_string(), e);
        }
    }
    if let Some(r) = rs.text_of("Region") {
        meta.insert("region".into(), r);
    }
    if let Some(g) = rs.child("GeoLocation") {
        let parts: Vec<String> = g
            .children
            .iter()
            .map(|c| format!("{}={}", c.name, c.text.trim()))
            .collect();
        meta.insert("geolocation".into(), parts.join(","));
    }
    if rs.child("GeoProximityLocation").is_some() {
        meta.insert("geoproximity".into(), "true".into());
    }
    if let Some(m) = rs.text_of("MultiValueAnswer") {
        meta.insert("multivalue".into(), m);
    }
    if let Some(c) = rs.child("CidrRoutingConfig") {
        meta.insert(
            "cidr_collection".into(),
            c.text_of("CollectionId").unwrap_or_default(),
        );
    }
    if let Some(t) = rs.text_of("TrafficPolicyInstanceId") {
        meta.insert("traffic_policy_instance_id".into(), t);
    }
    let values = rs
        .child("ResourceRecords")
        .map(|r| {
            r.children_named("ResourceRecord")
                .filter_map(|rr| rr.text_of("Value"))
                .collect()
        })
        .unwrap_or_default();
    Ok(RawRecordSet {
        set_id: rs.text_of("SetIdentifier"),
        weight: num("Weight")?,
        ttl: num("TTL")?,
        values,
        meta,
        name,
        rtype,
    })
}

/// Decodes Route 53's `\NNN` octal escapes in names (it lists `*` as `\052`).
pub fn decode_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(&[a, b, c]) = bytes.get(i + 1..i + 4) {
                if [a, b, c].iter().all(|d| (b'0'..=b'7').contains(d)) {
                    let v =
                        u32::from(a - b'0') * 64 + u32::from(b - b'0') * 8 + u32::from(c - b'0');
                    if let Ok(v) = u8::try_from(v) {
                        out.push(v);
                        i += 4;
                        continue;
                    }
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A value as Route 53 wants it: TXT with octal escapes for every byte outside printable
/// ASCII (Route 53's rule, not the zone file's decimal one); other types unchanged.
pub fn wire_value(rtype: RecordType, value: &str) -> String {
    match (rtype, txt_strings(value)) {
        (RecordType::Txt, Ok(strings)) => {
            txt_text_with(strings.iter().map(Vec::as_slice), TxtEscapes::Octal)
        }
        _ => value.to_string(),
    }
}

/// A value read from Route 53 in the shared presentation text (TXT escapes turned back from
/// octal), normalised.
pub fn read_value(rtype: RecordType, value: &str) -> Result<String, String> {
    if rtype != RecordType::Txt {
        return rtype.normalize_value(value);
    }
    let strings = txt_strings_with(value, TxtEscapes::Octal)?;
    Ok(txt_text(strings.iter().map(Vec::as_slice)))
}

/// Maps a listed set to a [`RecordSet`]. `Ok(None)` for types the controller does not move
/// (NS, SOA, CAA, ...) and names it cannot represent; those are left alone.
pub fn to_record_set(raw: &RawRecordSet) -> Result<Option<RecordSet>, String> {
    let Ok(rtype) = raw.rtype.parse::<RecordType>() else {
        return Ok(None);
    };
    let Ok(name) = Fqdn::new(&decode_name(&raw.name)) else {
        return Ok(None);
    };
    let mut values: Vec<String> = raw
        .values
        .iter()
        .map(|v| read_value(rtype, v).unwrap_or_else(|_| v.trim().to_string()))
        .collect();
    values.sort();
    values.dedup();
    Ok(Some(RecordSet {
        name,
        rtype,
        ttl: raw.ttl.unwrap_or(0),
        values,
        set_id: raw.set_id.clone(),
        weight: raw.weight,
        meta: raw.meta.clone(),
    }))
}

/// The status of a change as ChangeInfo reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeInfo {
    /// Always in the `/change/ID` form (moto omits the prefix).
    pub id: String,
    /// True for `INSYNC`, false for `PENDING`.
    pub in_sync: bool,
}

/// Parses ChangeResourceRecordSetsResponse or GetChangeResponse.
pub fn parse_change_info(xml: &str) -> Result<ChangeInfo, String> {
    let root = parse_xml(xml)?;
    let info = root
        .child("ChangeInfo")
        .ok_or_else(|| format!("<{}> without ChangeInfo", root.name))?;
    let id = info.text_of("Id").ok_or("ChangeInfo without an Id")?;
    let status = info
        .text_of("Status")
        .ok_or("ChangeInfo without a Status")?;
    let in_sync = match status.as_str() {
        "INSYNC" => true,
        "PENDING" => false,
        other => return Err(format!("unknown change status `{other}`")),
    };
    Ok(ChangeInfo {
        id: change_path(&id),
        in_sync,
    })
}

/// `/change/C123` for `C123`, `change/C123` or `/change/C123`.
pub fn change_path(id: &str) -> String {
    let bare = id
        .trim()
        .trim_start_matches('/')
        .trim_start_matches("change/");
    format!("/change/{bare}")
}

/// One hosted zone from ListHostedZonesByName.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedZone {
    /// Bare id (`Z123`).
    pub id: String,
    pub name: String,
    pub private: bool,
}

/// Parses ListHostedZonesByNameResponse.
pub fn parse_hosted_zones(xml: &str) -> Result<Vec<HostedZone>, String> {
    let root = parse_xml(xml)?;
    let zones = root
        .child("HostedZones")
        .ok_or_else(|| format!("<{}> without HostedZones", root.name))?;
    let mut out = Vec::new();
    for z in zones.children_named("HostedZone") {
        let id = z.text_of("Id").ok_or("HostedZone without an Id")?;
        let name = z.text_of("Name").ok_or("HostedZone without a Name")?;
        let private = z
            .child("Config")
            .and_then(|c| c.text_of("PrivateZone"))
            .as_deref()
            == Some("true");
        out.push(HostedZone {
            id: id.trim_start_matches("/hostedzone/").to_string(),
            name: decode_name(&name),
            private,
        });
    }
    Ok(out)
}

/// An error answer, whatever its shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiError {
    /// Route 53's code (`Throttling`, `InvalidChangeBatch`, ...); empty when the body had none.
    pub code: String,
    /// Route 53's message(s), verbatim.
    pub messages: Vec<String>,
    pub request_id: Option<String>,
}

impl ApiError {
    /// Code and messages as one line for an error message.
    pub fn describe(&self) -> String {
        let msg = self.messages.join("; ");
        match (self.code.is_empty(), msg.is_empty()) {
            (false, false) => format!("{}: {msg}", self.code),
            (false, true) => self.code.clone(),
            (true, false) => msg,
            (true, true) => "no error details in the answer".into(),
        }
    }
}

/// Reads an error body: `<ErrorResponse><Error>` (Route 53, moto), `<ErrorResponse><Errors>
/// <Error>` (moto's auth failures) and root `<InvalidChangeBatch><Messages>` (Route 53).
/// A body that is not XML yields its first 200 characters as the message.
pub fn parse_error(body: &str) -> ApiError {
    let Ok(root) = parse_xml(body) else {
        let snippet: String = body.trim().chars().take(200).collect();
        return ApiError {
            messages: if snippet.is_empty() {
                vec![]
            } else {
                vec![snippet]
            },
            ..ApiError::default()
        };
    };
    let error = root
        .child("Error")
        .or_else(|| root.child("Errors").and_then(|e| e.child("Error")));
    let request_id = root.text_of("RequestId");
    if let Some(e) = error {
        let message = e.text_of("Message").or_else(|| e.text_of("message"));
        return ApiError {
            code: e.text_of("Code").unwrap_or_default(),
            messages: message.into_iter().collect(),
            request_id,
        };
    }
    if root.name == "InvalidChangeBatch" {
        let mut messages: Vec<String> = root
            .child("Messages")
            .map(|m| {
                m.children_named("Message")
                    .filter_map(|n| n.text_of_self())
                    .collect()
            })
            .unwrap_or_default();
        if messages.is_empty() {
            messages.extend(root.text_of("Message").or_else(|| root.text_of("message")));
        }
        return ApiError {
            code: "InvalidChangeBatch".into(),
            messages,
            request_id,
        };
    }
    ApiError {
        code: root.text_of("Code").unwrap_or_default(),
        messages: root.text_of("Message").into_iter().collect(),
        request_id,
    }
}

impl Node {
    fn text_of_self(&self) -> Option<String> {
        Some(self.text.trim().to_string()).filter(|t| !t.is_empty())
    }
}

/// What a failed call means to the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    pub kind: ErrorKind,
    /// Worth sending the same request again (after back-off).
    pub retry: bool,
}

const THROTTLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
];
const AUTH_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "AccessDeniedException",
    "ExpiredToken",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "UnrecognizedClientException",
];

/// Classifies an error answer. `change_batch` says the request was ChangeResourceRecordSets
/// with a DELETE in it, where moto reports a failed DELETE precondition as `InvalidInput`.
pub fn classify(status: u16, err: &ApiError, change_batch_with_delete: bool) -> Classified {
    let code = err.code.as_str();
    let text = err.messages.join(" ").to_ascii_lowercase();
    let c = |kind, retry| Classified { kind, retry };
    if THROTTLE_CODES.contains(&code) || status == 429 {
        return c(ErrorKind::RateLimited, true);
    }
    if code == "PriorRequestNotComplete" {
        return c(ErrorKind::Transient, true);
    }
    if status >= 500 || code == "ServiceUnavailable" || code == "InternalFailure" {
        return c(ErrorKind::Transient, true);
    }
    if AUTH_CODES.contains(&code) || status == 403 || status == 401 {
        return c(ErrorKind::Auth, false);
    }
    if code.starts_with("NoSuch") || status == 404 {
        return c(ErrorKind::NotFound, false);
    }
    if code == "InvalidChangeBatch" {
        let precondition = text.contains("already exists")
            || text.contains("not found")
            || text.contains("do not match")
            || text.contains("does not match");
        return c(
            if precondition {
                ErrorKind::Conflict
            } else {
                ErrorKind::Invalid
            },
            false,
        );
    }
    if code == "InvalidInput"
        && change_batch_with_delete
        && text.contains("expected exactly one of [aliastarget")
    {
        // moto 5.2.5's answer to a DELETE whose set is missing or differs.
        return c(ErrorKind::Conflict, false);
    }
    c(ErrorKind::Invalid, false)
}

/// Percent-encodes a query value the way SigV4 canonicalises it (RFC 3986 unreserved kept).
pub fn encode_query_value(v: &str) -> Cow<'_, str> {
    if v.bytes().all(is_unreserved) {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len() * 3);
    for b in v.bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fq(s: &str) -> Fqdn {
        Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn caps() -> Capabilities {
        crate::provider::route53_capabilities()
    }

    fn a(name: &str, ttl: u32, ip: &str) -> RecordSet {
        RecordSet::new(fq(name), RecordType::A, ttl, vec![ip.into()])
    }

    #[test]
    fn update_becomes_delete_then_create() -> Result<(), String> {
        let mut new = RecordSet::weighted(
            fq("www.example.test"),
            RecordType::A,
            30,
            vec!["198.51.100.2".into()],
            "blue",
            25,
        );
        new.meta.insert(META_HEALTH_CHECK.into(), "hc-1".into());
        let old = RecordSet::weighted(
            fq("www.example.test"),
            RecordType::A,
            60,
            vec!["198.51.100.2".into()],
            "blue",
            5,
        );
        let cs = ChangeSet {
            zone: fq("example.test"),
            changes: vec![
                Change::Create {
                    new: a("new.example.test", 60, "192.0.2.9"),
                },
                Change::Update { old, new },
            ],
        };
        validate(&cs, &caps()).map_err(|p| p.join("; "))?;
        let b = build_change_batch(&cs, Some("dnsfailback <plan>"), false)?;
        let expected = concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">"#,
            "<ChangeBatch><Comment>dnsfailback &lt;plan&gt;</Comment><Changes>",
            "<Change><Action>DELETE</Action><ResourceRecordSet><Name>www.example.test.</Name><Type>A</Type>",
            "<SetIdentifier>blue</SetIdentifier><Weight>5</Weight><TTL>60</TTL>",
            "<ResourceRecords><ResourceRecord><Value>198.51.100.2</Value></ResourceRecord></ResourceRecords>",
            "</ResourceRecordSet></Change>",
            "<Change><Action>CREATE</Action><ResourceRecordSet><Name>new.example.test.</Name><Type>A</Type><TTL>60</TTL>",
            "<ResourceRecords><ResourceRecord><Value>192.0.2.9</Value></ResourceRecord></ResourceRecords>",
            "</ResourceRecordSet></Change>",
            "<Change><Action>CREATE</Action><ResourceRecordSet><Name>www.example.test.</Name><Type>A</Type>",
            "<SetIdentifier>blue</SetIdentifier><Weight>25</Weight><TTL>30</TTL>",
            "<ResourceRecords><ResourceRecord><Value>198.51.100.2</Value></ResourceRecord></ResourceRecords>",
            "<HealthCheckId>hc-1</HealthCheckId></ResourceRecordSet></Change>",
            "</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
        );
        assert_eq!(b.xml, expected);
        assert_eq!((b.changes, b.records, b.has_delete), (3, 3, true));
        // The document we send is one our own parser reads back.
        let root = parse_xml(&b.xml)?;
        assert_eq!(root.name, "ChangeResourceRecordSetsRequest");
        Ok(())
    }

    #[test]
    fn failover_sets_are_written_with_their_role() -> Result<(), String> {
        let mut p = a("app.example.test", 60, "192.0.2.1");
        p.set_id = Some("app-primary".into());
        p.meta.insert(META_FAILOVER.into(), "PRIMARY".into());
        p.meta.insert(META_HEALTH_CHECK.into(), "abc".into());
        let cs = ChangeSet {
            zone: fq("example.test"),
            changes: vec![Change::Create { new: p }],
        };
        validate(&cs, &caps()).map_err(|e| e.join("; "))?;
        let b = build_change_batch(&cs, None, false)?;
        assert!(b.xml.contains("<SetIdentifier>app-primary</SetIdentifier><Failover>PRIMARY</Failover><TTL>60</TTL>"), "{}", b.xml);
        assert!(b.xml.contains("<HealthCheckId>abc</HealthCheckId>"));
        Ok(())
    }

    #[test]
    fn invalid_batches_are_refused_before_sending() {
        let mut bad_failover = a("f.example.test", 60, "192.0.2.1");
        bad_failover.set_id = Some("f".into());
        bad_failover
            .meta
            .insert(META_FAILOVER.into(), "TERTIARY".into());
        let mut alias = a("alias.example.test", 60, "192.0.2.1");
        alias
            .meta
            .insert(META_ALIAS_TARGET.into(), "d111.cloudfront.net.".into());
        let cs = ChangeSet {
            zone: fq("example.test"),
            changes: vec![
                Change::Create {
                    new: RecordSet::weighted(
                        fq("w.example.test"),
                        RecordType::A,
                        60,
                        vec!["192.0.2.1".into()],
                        "x",
                        300,
                    ),
                },
                Change::Create {
                    new: a("v.example.test", 60, "not-an-ip"),
                },
                Change::Create { new: bad_failover },
                Change::Delete { old: alias },
                Change::Create {
                    new: RecordSet::new(fq("w2.example.test"), RecordType::A, 60, vec![]).clone(),
                },
            ],
        };
        let problems = validate(&cs, &caps()).err().unwrap_or_default();
        let all = problems.join("\n");
        assert!(all.contains("weight 300"), "{all}");
        assert!(all.contains("not an IPv4"), "{all}");
        assert!(all.contains("TERTIARY"), "{all}");
        assert!(all.contains("preserved, never written"), "{all}");
        assert!(all.contains("at least one value"), "{all}");
    }

    #[test]
    fn batch_limits_are_enforced() {
        let mk = |i: usize| a(&format!("h{i}.example.test"), 60, "192.0.2.1");
        let cs = ChangeSet {
            zone: fq("example.test"),
            changes: (0..501)
                .map(|i| Change::Update {
                    old: mk(i),
                    new: mk(i),
                })
                .collect(),
        };
        let err = build_change_batch(&cs, None, false)
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("1002 ResourceRecord") && err.contains("limit of 1000"),
            "{err}"
        );
        let ok = ChangeSet {
            zone: cs.zone.clone(),
            changes: cs.changes[..500].to_vec(),
        };
        assert!(build_change_batch(&ok, None, false).is_ok());
        // UPSERT counts twice: 500 updates as UPSERT are 1,000 records, 501 are too many.
        assert!(
            build_change_batch(&ok, None, true).is_ok_and(|b| b.records == 1000 && !b.has_delete)
        );
        assert!(build_change_batch(&cs, None, true).is_err());
        let long = "\"".to_string() + &"x".repeat(253) + "\"";
        let txt = |i: usize| {
            RecordSet::new(
                fq(&format!("t{i}.example.test")),
                RecordType::Txt,
                60,
                vec![long.clone()],
            )
        };
        let cs = ChangeSet {
            zone: cs.zone.clone(),
            changes: (0..130).map(|i| Change::Create { new: txt(i) }).collect(),
        };
        let err = build_change_batch(&cs, None, false)
            .err()
            .unwrap_or_default();
        assert!(err.contains("32000"), "{err}");
    }

    const LIST_PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <ResourceRecordSets>
    <ResourceRecordSet><Name>example.test.</Name><Type>SOA</Type><TTL>900</TTL>
      <ResourceRecords><ResourceRecord><Value>{'Value': 'ns-2048.awsdns-64.com. hostmaster.example.com. 1 7200 900 1209600 86400'}</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>
    <ResourceRecordSet><Name>\052.example.test.</Name><Type>A</Type><TTL>300</TTL>
      <ResourceRecords><ResourceRecord><Value>192.0.2.7</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>
    <ResourceRecordSet><Name>www.example.test.</Name><Type>A</Type><SetIdentifier>blue</SetIdentifier><Weight>95</Weight><TTL>60</TTL>
      <ResourceRecords><ResourceRecord><Value>192.0.2.2</Value></ResourceRecord><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords>
      <HealthCheckId>hc-9</HealthCheckId></ResourceRecordSet>
    <ResourceRecordSet><Name>app.example.test.</Name><Type>A</Type><SetIdentifier>p</SetIdentifier><Failover>PRIMARY</Failover>
      <AliasTarget><HostedZoneId>Z2FDTNDATAQYW2</HostedZoneId><DNSName>d111.cloudfront.net.</DNSName><EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget></ResourceRecordSet>
    <ResourceRecordSet><Name>txt.example.test.</Name><Type>TXT</Type><TTL>60</TTL>
      <ResourceRecords><ResourceRecord><Value>"a &amp; b &#x3c;c&gt;"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>
  </ResourceRecordSets>
  <IsTruncated>true</IsTruncated><NextRecordName>x.example.test.</NextRecordName><NextRecordType>A</NextRecordType><NextRecordIdentifier>green</NextRecordIdentifier>
  <MaxItems>5</MaxItems>
</ListResourceRecordSetsResponse>"#;

    #[test]
    fn list_page_is_parsed_and_mapped() -> Result<(), String> {
        let page = parse_list_page(LIST_PAGE)?;
        assert!(page.is_truncated);
        assert_eq!(page.next_name.as_deref(), Some("x.example.test."));
        assert_eq!(page.next_type.as_deref(), Some("A"));
        assert_eq!(page.next_identifier.as_deref(), Some("green"));
        assert_eq!(page.sets.len(), 5);
        let mapped: Vec<RecordSet> = page
            .sets
            .iter()
            .map(to_record_set)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(mapped.len(), 4, "SOA is not represented");
        assert_eq!(mapped[0].name.as_str(), "*.example.test.");
        let w = &mapped[1];
        assert_eq!(
            (w.set_id.as_deref(), w.weight, w.ttl),
            (Some("blue"), Some(95), 60)
        );
        assert_eq!(
            w.values,
            vec!["192.0.2.1".to_string(), "192.0.2.2".to_string()]
        );
        assert_eq!(
            w.meta.get(META_HEALTH_CHECK).map(String::as_str),
            Some("hc-9")
        );
        let alias = &mapped[2];
        assert_eq!(
            alias.meta.get(META_ALIAS_TARGET).map(String::as_str),
            Some("d111.cloudfront.net.")
        );
        assert_eq!(
            alias.meta.get(META_FAILOVER).map(String::as_str),
            Some("PRIMARY")
        );
        assert!(alias.values.is_empty());
        assert_eq!(mapped[3].values, vec!["\"a & b <c>\"".to_string()]);
        Ok(())
    }

    #[test]
    fn change_info_accepts_both_id_forms() -> Result<(), String> {
        let real = r#"<?xml version="1.0"?><GetChangeResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeInfo><Id>/change/C2682N5HXP0BZ4</Id><Status>PENDING</Status><SubmittedAt>2017-03-10T01:36:41.958Z</SubmittedAt></ChangeInfo></GetChangeResponse>"#;
        let moto = r#"<GetChangeResponse><ChangeInfo><Id>C2682N5HXP0BZ4</Id><Status>INSYNC</Status></ChangeInfo></GetChangeResponse>"#;
        assert_eq!(
            parse_change_info(real)?,
            ChangeInfo {
                id: "/change/C2682N5HXP0BZ4".into(),
                in_sync: false
            }
        );
        assert_eq!(
            parse_change_info(moto)?,
            ChangeInfo {
                id: "/change/C2682N5HXP0BZ4".into(),
                in_sync: true
            }
        );
        assert!(parse_change_info("<GetChangeResponse><ChangeInfo><Id>x</Id><Status>WEIRD</Status></ChangeInfo></GetChangeResponse>").is_err());
        Ok(())
    }

    #[test]
    fn error_shapes() {
        let moto = r#"<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>NoSuchHostedZone</Code><Message>No hosted zone found with ID: Z1</Message><message>No hosted zone found with ID: Z1</message></Error><RequestId>req-1</RequestId></ErrorResponse>"#;
        let e = parse_error(moto);
        assert_eq!(e.code, "NoSuchHostedZone");
        assert_eq!(
            e.messages,
            vec!["No hosted zone found with ID: Z1".to_string()]
        );
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
        assert_eq!(classify(404, &e, false).kind, ErrorKind::NotFound);

        let throttle = r#"<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
        let c = classify(400, &parse_error(throttle), true);
        assert_eq!((c.kind, c.retry), (ErrorKind::RateLimited, true));

        let prior = r#"<ErrorResponse><Error><Type>Sender</Type><Code>PriorRequestNotComplete</Code><Message>The request was rejected because Route 53 was still processing a prior request.</Message></Error></ErrorResponse>"#;
        let c = classify(400, &parse_error(prior), true);
        assert_eq!((c.kind, c.retry), (ErrorKind::Transient, true));

        let real_icb = r#"<?xml version="1.0" encoding="UTF-8"?><InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Messages><Message>Tried to delete resource record set [name='www.example.test.', type='A'] but it was not found</Message></Messages><RequestId>r2</RequestId></InvalidChangeBatch>"#;
        let e = parse_error(real_icb);
        assert_eq!(e.code, "InvalidChangeBatch");
        assert!(e.messages[0].contains("but it was not found"));
        assert_eq!(classify(400, &e, true).kind, ErrorKind::Conflict);

        let moto_delete = r#"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidInput</Code><Message>Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=DELETE, Name=www.example.test., Type=A, SetIdentifier=null]</Message></Error></ErrorResponse>"#;
        assert_eq!(
            classify(400, &parse_error(moto_delete), true).kind,
            ErrorKind::Conflict
        );
        assert_eq!(
            classify(400, &parse_error(moto_delete), false).kind,
            ErrorKind::Invalid
        );

        let limit = r#"<ErrorResponse><Error><Code>InvalidChangeBatch</Code><Message>Number of records limit of 1000 exceeded.</Message></Error></ErrorResponse>"#;
        let c = classify(400, &parse_error(limit), false);
        assert_eq!((c.kind, c.retry), (ErrorKind::Invalid, false));

        let auth = r#"<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message><Type>Sender</Type></Error></Errors></ErrorResponse>"#;
        let e = parse_error(auth);
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert_eq!(classify(403, &e, false).kind, ErrorKind::Auth);

        let html = parse_error("<html><body>502 Bad Gateway");
        assert!(html.code.is_empty());
        assert!(classify(502, &html, true).retry);
        assert_eq!(parse_error("").describe(), "no error details in the answer");
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            "",
            "<",
            "<a><b></a>",
            "</x>",
            "<a>&bogus;</a>",
            "<a>&#0;</a>",
            "not xml at all",
            "<ListResourceRecordSetsResponse/>",
        ] {
            let _ = parse_xml(body);
            let _ = parse_list_page(body);
            let _ = parse_change_info(body);
            let _ = parse_hosted_zones(body);
            let _ = parse_error(body);
        }
        assert!(parse_list_page("<ListResourceRecordSetsResponse><ResourceRecordSets><ResourceRecordSet><Name>a.</Name><Type>A</Type><TTL>x</TTL></ResourceRecordSet></ResourceRecordSets></ListResourceRecordSetsResponse>").is_err());
    }

    #[test]
    fn hosted_zones_by_name() -> Result<(), String> {
        let xml = r#"<ListHostedZonesByNameResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><HostedZones><HostedZone><Id>/hostedzone/Z1</Id><Name>example.test.</Name><CallerReference>x</CallerReference><Config><PrivateZone>false</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone></HostedZones><DNSName>example.test.</DNSName><IsTruncated>false</IsTruncated><MaxItems>2</MaxItems></ListHostedZonesByNameResponse>"#;
        assert_eq!(
            parse_hosted_zones(xml)?,
            vec![HostedZone {
                id: "Z1".into(),
                name: "example.test.".into(),
                private: false
            }]
        );
        Ok(())
    }

    #[test]
    fn txt_is_written_with_route53_octal_escapes_and_read_back_canonical() {
        let set = RecordSet::new(
            fq("t.example.test"),
            RecordType::Txt,
            60,
            vec!["grüße \"x\"".into()],
        )
        .normalized()
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.values, vec!["\"grüße \\\"x\\\"\"".to_string()]);
        let cs = ChangeSet {
            zone: fq("example.test"),
            changes: vec![Change::Create { new: set.clone() }],
        };
        let xml = build_change_batch(&cs, None, false)
            .map(|b| b.xml)
            .unwrap_or_default();
        assert!(
            xml.contains("<Value>&quot;gr\\303\\274\\303\\237e \\&quot;x\\&quot;&quot;</Value>"),
            "{xml}"
        );
        let back = read_value(
            RecordType::Txt,
            &wire_value(RecordType::Txt, &set.values[0]),
        );
        assert_eq!(back, Ok(set.values[0].clone()));
        assert_eq!(wire_value(RecordType::A, "192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn names_and_query_values() {
        assert_eq!(decode_name("\\052.example.test."), "*.example.test.");
        assert_eq!(decode_name("a\\"), "a\\");
        assert_eq!(decode_name("a\\05"), "a\\05");
        assert_eq!(encode_query_value("www.example.test."), "www.example.test.");
        assert_eq!(encode_query_value("*.a b/"), "%2A.a%20b%2F");
    }
}
