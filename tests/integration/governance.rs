//! Change governance end to end, through the real binary, on the embedded provider and on
//! BIND (RFC 2136): every change has an id in `history`; a reviewed plan (`plan --out`) is
//! applied by `apply` only while the records are those it was planned on; `rollback ID`
//! restores the records and is refused once they moved; bad plan files and ids are refused,
//! audited, and change nothing.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use dnsfailback::backend::Backend;
use dnsfailback::policy::reviewed::PlanDocument;
use serde_json::Value;

use crate::harness::{cli, shop_targets, wait_dns, Proc, Scratch, ADMIN_TOKEN};
use crate::rfc2136_peer::{Kind, Peer, KEY};

/// A running controller and how to reach it from the CLI.
struct Ctl {
    _proc: Proc,
    cfg: String,
    admin: String,
    dns: SocketAddr,
    dir: std::path::PathBuf,
    provider: &'static str,
}

impl Ctl {
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = args.to_vec();
        all.extend(["-c", &self.cfg, "--admin", &self.admin]);
        cli(&all, &[("DNSFAILBACK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)])
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn history(&self) -> Vec<Value> {
        let (code, out, err) = self.run(&["history", "shop", "--json"]);
        assert_eq!(code, 0, "history: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("history json: {e}: {out}"))
    }

    /// The change id of the newest audit entry with `action`.
    fn change_id(&self, action: &str) -> i64 {
        self.history()
            .iter()
            .find(|e| e["action"] == action)
            .and_then(|e| e["change_id"].as_i64())
            .unwrap_or_else(|| panic!("no `{action}` with a change id in {:?}", self.history()))
    }

    /// Writes a plan moving `shop` to `to`; returns its path.
    fn plan_to(&self, to: &str, name: &str) -> String {
        let file = self.file(name);
        let (code, out, err) = self.run(&["plan", "--service", "shop", "--to", to, "--out", &file]);
        assert_eq!(code, 0, "plan --out: {out} {err}");
        assert!(out.contains("written to"), "{out}");
        file
    }

    fn refused(&self, args: &[&str], why: &str) {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 1, "{args:?} must be refused: {out} {err}");
        assert!(err.contains(why), "{args:?}: expected `{why}` in: {err}");
    }

    async fn serves(&self, what: &str, ip: &str, ttl: u32) {
        let a = wait_dns(self.dns, Duration::from_secs(20), what, |a| {
            a.values == [ip] && a.ttl == Some(ttl)
        })
        .await;
        assert_eq!(a.values, [ip]);
    }
}

async fn backends() -> (Backend, Backend) {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"));
    let p = Backend::start(addr).await.unwrap_or_else(|e| panic!("{e}"));
    let b = Backend::start(addr).await.unwrap_or_else(|e| panic!("{e}"));
    (p, b)
}

fn edit(path: &str, f: impl FnOnce(&mut PlanDocument)) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
    let mut doc: PlanDocument = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    f(&mut doc);
    let out = format!("{path}.edited.json");
    let json = serde_json::to_string(&doc).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&out, json).unwrap_or_else(|e| panic!("{e}"));
    out
}

/// The whole story on one controller; `outside_edit` changes the record behind the
/// controller's back (BIND), when the provider allows it.
async fn governance_flow(ctl: &Ctl, outside_edit: Option<&dyn Fn()>) {
    ctl.serves("the primary", "127.0.0.11", 300).await;
    // Automatic changes have ids too.
    let first = ctl.history();
    assert!(
        first
            .iter()
            .any(|e| e["actor"] == "controller" && e["change_id"].is_i64()),
        "the controller's own change has an id: {first:?}"
    );

    // plan -> apply -> the records are the plan's.
    let plan = ctl.plan_to("backup", "p1.json");
    let stale = ctl.plan_to("backup", "stale.json");
    let (code, out, err) = ctl.run(&["apply", &plan]);
    assert_eq!(code, 0, "apply: {out} {err}");
    assert!(out.contains("plan applied"), "{out}");
    ctl.serves("the plan's backup", "127.0.0.12", 30).await;
    // Pinned: the loop does not put the primary back while the plan holds.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ctl.serves("the plan still", "127.0.0.12", 30).await;
    let applied = ctl.change_id("plan_apply");
    let (_, text, _) = ctl.run(&["history", "shop"]);
    assert!(text.contains(&format!("change {applied}")), "{text}");

    // A plan made before that change: refused, saying what differs.
    ctl.refused(&["apply", &stale], "changed since the plan was made");
    // Bad plan files: nothing applied.
    let tampered = edit(&stale, |d| d.entries[0].fingerprint = "0".repeat(64));
    ctl.refused(&["apply", &tampered], "modified after it was written");
    let forged = edit(&stale, |d| {
        d.entries[0].fingerprint = "0".repeat(64);
        d.digest = d.compute_digest();
    });
    ctl.refused(&["apply", &forged], "tampered with");
    let old = edit(&stale, |d| {
        d.schema = 0;
        d.digest = d.compute_digest();
    });
    ctl.refused(&["apply", &old], "older than");
    let gone = edit(&stale, |d| {
        d.entries[0].service = "nosuch".into();
        d.digest = d.compute_digest();
    });
    ctl.refused(&["apply", &gone], "no service named `nosuch`");
    let other = edit(&stale, |d| {
        d.entries[0].config = "1".repeat(64);
        d.digest = d.compute_digest();
    });
    ctl.refused(&["apply", &other], "another configuration");
    ctl.serves("the plan, untouched by refusals", "127.0.0.12", 30)
        .await;

    // rollback restores the records; twice is refused; an unknown id is refused.
    let (code, out, err) = ctl.run(&["rollback", &applied.to_string()]);
    assert_eq!(code, 0, "rollback: {out} {err}");
    ctl.serves("the primary again", "127.0.0.11", 300).await;
    ctl.refused(&["rollback", &applied.to_string()], "already rolled back");
    ctl.refused(&["rollback", "999999"], "no change 999999");

    // A newer change of the same records blocks a rollback; --force still checks records.
    let p3 = ctl.plan_to("backup", "p3.json");
    assert_eq!(ctl.run(&["apply", &p3]).0, 0);
    ctl.serves("the second plan", "127.0.0.12", 30).await;
    let second = ctl.change_id("plan_apply");
    let p4 = ctl.plan_to("primary", "p4.json");
    assert_eq!(ctl.run(&["apply", &p4]).0, 0);
    ctl.serves("the third plan", "127.0.0.11", 30).await;
    ctl.refused(&["rollback", &second.to_string()], "roll it back first");
    ctl.refused(
        &["rollback", &second.to_string(), "--force"],
        "the records changed since change",
    );

    if let Some(edit_behind) = outside_edit {
        let third = ctl.change_id("plan_apply");
        let p5 = ctl.plan_to("backup", "p5.json");
        edit_behind();
        ctl.serves("the outside edit", "127.0.0.99", 60).await;
        ctl.refused(&["apply", &p5], "127.0.0.99");
        ctl.refused(&["rollback", &third.to_string()], "127.0.0.99");
        ctl.serves("the outside edit, untouched", "127.0.0.99", 60)
            .await;
    }

    // Every refusal is in the audit trail, by the operator.
    let h = ctl.history();
    for action in ["plan_refused", "rollback_refused"] {
        assert!(
            h.iter()
                .any(|e| e["action"] == action && e["actor"] == "admin"),
            "{action} audited: {h:?}"
        );
    }
    // resume hands the service back to the loop, which publishes the primary again.
    assert_eq!(ctl.run(&["resume", "shop"]).0, 0);
    ctl.serves("the loop's primary after resume", "127.0.0.11", 300)
        .await;
}

fn write_config(dir: &Path, text: &str) -> String {
    let cfg = dir.join("dnsfailback.toml");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    cfg.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_and_rollback_on_the_embedded_provider() {
    let dir = Scratch::new("gov-embedded");
    let (primary, backup) = backends().await;
    let cfg = write_config(
        &dir.0,
        &crate::harness::config(&dir.0, primary.addr(), backup.addr(), ""),
    );
    let proc = Proc::start(Path::new(&cfg), &[]);
    let ctl = Ctl {
        admin: proc.admin_addr().to_string(),
        dns: proc.dns_addr(),
        _proc: proc,
        cfg,
        dir: dir.0.clone(),
        provider: "local",
    };
    governance_flow(&ctl, None).await;
    export_matches_dns(&ctl).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_and_rollback_on_bind() {
    let peer = Peer::start(Kind::Bind).await;
    let dir = Scratch::new("gov-bind");
    let (primary, backup) = backends().await;
    let text = format!(
        r#"
{controller}
[providers.ns]
kind = "rfc2136"
server = "{server}"
key_name = "{KEY}"
algorithm = "hmac-sha256"
secret = {{ file = "{secret}" }}
timeout = "2s"

[services.shop]
provider = "ns"
zone = "example.test"
name = "shop.example.test"
type = "A"
ttl = 300
failover_ttl = 30
stable_for = "1s"

{targets}"#,
        controller = crate::harness::controller_toml(&dir.0),
        server = peer.primary,
        secret = peer.secret_file.display(),
        targets = shop_targets(primary.addr(), backup.addr()),
    );
    let cfg = write_config(&dir.0, &text);
    let proc = Proc::start(Path::new(&cfg), &[]);
    let ctl = Ctl {
        admin: proc.admin_addr().to_string(),
        dns: peer.primary,
        _proc: proc,
        cfg,
        dir: dir.0.clone(),
        provider: "ns",
    };
    let outside = || {
        peer.nsupdate(
            "update delete shop.example.test. A\nupdate add shop.example.test. 60 A 127.0.0.99",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    };
    governance_flow(&ctl, Some(&outside)).await;
    export_matches_dns(&ctl).await;
}

/// `export` writes a master file that hickory's zone parser reads back, and every A record
/// in it is what the provider's DNS server answers for that name.
async fn export_matches_dns(ctl: &Ctl) {
    use hickory_proto::rr::{Name, RData};
    let file = ctl.file("zone.txt");
    let (code, out, err) = ctl.run(&["export", "--provider", ctl.provider, "--out", &file]);
    assert_eq!(code, 0, "export: {out} {err}");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
    let origin = Name::from_ascii("example.test.").unwrap_or_else(|e| panic!("{e}"));
    let (_, sets) = hickory_proto::serialize::txt::Parser::new(text.as_str(), None, Some(origin))
        .parse()
        .unwrap_or_else(|e| panic!("the export does not parse: {e}\n{text}"));
    let mut names = Vec::new();
    for set in sets.values() {
        let mut values: Vec<String> = set
            .records_without_rrsigs()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0.to_string()),
                _ => None,
            })
            .collect();
        if values.is_empty() {
            continue;
        }
        values.sort();
        let name = set.name().to_ascii();
        let a = dnsfailback::cli::dig::lookup(ctl.dns, &name, "A")
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut served = a.values.clone();
        served.sort();
        assert_eq!(served, values, "{name} in the export vs DNS:\n{text}");
        assert_eq!(a.ttl, Some(set.ttl()), "{name} TTL:\n{text}");
        names.push(name);
    }
    assert!(
        names.iter().any(|n| n == "shop.example.test."),
        "the service's record is exported: {text}"
    );
}
