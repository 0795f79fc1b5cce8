//! The TLS configurations of HTTPS checks: the system roots (loaded once per process and
//! shared by every check), a private CA from `ca_file`, or no verification at all
//! (`insecure_skip_verify`, the handshake signature still checked).
//!
//! Part of the probe stage (runner -> **http** -> outcome -> health): [`config_for`] is called
//! once when an HTTP check is built, never per probe.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::tls::provider;

/// The TLS configuration of one check: no verification, its own CA file, or the system roots.
pub(super) fn config_for(
    insecure_skip_verify: bool,
    ca_file: Option<&std::path::Path>,
) -> Result<ClientConfig, String> {
    if insecure_skip_verify {
        insecure_config()
    } else if let Some(path) = ca_file {
        ca_file_config(path)
    } else {
        native_config()
    }
}

/// A configuration trusting `roots`.
fn config_with_roots(roots: Arc<RootCertStore>) -> Result<ClientConfig, String> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The system roots (loaded once per process), in one configuration shared by every check.
fn native_config() -> Result<ClientConfig, String> {
    static NATIVE: OnceLock<Result<ClientConfig, String>> = OnceLock::new();
    NATIVE
        .get_or_init(|| config_with_roots(crate::tls::native_roots()))
        .clone()
}

/// Trusts only the PEM certificates in `path` (a private CA).
fn ca_file_config(path: &std::path::Path) -> Result<ClientConfig, String> {
    let roots = crate::tls::roots_from_file(path).map_err(|e| format!("ca_file: {e}"))?;
    config_with_roots(Arc::new(roots))
}

/// A configuration that accepts any certificate (see [`NoVerify`]).
fn insecure_config() -> Result<ClientConfig, String> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
        .with_no_client_auth())
}

/// `insecure_skip_verify`: accepts any certificate (the handshake signature is still checked).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
