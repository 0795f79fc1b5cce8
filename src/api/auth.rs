//! Who is calling the admin API, and what they may do: named bearer tokens with roles.
//!
//! Beside the flow (operator -> api -> policy): every `/v1` request passes [`require_token`]
//! first. It finds the caller's token in the [`TokenTable`] by constant-time comparison,
//! attaches a [`Caller`] (name and role) to the request for the handlers (the name becomes the
//! actor in the audit trail), and enforces the roles: read-only tokens may only GET/HEAD,
//! operator tokens may also POST commands, and agent tokens may only POST their own report
//! (`/v1/agents/{name}/report`), which no other role may.
//! Refusals (401/403) are logged with the path and, when known, the token's name, never
//! the token itself.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dnsfailback_provider::{Secret, SecretSource};

use crate::config::ControllerConfig;
pub use crate::config::Role;

use super::ApiState;

/// One loaded token: the name is who acts (audit actor), the role what they may do.
#[derive(Clone)]
pub struct ApiToken {
    /// Who acts; written to the audit trail, shown in logs instead of the secret.
    pub name: String,
    /// Read-only callers may GET; operators may also POST commands and approvals; agents may
    /// only POST their own reports.
    pub role: Role,
    /// The bearer value; only compared, never logged or returned.
    pub secret: Secret,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The authenticated caller, attached to each request by [`require_token`] so handlers know
/// the actor without seeing the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name (the actor).
    pub name: String,
    /// The token's role.
    pub role: Role,
}

/// Every token the API accepts. Built once at start-up; names and secrets are distinct so a
/// presented token identifies exactly one actor.
#[derive(Debug, Clone)]
pub struct TokenTable {
    tokens: Vec<ApiToken>,
}

impl TokenTable {
    /// Checks the table: at least one token, distinct names, distinct values (two names
    /// sharing a value would make the audit actor ambiguous). Errors name tokens, not values.
    pub fn new(tokens: Vec<ApiToken>) -> Result<TokenTable, String> {
        if tokens.is_empty() {
            return Err("the admin API needs at least one token".into());
        }
        for (i, a) in tokens.iter().enumerate() {
            for b in &tokens[..i] {
                if a.name == b.name {
                    return Err(format!("two admin tokens are named `{}`", a.name));
                }
                if same(a.secret.expose().as_bytes(), b.secret.expose().as_bytes()) {
                    return Err(format!(
                        "admin tokens `{}` and `{}` have the same value; give each operator their own token",
                        b.name, a.name
                    ));
                }
            }
        }
        Ok(TokenTable { tokens })
    }

    /// The zero-setup case: one token named `admin` with the operator role.
    pub fn single_admin(secret: Secret) -> TokenTable {
        TokenTable {
            tokens: vec![ApiToken {
                name: "admin".into(),
                role: Role::Operator,
                secret,
            }],
        }
    }

    /// The token whose value is `given`. Compares against every token in constant time per
    /// token, so timings reveal neither the value nor which token matched.
    pub fn identify(&self, given: &str) -> Option<&ApiToken> {
        let mut found = None;
        for t in &self.tokens {
            if same(given.as_bytes(), t.secret.expose().as_bytes()) && found.is_none() {
                found = Some(t);
            }
        }
        found
    }

    /// Names and roles, for the start-up log line (never values).
    pub fn describe(&self) -> String {
        self.tokens
            .iter()
            .map(|t| format!("{} ({})", t.name, role_label(t.role)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How a role is written in the configuration and in messages.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::ReadOnly => "read-only",
        Role::Operator => "operator",
        Role::Agent => "agent",
    }
}

/// Compares in constant time (`subtle`, which keeps the optimiser from turning the loop into
/// an early exit), so the token cannot be guessed byte by byte from timings. Only the length
/// can be learnt, which says nothing about the value.
fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

fn refuse(status: StatusCode, msg: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
}

/// The token of an `Authorization: Bearer ...` header, if the request has one.
pub(super) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Authenticates, attaches the [`Caller`], and enforces the role: read-only tokens may only
/// read (GET/HEAD); agent tokens may only POST a report (`/v1/agents/{name}/report`, the
/// handler checks the name) and nothing else; the report route is for agent tokens only.
pub(super) async fn require_token(
    State(s): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    let Some(given) = bearer(req.headers()) else {
        tracing::warn!(path = %path, "admin API: refused request without a bearer token");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing `Authorization: Bearer <token>`".into(),
        );
    };
    let Some(token) = s.tokens.identify(given) else {
        tracing::warn!(path = %path, "admin API: refused request with a wrong bearer token");
        return refuse(StatusCode::UNAUTHORIZED, "wrong bearer token".into());
    };
    let method = req.method().clone();
    if let Err(msg) = allowed(token, &method, &path) {
        tracing::warn!(
            path = %path,
            token = %token.name,
            "admin API: refused {method} by {} token `{}`",
            role_label(token.role),
            token.name
        );
        return refuse(StatusCode::FORBIDDEN, msg);
    }
    req.extensions_mut().insert(Caller {
        name: token.name.clone(),
        role: token.role,
    });
    next.run(req).await
}

/// The report route for agent `name` (what an agent posts to).
pub fn report_path(name: &str) -> String {
    format!("/v1/agents/{name}/report")
}

/// The agent named in `path` when `path` is a report route (`/v1/agents/{name}/report`).
pub(super) fn report_route_agent(path: &str) -> Option<&str> {
    let name = path.strip_prefix("/v1/agents/")?.strip_suffix("/report")?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// What each role may do; the error is the 403 message (names the token, never its value).
fn allowed(token: &ApiToken, method: &Method, path: &str) -> Result<(), String> {
    let reads = matches!(*method, Method::GET | Method::HEAD);
    let report = *method == Method::POST && report_route_agent(path).is_some();
    match token.role {
        Role::Agent if report => Ok(()),
        Role::Agent => Err(format!(
            "forbidden: token `{}` is an agent token; it may only POST {}, not {method} {path}",
            token.name,
            report_path(&token.name)
        )),
        _ if report => Err(format!(
            "forbidden: token `{}` is {}; POST {path} is only for the agent's own token",
            token.name,
            match token.role {
                Role::ReadOnly => "read-only",
                _ => "an operator token",
            }
        )),
        Role::ReadOnly if !reads => Err(format!(
            "forbidden: token `{}` is read-only; {method} {path} needs an operator token",
            token.name
        )),
        Role::ReadOnly | Role::Operator => Ok(()),
    }
}

/// Loads every token the API accepts. With `controller.admin_tokens` set, each named token is
/// read from its source (an error names the token, never a value); otherwise the single
/// `admin_token` (or the generated one) is an operator token named `admin`.
pub fn load_tokens(c: &ControllerConfig) -> Result<TokenTable, String> {
    if c.admin_tokens.is_empty() {
        return load_or_create_token(c.admin_token.as_ref(), &c.token_file())
            .map(TokenTable::single_admin);
    }
    if c.admin_token.is_some() {
        tracing::warn!(
            "controller.admin_token is ignored because controller.admin_tokens is set; \
             give that token a name and role in admin_tokens to keep using it"
        );
    }
    let mut tokens = Vec::with_capacity(c.admin_tokens.len());
    for t in &c.admin_tokens {
        let secret = t.token.load().map_err(|e| {
            format!(
                "controller.admin_tokens: cannot load the token named `{}`: {e}",
                t.name
            )
        })?;
        tokens.push(ApiToken {
            name: t.name.clone(),
            role: t.role,
            secret,
        });
    }
    TokenTable::new(tokens).map_err(|e| format!("controller.admin_tokens: {e}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_routes_are_recognised() {
        assert_eq!(report_route_agent("/v1/agents/edge/report"), Some("edge"));
        assert_eq!(report_route_agent("/v1/agents//report"), None);
        assert_eq!(report_route_agent("/v1/agents/a/b/report"), None);
        assert_eq!(report_route_agent("/v1/agents/edge"), None);
        assert_eq!(report_route_agent("/v1/status"), None);
        assert_eq!(report_path("edge"), "/v1/agents/edge/report");
    }

    fn tok(name: &str, role: Role, secret: &str) -> ApiToken {
        ApiToken {
            name: name.into(),
            role,
            secret: Secret::new(secret),
        }
    }

    #[test]
    fn identifies_each_token_by_value() {
        let t = TokenTable::new(vec![
            tok("alice", Role::Operator, "secret-a"),
            tok("viewer", Role::ReadOnly, "secret-v"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t.identify("secret-a").map(|x| x.name.as_str()),
            Some("alice")
        );
        assert_eq!(t.identify("secret-v").map(|x| x.role), Some(Role::ReadOnly));
        assert!(t.identify("secret-").is_none());
        assert!(t.identify("").is_none());
        let d = t.describe();
        assert!(
            d.contains("viewer (read-only)") && !d.contains("secret"),
            "{d}"
        );
    }

    #[test]
    fn shared_values_and_names_are_refused_without_the_value() {
        let e = TokenTable::new(vec![
            tok("alice", Role::Operator, "same-value"),
            tok("bob", Role::Operator, "same-value"),
        ])
        .err()
        .unwrap_or_default();
        assert!(
            e.contains("`alice` and `bob`") && !e.contains("same-value"),
            "{e}"
        );
        let e = TokenTable::new(vec![
            tok("alice", Role::Operator, "a"),
            tok("alice", Role::ReadOnly, "b"),
        ])
        .err()
        .unwrap_or_default();
        assert!(e.contains("named `alice`"), "{e}");
        assert!(TokenTable::new(Vec::new()).is_err());
    }

    #[test]
    fn load_error_names_the_token_not_the_value() {
        let text = r#"
[controller]
state = "/nonexistent/state.db"
[[controller.admin_tokens]]
name = "carol"
role = "operator"
token = { env = "DNSFAILBACK_UNIT_SURELY_UNSET_7731" }

[providers.local]
kind = "embedded"
listen = "127.0.0.1:0"

[services.shop]
provider = "local"
zone = "example.test"
name = "shop.example.test"
type = "A"
[[services.shop.targets]]
name = "primary"
address = "127.0.0.11"
priority = 1
[[services.shop.targets.checks]]
kind = "tcp"
address = "127.0.0.1:9"
"#;
        let (config, _) = crate::config::validate::parse(Path::new("unit.toml"), text)
            .unwrap_or_else(|e| panic!("{e}"));
        let e = load_tokens(&config.controller).err().unwrap_or_default();
        assert!(
            e.contains("`carol`") && e.contains("DNSFAILBACK_UNIT_SURELY_UNSET_7731"),
            "{e}"
        );
    }
}
