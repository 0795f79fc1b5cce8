//! The HTTP probe's tests against loopback servers: status, body and Host checks, address
//! families, refusals and timeouts, HTTPS verification, SNI and certificate expiry; and the
//! parsing and validation of an http check's spec.
//!
//! Part of the probe stage (runner -> **http** -> outcome -> health): each test builds a
//! [`Prober`] from a spec, as the runner does.

use super::*;
use crate::probe::testutil;
use crate::probe::Prober;

fn spec(url: String) -> CheckSpec {
    let toml =
        format!("kind = \"http\"\nurl = \"{url}\"\ntimeout = \"500ms\"\ninterval = \"1s\"\n");
    toml_spec(&toml)
}

fn toml_spec(s: &str) -> CheckSpec {
    serde_json::from_value(toml_to_json(s)).unwrap()
}

/// Tiny `key = value` reader for tests (the crate's config loader is not ours).
fn toml_to_json(s: &str) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for line in s.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line.split_once('=').unwrap();
        m.insert(
            k.trim().to_string(),
            serde_json::from_str(v.trim()).unwrap(),
        );
    }
    serde_json::Value::Object(m)
}

fn with(mut spec: CheckSpec, f: impl FnOnce(&mut CheckSpec)) -> CheckSpec {
    f(&mut spec);
    spec
}

#[tokio::test]
async fn http_ok_status_body_and_host() {
    let srv = testutil::http_server(false).await;
    let p = Prober::new(&spec(format!("http://{}/ok", srv.addr))).unwrap();
    let o = p.probe().await;
    assert_eq!(o.result, Ok(()), "{o:?}");
    // connection reuse: a second probe works too
    assert_eq!(p.probe().await.result, Ok(()));

    let p = Prober::new(&spec(format!("http://{}/status/503", srv.addr))).unwrap();
    assert_eq!(p.probe().await.result, Err(FailureReason::Status(503)));

    let s = with(spec(format!("http://{}/status/503", srv.addr)), |s| {
        if let CheckSpec::Http { expect_status, .. } = s {
            *expect_status = vec!["200-299".parse().unwrap(), "503".parse().unwrap()];
        }
    });
    assert_eq!(Prober::new(&s).unwrap().probe().await.result, Ok(()));

    let p = Prober::new(&spec(format!("http://{}/redirect", srv.addr))).unwrap();
    assert_eq!(
        p.probe().await.result,
        Err(FailureReason::Status(301)),
        "redirects not followed"
    );
    let s = with(spec(format!("http://{}/redirect", srv.addr)), |s| {
        if let CheckSpec::Http {
            follow_redirects, ..
        } = s
        {
            *follow_redirects = true;
        }
    });
    assert_eq!(Prober::new(&s).unwrap().probe().await.result, Ok(()));

    let s = with(spec(format!("http://{}/ok", srv.addr)), |s| {
        if let CheckSpec::Http { expect_body, .. } = s {
            *expect_body = Some("all good".into());
        }
    });
    assert_eq!(Prober::new(&s).unwrap().probe().await.result, Ok(()));
    let s = with(spec(format!("http://{}/ok", srv.addr)), |s| {
        if let CheckSpec::Http { expect_body, .. } = s {
            *expect_body = Some("healthy".into());
        }
    });
    assert_eq!(
        Prober::new(&s).unwrap().probe().await.result,
        Err(FailureReason::BodyMismatch("\"healthy\"".into()))
    );
    let s = with(spec(format!("http://{}/ok", srv.addr)), |s| {
        if let CheckSpec::Http {
            expect_body_regex, ..
        } = s
        {
            *expect_body_regex = Some(r"all\s+go+d".into());
        }
    });
    assert_eq!(Prober::new(&s).unwrap().probe().await.result, Ok(()));
    let s = with(spec(format!("http://{}/ok", srv.addr)), |s| {
        if let CheckSpec::Http {
            expect_body_regex, ..
        } = s
        {
            *expect_body_regex = Some("^healthy$".into());
        }
    });
    let r = Prober::new(&s).unwrap().probe().await.result;
    assert_eq!(
        r,
        Err(FailureReason::BodyMismatch(r#"regex "^healthy$""#.into()))
    );
    assert_eq!(
        r.unwrap_err().to_string(),
        r#"body does not match regex "^healthy$""#
    );

    let s = with(spec(format!("http://{}/echo-host", srv.addr)), |s| {
        if let CheckSpec::Http {
            host,
            headers,
            method,
            ..
        } = s
        {
            *host = Some("svc.example".into());
            headers.insert("X-Probe".into(), "1".into());
            *method = "head".into();
        }
    });
    assert_eq!(Prober::new(&s).unwrap().probe().await.result, Ok(()));
    let seen = srv.requests();
    let last = seen.last().unwrap();
    assert!(last.starts_with("HEAD /echo-host"), "{last}");
    assert!(
        last.to_ascii_lowercase()
            .contains(&format!("host: svc.example:{}", srv.addr.port())),
        "{last}"
    );
    assert!(last.to_ascii_lowercase().contains("x-probe: 1"), "{last}");
}

#[tokio::test]
async fn http_family_resolution() {
    let srv = testutil::http_server(false).await;
    let url = format!("http://localhost:{}/ok", srv.addr.port());
    let v4 = toml_spec(&format!(
        "kind = \"http\"\nurl = \"{url}\"\nfamily = \"ipv4\"\n"
    ));
    assert_eq!(Prober::new(&v4).unwrap().probe().await.result, Ok(()));
    let v6 = toml_spec(&format!(
        "kind = \"http\"\nurl = \"{url}\"\nfamily = \"ipv6\"\n"
    ));
    match Prober::new(&v6).unwrap().probe().await.result {
        Err(FailureReason::Resolve(_)) | Err(FailureReason::Refused) => {}
        other => panic!("ipv6 must be judged on its own, got {other:?}"),
    }
}

#[tokio::test]
async fn http_refused_and_timeout() {
    let dead = testutil::dead_tcp_port().await;
    let p = Prober::new(&spec(format!("http://{dead}/"))).unwrap();
    assert_eq!(p.probe().await.result, Err(FailureReason::Refused));

    let silent = testutil::tcp_silent().await;
    let p = Prober::new(&spec(format!("http://{silent}/"))).unwrap();
    let o = p.probe().await;
    assert_eq!(o.result, Err(FailureReason::Timeout));
    assert!(o.latency >= Duration::from_millis(500));

    let srv = testutil::http_server(false).await;
    // the /slow path sleeps 2 s before answering
    let p = Prober::new(&spec(format!("http://{}/slow", srv.addr))).unwrap();
    assert_eq!(p.probe().await.result, Err(FailureReason::Timeout));
}

#[tokio::test]
async fn https_verification_sni_and_expiry() {
    let srv = testutil::http_server(true).await;
    let ca = srv.ca_file.clone().unwrap();
    let url = format!("https://localhost:{}/ok", srv.addr.port());

    // self-signed: the system roots do not know it
    let p = Prober::new(&spec(url.clone())).unwrap();
    match p.probe().await.result {
        Err(FailureReason::Tls(m)) => assert!(m.to_lowercase().contains("certificate"), "{m}"),
        other => panic!("expected a TLS failure, got {other:?}"),
    }

    let with_ca = with(spec(url.clone()), |s| {
        if let CheckSpec::Http { ca_file, .. } = s {
            *ca_file = Some(ca.clone());
        }
    });
    let p = Prober::new(&with_ca).unwrap();
    let o = p.probe().await;
    assert_eq!(o.result, Ok(()), "{o:?}");
    let exp = p.cert_not_after().expect("expiry known after a handshake");
    let days = exp.duration_since(SystemTime::now()).unwrap().as_secs() / 86_400;
    assert!(
        (29..=30).contains(&days),
        "cert made for 30 days, got {days}"
    );

    let insecure = with(spec(url.clone()), |s| {
        if let CheckSpec::Http {
            insecure_skip_verify,
            ..
        } = s
        {
            *insecure_skip_verify = true;
        }
    });
    assert_eq!(Prober::new(&insecure).unwrap().probe().await.result, Ok(()));

    // expiring soon
    let strict = with(with_ca.clone(), |s| {
        if let CheckSpec::Http {
            cert_min_validity, ..
        } = s
        {
            *cert_min_validity = Some(Duration::from_secs(60 * 86_400));
        }
    });
    match Prober::new(&strict).unwrap().probe().await.result {
        Err(FailureReason::CertExpiring(d)) => assert!((29..=30).contains(&d), "{d}"),
        other => panic!("expected CertExpiring, got {other:?}"),
    }

    // wrong name: connect to 127.0.0.1 but ask for a name not in the certificate
    let wrong = with(with_ca.clone(), |s| {
        if let CheckSpec::Http { url, host, .. } = s {
            *url = format!("https://127.0.0.1:{}/ok", srv.addr.port());
            *host = Some("other.example".into());
        }
    });
    match Prober::new(&wrong).unwrap().probe().await.result {
        Err(FailureReason::Tls(m)) => assert!(m.contains("certificate"), "{m}"),
        other => panic!("expected a TLS name failure, got {other:?}"),
    }
    // right name through an IP URL: SNI and Host both set from `host`
    let right = with(with_ca.clone(), |s| {
        if let CheckSpec::Http { url, host, .. } = s {
            *url = format!("https://127.0.0.1:{}/ok", srv.addr.port());
            *host = Some("localhost".into());
        }
    });
    assert_eq!(Prober::new(&right).unwrap().probe().await.result, Ok(()));
    assert_eq!(srv.snis().last().map(String::as_str), Some("localhost"));
}

#[tokio::test]
async fn https_expired_certificate_is_tls_failure() {
    let srv = testutil::http_server_expired().await;
    let s = with(
        spec(format!("https://localhost:{}/ok", srv.addr.port())),
        |s| {
            if let CheckSpec::Http { ca_file, .. } = s {
                *ca_file = srv.ca_file.clone();
            }
        },
    );
    match Prober::new(&s).unwrap().probe().await.result {
        Err(FailureReason::Tls(m)) => assert!(m.to_lowercase().contains("expired"), "{m}"),
        other => panic!("expected an expired-certificate failure, got {other:?}"),
    }
}

#[test]
fn spec_parsing_and_validation() {
    let s = toml_spec(
        "kind = \"http\"\nurl = \"https://x.test/h\"\nexpect_status = [\"200-299\", 301, \"4xx\"]\nrole = \"liveness\"\nrecheck = 3\nrecheck_interval = \"50ms\"\ninterval = \"100ms\"\n",
    );
    let CheckSpec::Http { expect_status, .. } = &s else {
        panic!()
    };
    assert_eq!(expect_status.len(), 3);
    assert!(expect_status[2].contains(404) && !expect_status[2].contains(500));
    assert_eq!(s.role(), crate::probe::Role::Liveness);
    let sch = s.schedule();
    assert_eq!(
        (sch.interval, sch.timeout, sch.recheck),
        (Duration::from_millis(100), Duration::from_millis(100), 3)
    );
    s.validate().unwrap();

    assert!(serde_json::from_value::<CheckSpec>(toml_to_json(
        "kind = \"http\"\nurl = \"http://x\"\nbogus = 1\n"
    ))
    .is_err());
    assert!(serde_json::from_value::<CheckSpec>(toml_to_json(
        "kind = \"http\"\nurl = \"http://x\"\nexpect_status = [\"600\"]\n"
    ))
    .is_err());
    assert!(serde_json::from_value::<CheckSpec>(toml_to_json(
        "kind = \"http\"\nurl = \"http://x\"\nexpect_status = [\"299-200\"]\n"
    ))
    .is_err());
    assert!(spec("ftp://x/".into()).validate().is_err());
    assert!(spec("not a url".into()).validate().is_err());
    assert!(
        toml_spec("kind = \"http\"\nurl = \"http://x\"\ninterval = \"50ms\"\n")
            .validate()
            .is_err()
    );
    assert!(toml_spec(
        "kind = \"http\"\nurl = \"http://x\"\ninterval = \"1s\"\ntimeout = \"2s\"\n"
    )
    .validate()
    .is_err());
    assert!(
        toml_spec("kind = \"http\"\nurl = \"http://x\"\nca_file = \"/nonexistent/ca.pem\"\n")
            .validate()
            .is_err()
    );
    assert!(
        toml_spec("kind = \"http\"\nurl = \"http://x\"\nmethod = \"G E T\"\n")
            .validate()
            .is_err()
    );
    assert!(
        toml_spec("kind = \"http\"\nurl = \"http://127.0.0.1/\"\nfamily = \"ipv6\"\n")
            .validate()
            .is_err()
    );
    // round trip
    let back: CheckSpec = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}
