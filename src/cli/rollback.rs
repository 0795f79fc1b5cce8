//! `dnsfailback rollback CHANGE_ID [--force]`: undo an applied change by the id `history`
//! shows.
//!
//! Beside the flow, entering it at `policy` like every operator command: one POST to the
//! admin API (`/v1/changes/{id}/rollback`); the control loop applies the change's inverse
//! only if the records are still what the change left, and (without `--force`) no newer
//! change of the same records stands. Exit codes: 0 rolled back, 3 waiting for a second
//! operator, 1 refused.

use std::path::Path;

use serde_json::json;

use super::client::AdminClient;
use super::operate::TokenArgs;

/// Asks the running controller to roll back change `id`; prints its answer.
pub async fn rollback(
    config: &Path,
    reach: &super::reach::AdminReach,
    token: &TokenArgs,
    id: i64,
    force: bool,
) -> anyhow::Result<u8> {
    let client = AdminClient::connect(config, reach, token.source().as_ref())?;
    let (status, v) = client
        .post(
            &format!("/v1/changes/{id}/rollback"),
            &json!({ "force": force }),
        )
        .await?;
    super::operate::report(status, &v)
}
