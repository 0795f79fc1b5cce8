//! One record set, one owner: two services that publish the same name and type at the same
//! provider would undo each other's changes (each one's drift check "corrects" the other), and
//! a CNAME cannot stand beside any other data at its name (RFC 1034 section 3.6.2).
//!
//! Part of config validation, which runs before the flow starts; it looks across services,
//! after each one was read on its own.

use std::collections::BTreeMap;

use dnsfailback_provider::RecordType;

use super::ctx::Ctx;
use crate::config::model::Service;
use crate::config::raw::RawService;

/// Refuses a `(provider, name, type)` published by two services, and a CNAME service whose
/// name another service publishes with any type at the same provider; each problem names the
/// later service's `name` key and the service it collides with.
pub(super) fn one_owner_each(
    ctx: &mut Ctx,
    raw: &BTreeMap<String, toml::Spanned<RawService>>,
    services: &BTreeMap<String, Service>,
) {
    let mut owners: BTreeMap<(&str, &str), Vec<(RecordType, &str)>> = BTreeMap::new();
    for (name, s) in services {
        let at = owners
            .entry((s.provider.as_str(), s.record.as_str()))
            .or_default();
        let clash = at.iter().find(|(t, _)| {
            *t == s.rtype || *t == RecordType::Cname || s.rtype == RecordType::Cname
        });
        if let (Some((t, other)), Some(rs)) = (clash, raw.get(name)) {
            let (why, fix) = if *t == s.rtype {
                (
                    format!(
                        "`{}` {} at provider `{}` is already published by service `{other}`: \
                         the two would undo each other's changes",
                        s.record, s.rtype, s.provider
                    ),
                    "give each name and type one service (several targets go into one service)",
                )
            } else {
                (
                    format!(
                        "`{}` is a CNAME in one service and {} in service `{other}`: a CNAME \
                         cannot stand beside other data at its name",
                        s.record,
                        if *t == RecordType::Cname { s.rtype } else { *t }
                    ),
                    "publish the name as a CNAME or as addresses, not both",
                )
            };
            ctx.err(
                &rs.get_ref().name,
                format!("services.{name}.name"),
                why,
                fix,
            );
        }
        at.push((s.rtype, name.as_str()));
    }
}
