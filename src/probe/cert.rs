//! Reads a certificate's expiry (`notAfter`) from its DER bytes, so HTTPS probes can report it
//! and warn before it lapses. Parsed with `x509-parser` (a maintained X.509 parser, already in
//! the build for the tests' certificates): any malformed input gives `None`, never a panic.
//!
//! Flow: http probe -> **cert** -> expiry in the runner's stats and `CertExpiring` failures.

/// `notAfter` of an X.509 certificate as Unix seconds.
pub(crate) fn not_after_unix(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_rcgen_certificate_and_survives_garbage() {
        let mut params = rcgen::CertificateParams::new(vec!["x.test".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 5, 17);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let der = cert.der().to_vec();
        // 2031-05-17T00:00:00Z (`date -u -d 2031-05-17 +%s`)
        assert_eq!(not_after_unix(&der), Some(1_936_742_400));
        for cut in 0..der.len() {
            let _ = not_after_unix(&der[..cut]);
        }
        let mut flipped = der.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = not_after_unix(&flipped);
            flipped[i] ^= 0xff;
        }
        assert_eq!(not_after_unix(&[]), None);
        assert_eq!(not_after_unix(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn a_generalized_time_after_2049_is_read() {
        let mut params = rcgen::CertificateParams::new(vec!["y.test".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2051, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        // 2051-01-01T00:00:00Z (`date -u -d 2051-01-01 +%s`)
        assert_eq!(not_after_unix(&der), Some(2_556_144_000));
    }
}
