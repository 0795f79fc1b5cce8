//! AWS credentials for signing Route 53 requests, resolved once when the provider is built.
//!
//! Part of the provider step (plan -> **provider** -> verify): every request the adapter sends
//! is SigV4-signed with these keys. Resolution order, first match wins:
//!
//! 1. `access_key_id` + `secret_access_key` (+ `session_token`) from the config, each a
//!    [`SecretSource`] (environment variable or file);
//! 2. when the config names a `profile`: that profile in the shared credentials file, then in
//!    the shared config file;
//! 3. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`;
//! 4. profile `AWS_PROFILE` (or `default`) in `AWS_SHARED_CREDENTIALS_FILE` (or
//!    `~/.aws/credentials`), then in `AWS_CONFIG_FILE` (or `~/.aws/config`).
//!
//! Instance roles, SSO and `credential_process` are not supported (see the docs). The secret
//! key and session token are kept as [`Secret`]s, so they never appear in `Debug` output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dnsfailback_provider::{Secret, SecretSource};

use crate::config::Config;

/// Static AWS credentials; `Debug` prints the key id only.
#[derive(Debug, Clone)]
pub struct AwsCredentials {
    /// The public half (`AKIA...`), safe to log: it names the key in error messages.
    pub access_key_id: String,
    /// The signing secret; only exposed to the signer.
    pub secret_access_key: Secret,
    /// Session token of temporary credentials (STS), sent as `x-amz-security-token`.
    pub session_token: Option<Secret>,
    /// Where the keys came from, for error messages ("env", "profile default in ...").
    pub origin: String,
}

/// Where to look, so tests can resolve credentials without touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// Environment variables (`AWS_*`, `HOME`).
    pub vars: BTreeMap<String, String>,
}

impl Environment {
    /// A snapshot of the relevant variables of this process.
    pub fn from_process() -> Self {
        let vars = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_") || k == "HOME")
            .collect();
        Environment { vars }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    fn home_file(&self, var: &str, rel: &str) -> Option<PathBuf> {
        if let Some(p) = self.get(var) {
            return Some(PathBuf::from(p));
        }
        self.get("HOME").map(|h| Path::new(h).join(rel))
    }
}

/// Resolves credentials in the order described in the module docs; the error explains every
/// place that was tried, never a secret value.
pub fn resolve(config: &Config, env: &Environment) -> Result<AwsCredentials, String> {
    if let (Some(id_src), Some(secret_src)) = (&config.access_key_id, &config.secret_access_key) {
        return from_sources(id_src, secret_src, config.session_token.as_ref());
    }
    let mut tried = Vec::new();
    if let Some(profile) = &config.profile {
        return from_profile(profile, env, &mut tried).and_then(|c| {
            c.ok_or_else(|| {
                format!(
                    "profile `{profile}` has no aws_access_key_id/aws_secret_access_key (looked in {})",
                    tried.join(", ")
                )
            })
        });
    }
    if let (Some(id), Some(secret)) = (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        return Ok(AwsCredentials {
            access_key_id: id.to_string(),
            secret_access_key: Secret::new(secret),
            session_token: env.get("AWS_SESSION_TOKEN").map(Secret::new),
            origin: "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".into(),
        });
    }
    tried.push("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (not both set)".into());
    let profile = env.get("AWS_PROFILE").unwrap_or("default").to_string();
    match from_profile(&profile, env, &mut tried)? {
        Some(c) => Ok(c),
        None => Err(format!(
            "no AWS credentials found; tried {}. Set `access_key_id`/`secret_access_key` in the \
             provider config, export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add a \
             profile to ~/.aws/credentials",
            tried.join(", ")
        )),
    }
}

fn from_sources(
    id: &SecretSource,
    secret: &SecretSource,
    token: Option<&SecretSource>,
) -> Result<AwsCredentials, String> {
    let access_key_id = id.load().map_err(|e| format!("access_key_id: {e}"))?;
    let secret_access_key = secret
        .load()
        .map_err(|e| format!("secret_access_key: {e}"))?;
    let session_token = match token {
        Some(t) => Some(t.load().map_err(|e| format!("session_token: {e}"))?),
        None => None,
    };
    Ok(AwsCredentials {
        access_key_id: access_key_id.expose().to_string(),
        secret_access_key,
        session_token,
        origin: "provider configuration".into(),
    })
}

fn from_profile(
    profile: &str,
    env: &Environment,
    tried: &mut Vec<String>,
) -> Result<Option<AwsCredentials>, String> {
    // The credentials file names sections `[name]`; the config file `[profile name]`
    // (except `[default]`).
    let candidates = [
        (
            env.home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
            profile.to_string(),
        ),
        (
            env.home_file("AWS_CONFIG_FILE", ".aws/config"),
            if profile == "default" {
                "default".to_string()
            } else {
                format!("profile {profile}")
            },
        ),
    ];
    for (path, section) in candidates {
        let Some(path) = path else { continue };
        tried.push(format!("[{section}] in {}", path.display()));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let ini = parse_ini(&text);
        let Some(keys) = ini.get(&section) else {
            continue;
        };
        match (
            keys.get("aws_access_key_id"),
            keys.get("aws_secret_access_key"),
        ) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                return Ok(Some(AwsCredentials {
                    access_key_id: id.clone(),
                    secret_access_key: Secret::new(secret.clone()),
                    session_token: keys
                        .get("aws_session_token")
                        .filter(|t| !t.is_empty())
                        .map(|t| Secret::new(t.clone())),
                    origin: format!("profile `{profile}` in {}", path.display()),
                }))
            }
            _ => {
                if keys.contains_key("role_arn")
                    || keys.contains_key("sso_session")
                    || keys.contains_key("credential_process")
                {
                    return Err(format!(
                        "profile `{profile}` in {} uses role_arn/SSO/credential_process, which \
                         this adapter does not support; give static keys (e.g. exported by \
                         `aws configure export-credentials`)",
                        path.display()
                    ));
                }
            }
        }
    }
    Ok(None)
}

/// A minimal INI reader for the AWS shared files: `[section]`, `key = value`, `#`/`;` comments.
fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.trim_end_matches(']').trim();
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            current = Some(name);
            continue;
        }
        if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment {
            vars: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn env_vars_are_used() -> Result<(), String> {
        let c = resolve(
            &Config::default(),
            &env(&[
                ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
                ("AWS_SECRET_ACCESS_KEY", "very-secret-value"),
                ("AWS_SESSION_TOKEN", "tok"),
            ]),
        )?;
        assert_eq!(c.access_key_id, "AKIDTEST");
        assert_eq!(c.secret_access_key.expose(), "very-secret-value");
        assert!(c.session_token.is_some());
        assert!(!format!("{c:?}").contains("very-secret-value"));
        Ok(())
    }

    #[test]
    fn profile_from_shared_files() -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("r53-cred-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let creds = dir.join("credentials");
        let conf = dir.join("config");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n\
             # comment\n[ops]\naws_access_key_id=AKIDOPS\naws_secret_access_key=s2\n",
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(
            &conf,
            "[profile cfgonly]\naws_access_key_id = AKIDCFG\naws_secret_access_key = s3\n\
             [profile role]\nrole_arn = arn:aws:iam::1:role/x\n",
        )
        .map_err(|e| e.to_string())?;
        let e = env(&[
            ("AWS_SHARED_CREDENTIALS_FILE", &creds.display().to_string()),
            ("AWS_CONFIG_FILE", &conf.display().to_string()),
        ]);
        assert_eq!(
            resolve(&Config::default(), &e)?.access_key_id,
            "AKIDDEFAULT"
        );
        let with = |p: &str| Config {
            profile: Some(p.into()),
            ..Config::default()
        };
        assert_eq!(resolve(&with("ops"), &e)?.access_key_id, "AKIDOPS");
        assert_eq!(resolve(&with("cfgonly"), &e)?.access_key_id, "AKIDCFG");
        let err = resolve(&with("role"), &e).err().unwrap_or_default();
        assert!(err.contains("role_arn"), "{err}");
        let err = resolve(&with("missing"), &e).err().unwrap_or_default();
        assert!(err.contains("profile `missing`"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn nothing_found_explains_where_it_looked() {
        let err = resolve(&Config::default(), &env(&[("HOME", "/nonexistent-home")]))
            .err()
            .unwrap_or_default();
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        assert!(err.contains("/nonexistent-home/.aws/credentials"), "{err}");
    }
}
