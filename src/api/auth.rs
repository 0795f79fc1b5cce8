//! Bearer-token authentication for the admin API, and the token's zero-setup default.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dnsfailback_provider::{Secret, SecretSource};

use super::ApiState;

/// Marker for documentation: every `/v1` route requires `Authorization: Bearer <token>`.
pub struct BearerAuth;

/// Compares in constant time, so the token cannot be guessed byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) async fn require_token(State(s): State<ApiState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if same(t.trim().as_bytes(), s.token.expose().as_bytes()) => next.run(req).await,
        Some(_) => {
            tracing::warn!(path = %req.uri().path(), "admin API: refused request with a wrong bearer token");
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"error": "wrong bearer token"})),
            )
                .into_response()
        }
        None => {
            tracing::warn!(path = %req.uri().path(), "admin API: refused request without a bearer token");
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"error": "missing `Authorization: Bearer <token>`"})),
            )
                .into_response()
        }
    }
}

/// The admin token: from the configured source, else from `token_file`, created there with
/// a random value (mode 0600) on first start so the CLI on the same machine needs no setup.
pub fn load_or_create_token(
    source: Option<&SecretSource>,
    token_file: &Path,
) -> Result<Secret, String> {
    if let Some(src) = source {
        return src
            .load()
            .map_err(|e| format!("controller.admin_token: {e}"));
    }
    if token_file.exists() {
        return SecretSource {
            env: None,
            file: Some(token_file.to_path_buf()),
        }
        .load();
    }
    let mut bytes = [0u8; 24];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for a token: {e}"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(token_file, &token).map_err(|e| {
        format!(
            "cannot write the admin token to {}: {e}",
            token_file.display()
        )
    })?;
    tracing::info!("generated an admin token in {}", token_file.display());
    Ok(Secret::new(token))
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}
