//! The data file: the embedded server's zones on disk, so answers survive a restart.
//!
//! Sits inside the provider step (plan -> **provider** -> verify): `apply` writes the whole
//! store here (temporary file, fsync, rename, fsync of the directory) before it swaps the change
//! in and returns, so an acknowledged change is never lost and a crash mid-write leaves the old
//! file whole. Loading checks every value, so a hand-edited file fails at start-up with the
//! file named, not later inside a DNS answer.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use dnsfailback_provider::{Fqdn, RecordSet};
use serde::{Deserialize, Serialize};

use crate::state::{Records, Store, ZoneState};

/// Version of the file layout; bumped on incompatible changes.
const FORMAT_VERSION: u32 = 1;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV1 {
    version: u32,
    zones: BTreeMap<Fqdn, FileZone>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileZone {
    serial: u32,
    records: Vec<RecordSet>,
}

/// [`FileV1`] for writing: borrows the zones instead of copying every record set.
#[derive(Serialize)]
struct FileV1Ref<'a> {
    version: u32,
    zones: BTreeMap<&'a Fqdn, FileZoneRef<'a>>,
}

#[derive(Serialize)]
struct FileZoneRef<'a> {
    serial: u32,
    records: Vec<&'a RecordSet>,
}

/// Reads `path`; a missing file is an empty store. Errors name the file and say what to do.
pub fn load(path: &Path) -> Result<Store, String> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Store::default()),
        Err(e) => {
            return Err(format!(
                "cannot read zone data file {}: {e}",
                path.display()
            ))
        }
    };
    parse(&text).map_err(|e| {
        format!(
            "zone data file {} is corrupt: {e}; restore it from a backup, or move it aside to \
             start with empty zones",
            path.display()
        )
    })
}

fn parse(text: &str) -> Result<Store, String> {
    let file: FileV1 = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if file.version != FORMAT_VERSION {
        return Err(format!(
            "format version {} is not supported (expected {FORMAT_VERSION})",
            file.version
        ));
    }
    let mut store = Store::default();
    for (zone, fz) in file.zones {
        let mut records = Records::default();
        for set in fz.records {
            let key = set.key();
            if !set.name.is_in_zone(&zone) {
                return Err(format!("{key}: name is outside zone {zone}"));
            }
            if set.values.is_empty() {
                return Err(format!("{key}: a record set needs at least one value"));
            }
            if records.put(set.normalized()?).is_some() {
                return Err(format!("{key}: listed twice"));
            }
        }
        store.zones.insert(
            zone,
            Arc::new(ZoneState {
                records,
                serial: fz.serial,
            }),
        );
    }
    Ok(store)
}

fn render(store: &Store) -> Result<Vec<u8>, String> {
    let file = FileV1Ref {
        version: FORMAT_VERSION,
        zones: store
            .zones
            .iter()
            .map(|(z, s)| {
                let zone = FileZoneRef {
                    serial: s.serial,
                    records: s.records.all().collect(),
                };
                (z, zone)
            })
            .collect(),
    };
    let mut bytes = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes `store` to `path` atomically: a temporary file beside it is written and fsynced, then
/// renamed over `path`. An error means `path` still holds the previous content.
pub fn save(path: &Path, store: &Store) -> Result<(), String> {
    let bytes = render(store)?;
    let tmp = temp_path(path);
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(format!(
            "cannot write zone data file {}: {e}",
            path.display()
        ));
    }
    // Make the rename itself durable. The new content is already in place, so a failure here is
    // only logged.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = fs::File::open(dir).and_then(|d| d.sync_all()) {
            tracing::warn!("cannot fsync directory {}: {e}", dir.display());
        }
    }
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsfailback_provider::RecordType;

    fn sample() -> Result<Store, String> {
        let zone = Fqdn::new("example.test")?;
        let mut z = ZoneState {
            serial: 7,
            ..ZoneState::default()
        };
        z.records.put(RecordSet::weighted(
            Fqdn::new("www.example.test")?,
            RecordType::A,
            60,
            vec!["192.0.2.1".into()],
            "primary",
            5,
        ));
        let mut s = Store::default();
        s.zones.insert(zone, Arc::new(z));
        Ok(s)
    }

    #[test]
    fn round_trip() -> Result<(), String> {
        let s = sample()?;
        let text = String::from_utf8(render(&s)?).map_err(|e| e.to_string())?;
        assert_eq!(parse(&text)?, s);
        Ok(())
    }

    #[test]
    fn bad_content_is_explained() {
        for (text, want) in [
            ("{not json", "key must be a string"),
            (r#"{"version": 9, "zones": {}}"#, "format version 9"),
            (
                r#"{"version":1,"zones":{"example.test.":{"serial":1,"records":[
                  {"name":"a.other.test.","rtype":"A","ttl":60,"values":["192.0.2.1"]}]}}}"#,
                "outside zone",
            ),
            (
                r#"{"version":1,"zones":{"example.test.":{"serial":1,"records":[
                  {"name":"a.example.test.","rtype":"A","ttl":60,"values":["nope"]}]}}}"#,
                "not an IPv4",
            ),
        ] {
            let e = parse(text).err().unwrap_or_default();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn temp_file_sits_beside_the_target() {
        assert_eq!(
            temp_path(Path::new("/var/lib/x/zones.json")),
            PathBuf::from("/var/lib/x/zones.json.tmp")
        );
    }
}
