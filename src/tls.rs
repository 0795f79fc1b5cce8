//! TLS material from PEM files, for every TLS endpoint of the controller: the admin API's
//! server side (certificate, key and, for mTLS, the client CA), its clients (the CLI and probe
//! agents), the etcd client, and the CA files of HTTPS checks.
//!
//! Outside the decision flow, at the bottom of the layers: it only turns files into rustls
//! configurations, with errors that name the file and say what is wrong with it. A private
//! key's content never appears in an error (only its path), so a pasted key cannot leak into
//! logs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The crypto provider of every TLS configuration of the process (ring, one build for all).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its private key, as two PEM files: what a TLS server presents, and
/// what a client presents for mTLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1). Read when a configuration is built; never
    /// shown, only its path.
    pub key: PathBuf,
}

impl Identity {
    /// The chain and the key, or what is wrong with either file.
    pub fn load(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        Ok((certificates(&self.cert)?, private_key(&self.key)?))
    }
}

/// Every certificate of a PEM file; at least one.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read the certificate file {shown}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the certificate file {shown} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "the certificate file {shown} holds no certificate (expected -----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file. The error names the file, never its content.
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::Io(io) => io.to_string(),
            rustls::pki_types::pem::Error::NoItemsFound => {
                "it holds no private key (expected -----BEGIN PRIVATE KEY-----)".into()
            }
            _ => "it is not a valid PEM private key".into(),
        };
        format!("cannot use the private key file {}: {why}", path.display())
    })
}

/// Trust anchors: every certificate of a PEM file (a private CA).
pub fn roots_from_file(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for c in certificates(path)? {
        roots
            .add(c)
            .map_err(|e| format!("the CA file {}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// The system's trust anchors, loaded once per process (loading them takes milliseconds and
/// thousands of allocations; 10,000 HTTPS checks share one copy).
pub fn native_roots() -> Arc<RootCertStore> {
    static NATIVE: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    NATIVE
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
            if added == 0 {
                tracing::warn!(errors = ?loaded.errors, "no system CA certificates found: TLS peers without a configured CA file will fail verification");
            }
            Arc::new(roots)
        })
        .clone()
}

/// A server configuration presenting `identity`; with `client_ca`, every client must present
/// a certificate signed by it (mTLS), otherwise the handshake fails.
pub fn server_config(
    identity: &Identity,
    client_ca: Option<&Path>,
) -> Result<ServerConfig, String> {
    let (chain, key) = identity.load()?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let builder = match client_ca {
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots_from_file(ca)?),
                provider(),
            )
            .build()
            .map_err(|e| format!("the client CA file {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "the certificate {} and the key {} do not make a usable pair: {e}",
            identity.cert.display(),
            identity.key.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A client configuration trusting `ca` (or the system roots) and presenting `identity` when
/// the server asks for a client certificate.
pub fn client_config(
    ca: Option<&Path>,
    identity: Option<&Identity>,
) -> Result<ClientConfig, String> {
    let roots = match ca {
        Some(ca) => Arc::new(roots_from_file(ca)?),
        None => native_roots(),
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots);
    match identity {
        Some(id) => {
            let (chain, key) = id.load()?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                format!(
                    "the client certificate {} and key {} do not make a usable pair: {e}",
                    id.cert.display(),
                    id.key.display()
                )
            })
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_with_garbage_names_the_file_but_not_the_content() -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("dnsfailback-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let key = dir.join("key.pem");
        let secret =
            "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-MATERIAL\n-----END PRIVATE KEY-----\n";
        std::fs::write(&key, secret).map_err(|e| e.to_string())?;
        let e = private_key(&key).err().unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(e.contains("key.pem"), "{e}");
        assert!(!e.contains("TOP-SECRET"), "{e}");
        Ok(())
    }

    #[test]
    fn a_missing_or_empty_certificate_file_says_which_and_why() -> Result<(), String> {
        let e = certificates(Path::new("/nonexistent/admin.crt"))
            .err()
            .unwrap_or_default();
        assert!(e.contains("/nonexistent/admin.crt"), "{e}");
        let dir = std::env::temp_dir().join(format!("dnsfailback-tls2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let empty = dir.join("empty.crt");
        std::fs::write(&empty, "nothing here\n").map_err(|e| e.to_string())?;
        let e = certificates(&empty).err().unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(e.contains("holds no certificate"), "{e}");
        Ok(())
    }
}
