//! The user's own metric for canary gates (e.g. the primary's 5xx ratio from Prometheus),
//! fetched by the control loop during a canary and handed to the pure gate evaluation.
//!
//! Sits between health and policy: `decide` never does I/O; this module reads the number.

use std::time::Duration;

/// Reads a number from `url`: either the body is a plain number, or a Prometheus instant
/// query answer (`data.result[0].value[1]`). Errors say what was wrong with the answer.
pub async fn fetch(url: &str) -> Result<f64, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("metrics gate: GET {url}: {e}"))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| format!("metrics gate: reading {url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("metrics gate: {url} answered {status}"));
    }
    parse(&body).map_err(|e| format!("metrics gate: {url}: {e}"))
}

/// Parses the answer; see [`fetch`].
pub fn parse(body: &str) -> Result<f64, String> {
    if let Ok(v) = body.trim().parse::<f64>() {
        return finite(v);
    }
    let json: serde_json::Value = serde_json::from_str(body)
        .map_err(|_| "the answer is neither a number nor JSON".to_string())?;
    let value = json.pointer("/data/result/0/value/1").ok_or_else(|| {
        "no sample in the answer (expected a Prometheus instant query with one result)".to_string()
    })?;
    let v = match value {
        serde_json::Value::String(s) => s
            .parse::<f64>()
            .map_err(|_| format!("sample value `{s}` is not a number"))?,
        serde_json::Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| "sample value is not a number".to_string())?,
        other => return Err(format!("sample value {other} is not a number")),
    };
    finite(v)
}

fn finite(v: f64) -> Result<f64, String> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("the value {v} is not a finite number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_and_prometheus_answers() {
        assert_eq!(parse("0.004\n"), Ok(0.004));
        let prom = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"0.02"]}]}}"#;
        assert_eq!(parse(prom), Ok(0.02));
        assert!(
            parse(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#)
                .err()
                .unwrap_or_default()
                .contains("no sample")
        );
        assert!(parse("NaN").is_err());
        assert!(parse("<html>").is_err());
    }

    #[tokio::test]
    async fn fetch_reads_a_live_endpoint_and_reports_failures() {
        let backend =
            crate::backend::Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        // The test backend answers "ok": not a number, so the gate must fail loudly.
        let e = fetch(&format!("http://{}/q", backend.addr()))
            .await
            .err()
            .unwrap_or_default();
        assert!(e.contains("neither a number nor JSON"), "{e}");
        let addr = backend.addr();
        drop(backend);
        assert!(fetch(&format!("http://{addr}/q")).await.is_err());
    }
}
