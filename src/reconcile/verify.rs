//! Verify: the last stage of the flow, plan -> provider -> **verify**. After an apply, read
//! the records back and compare them with what was planned; a provider that said "OK" but
//! serves something else is an error, not a success.

use dnsfailback_provider::{Provider, RecordSet};

use crate::config::Service;

/// Reads the service's records and checks each planned set is there with the same answer.
pub async fn read_back(
    provider: &dyn Provider,
    service: &Service,
    want: &[RecordSet],
) -> Result<(), String> {
    let got = provider
        .read(&service.zone, &service.record, service.rtype)
        .await
        .map_err(|e| format!("read-back after apply failed: {e}"))?;
    for w in want {
        if !got.iter().any(|g| g.same_answer(w)) {
            return Err(format!(
                "read-back mismatch: planned {w}, provider serves [{}]",
                got.iter()
                    .map(|g| g.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    Ok(())
}
