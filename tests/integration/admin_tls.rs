//! Issue 19, the admin API over TLS: the real binary serves HTTPS with a certificate from
//! files and re-reads it on SIGHUP; with `client_ca` it requires a client certificate (mTLS);
//! the CLI speaks to it with `--admin-ca`, `--admin-cert` and `--admin-key` (rustls on both
//! sides); a non-loopback listener without TLS is refused by `validate` unless the user opts
//! out; an unusable key file is named, its content never shown.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};

use crate::harness::{cli, config, Proc, Scratch, ADMIN_TOKEN};

/// A CA: its PEM file and the issuer that signs leaves.
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

pub fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("CA cert");
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf signed by `ca` for 127.0.0.1 and localhost: (certificate PEM, key PEM).
pub fn leaf(ca: &Ca, usage: ExtendedKeyUsagePurpose) -> (String, String) {
    leaf_for(ca, vec![usage])
}

/// [`leaf`] with several usages (etcd's own gateway dials etcd with the server certificate,
/// so under `--client-cert-auth` that certificate must be good for client auth too).
pub fn leaf_for(ca: &Ca, usages: Vec<ExtendedKeyUsagePurpose>) -> (String, String) {
    let key = KeyPair::generate().expect("leaf key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
        .expect("leaf params");
    params.extended_key_usages = usages;
    let cert = params.signed_by(&key, &ca.issuer).expect("leaf cert");
    (cert.pem(), key.serialize_pem())
}

/// Writes `text` to `dir/name` and returns the path as a string.
fn write(dir: &Scratch, name: &str, text: &str) -> String {
    let p = dir.path(name);
    std::fs::write(&p, text).expect("write PEM");
    p.display().to_string()
}

/// The harness's one-service configuration with `[controller.admin_tls]` added.
fn tls_config(dir: &Scratch, tls: &str) -> std::path::PathBuf {
    let backend: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let text = format!(
        "{}\n[controller.admin_tls]\n{tls}\n",
        config(&dir.0, backend, backend, "")
    );
    let path = dir.path("dnsfailback.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// `dnsfailback status` against `admin` with extra arguments: (exit code, stdout, stderr).
fn status(cfg: &Path, admin: &str, extra: &[&str]) -> (i32, String, String) {
    let cfg = cfg.display().to_string();
    let mut args = vec!["status", "-c", &cfg, "--admin", admin];
    args.extend_from_slice(extra);
    cli(&args, &[("DNSFAILBACK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)])
}

#[test]
fn the_admin_api_speaks_tls_to_the_cli_and_takes_a_renewed_certificate_on_sighup() {
    let dir = Scratch::new("admin-tls");
    let (ca1, ca2) = (ca("admin CA one"), ca("admin CA two"));
    let (cert, key) = leaf(&ca1, ExtendedKeyUsagePurpose::ServerAuth);
    let cert_path = write(&dir, "admin.crt", &cert);
    let key_path = write(&dir, "admin.key", &key);
    let ca1_path = write(&dir, "ca1.pem", &ca1.pem);
    let ca2_path = write(&dir, "ca2.pem", &ca2.pem);
    let cfg = tls_config(
        &dir,
        &format!("cert = \"{cert_path}\"\nkey = \"{key_path}\""),
    );
    let proc = Proc::start(&cfg, &[]);
    let addr = proc.admin_addr().to_string();
    assert!(proc.log().contains("(HTTPS)"), "{}", proc.log());

    let (code, out, err) = status(&cfg, &addr, &["--admin-ca", &ca1_path]);
    assert_eq!(code, 0, "status over TLS failed: {err}");
    assert!(out.contains("shop"), "{out}");
    // Plain HTTP to the TLS port, and TLS without trusting the CA, are both refused.
    let (code, _, err) = status(&cfg, &format!("http://{addr}"), &[]);
    assert_ne!(code, 0, "plain HTTP reached a TLS-only admin API");
    assert!(err.contains("cannot reach the controller"), "{err}");
    let (code, _, err) = status(&cfg, &addr, &["--admin-ca", &ca2_path]);
    assert_ne!(code, 0, "a certificate from an untrusted CA was accepted");
    assert!(err.contains("UnknownIssuer"), "{err}");

    // Renewal: a certificate from the second CA in the same files, then SIGHUP.
    let (cert, key) = leaf(&ca2, ExtendedKeyUsagePurpose::ServerAuth);
    write(&dir, "admin.crt", &cert);
    write(&dir, "admin.key", &key);
    proc.signal("HUP");
    proc.wait_for("admin API certificate re-read", Duration::from_secs(10));
    let (code, _, err) = status(&cfg, &addr, &["--admin-ca", &ca2_path]);
    assert_eq!(code, 0, "the renewed certificate is not served: {err}");
    let (code, _, _) = status(&cfg, &addr, &["--admin-ca", &ca1_path]);
    assert_ne!(
        code, 0,
        "the old certificate is still served after the reload"
    );

    // A renewal that cannot be read (a half-written key) keeps the running certificate, and
    // the CLI, which reads the configuration but not the server's key, still works.
    write(
        &dir,
        "admin.key",
        "-----BEGIN PRIVATE KEY-----\ntruncated\n",
    );
    proc.signal("HUP");
    proc.wait_for("the running certificate stays", Duration::from_secs(10));
    assert!(proc.log().contains("admin.key"), "{}", proc.log());
    let (code, _, err) = status(&cfg, &addr, &["--admin-ca", &ca2_path]);
    assert_eq!(code, 0, "a bad renewal took the API down: {err}");
}

#[test]
fn with_a_client_ca_only_clients_with_a_certificate_from_it_get_in() {
    let dir = Scratch::new("admin-mtls");
    let (server_ca, client_ca, rogue_ca) = (ca("server CA"), ca("client CA"), ca("rogue CA"));
    let (cert, key) = leaf(&server_ca, ExtendedKeyUsagePurpose::ServerAuth);
    let tls = format!(
        "cert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"",
        write(&dir, "admin.crt", &cert),
        write(&dir, "admin.key", &key),
        write(&dir, "clients.pem", &client_ca.pem)
    );
    let server_ca_path = write(&dir, "server-ca.pem", &server_ca.pem);
    let (ok_cert, ok_key) = leaf(&client_ca, ExtendedKeyUsagePurpose::ClientAuth);
    let (ok_cert, ok_key) = (
        write(&dir, "op.crt", &ok_cert),
        write(&dir, "op.key", &ok_key),
    );
    let (bad_cert, bad_key) = leaf(&rogue_ca, ExtendedKeyUsagePurpose::ClientAuth);
    let (bad_cert, bad_key) = (
        write(&dir, "rogue.crt", &bad_cert),
        write(&dir, "rogue.key", &bad_key),
    );
    let cfg = tls_config(&dir, &tls);
    let proc = Proc::start(&cfg, &[]);
    let addr = proc.admin_addr().to_string();

    let ca_arg = ["--admin-ca", server_ca_path.as_str()];
    let (code, _, err) = status(&cfg, &addr, &ca_arg);
    assert_ne!(code, 0, "a client without a certificate got in");
    assert!(err.contains("over TLS"), "{err}");
    let rogue = [
        &ca_arg[..],
        &["--admin-cert", &bad_cert, "--admin-key", &bad_key],
    ]
    .concat();
    let (code, _, err) = status(&cfg, &addr, &rogue);
    assert_ne!(code, 0, "a client certificate from another CA got in");
    assert!(
        err.contains("--admin-cert"),
        "the error must point at the TLS options: {err}"
    );
    let good = [
        &ca_arg[..],
        &["--admin-cert", &ok_cert, "--admin-key", &ok_key],
    ]
    .concat();
    let (code, out, err) = status(&cfg, &addr, &good);
    assert_eq!(
        code, 0,
        "a client with a valid certificate was refused: {err}"
    );
    assert!(out.contains("shop"), "{out}");
    drop(proc);
}

/// `validate --offline` on the harness configuration with `admin_listen` and extra
/// `[controller]` keys replaced.
fn validate_with(dir: &Scratch, listen: &str, extra: &str) -> (i32, String, String) {
    let backend: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let text = config(&dir.0, backend, backend, "").replace(
        "admin_listen = \"127.0.0.1:0\"\n",
        &format!("admin_listen = \"{listen}\"\n{extra}"),
    );
    let path = dir.path("v.toml");
    std::fs::write(&path, text).expect("write config");
    let p = path.display().to_string();
    cli(&["validate", "--offline", "-c", &p], &[])
}

#[test]
fn a_network_listener_without_tls_is_refused_unless_the_user_opts_out() {
    let dir = Scratch::new("admin-plain");
    let (code, _, err) = validate_with(&dir, "0.0.0.0:8053", "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("controller.admin_listen"), "{err}");
    assert!(err.contains("clear text"), "{err}");
    assert!(err.contains("[controller.admin_tls]"), "{err}");
    let (code, _, err) = validate_with(&dir, "0.0.0.0:8053", "admin_insecure_plaintext = true\n");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("plain HTTP"),
        "the opt-out must still warn: {err}"
    );
    let (code, _, err) = validate_with(&dir, "127.0.0.1:8053", "");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_unusable_key_file_is_named_and_its_content_never_shown() {
    let dir = Scratch::new("admin-badkey");
    let ca = ca("CA");
    let (cert, _) = leaf(&ca, ExtendedKeyUsagePurpose::ServerAuth);
    let secret = "-----BEGIN PRIVATE KEY-----\nS3CRET-KEY-MATERIAL\n-----END PRIVATE KEY-----\n";
    let tls = format!(
        "cert = \"{}\"\nkey = \"{}\"",
        write(&dir, "admin.crt", &cert),
        write(&dir, "admin.key", secret)
    );
    let cfg = tls_config(&dir, &tls);
    let p = cfg.display().to_string();
    let (code, out, err) = cli(&["validate", "--offline", "-c", &p], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("admin.key"), "{err}");
    assert!(err.contains("controller.admin_tls"), "{err}");
    assert!(!err.contains("S3CRET") && !out.contains("S3CRET"), "{err}");
}

#[test]
fn an_etcd_client_certificate_without_its_key_is_refused_by_validate() {
    let dir = Scratch::new("etcd-tls-cfg");
    let etcd = "[controller.etcd]\nendpoints = [\"https://127.0.0.1:2379\"]\ncert = \"/etc/dnsfailback/etcd.crt\"\n";
    let backend: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let text = format!("{}\n{etcd}", config(&dir.0, backend, backend, ""));
    let path = dir.path("e.toml");
    std::fs::write(&path, text).expect("write config");
    let p = path.display().to_string();
    let (code, _, err) = cli(&["validate", "--offline", "-c", &p], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`cert` and `key` go together"), "{err}");
}
