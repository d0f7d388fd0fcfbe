//! Certificates and keys in PEM files: read and checked against each other.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::{TlsError, provider};

/// The certificate chain in `cert` (leaf first) with the private key in `key`; refused
/// unless the key is the certificate's.
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    parse(
        &cert_pem,
        &key_pem,
        &cert.display().to_string(),
        &key.display().to_string(),
    )
}

/// The chain in `cert_pem` (leaf first) with the key in `key_pem`; `cert_name` and
/// `key_name` say where they came from in errors.
pub fn parse(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_name: &str,
    key_name: &str,
) -> Result<CertifiedKey, TlsError> {
    let pem_error = |path: &str, reason: String| TlsError::Pem {
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(cert_name, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error(
            cert_name,
            "no CERTIFICATE block in the file".into(),
        ));
    }
    let private = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        pem_error(
            key_name,
            format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
        )
    })?;
    let signing = provider()
        .key_provider
        .load_private_key(private)
        .map_err(|e| pem_error(key_name, e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsError::Mismatch {
        cert: cert_name.to_owned(),
        key: key_name.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(certified)
}

/// What tells a changed file from the same one: replaced (inode), rewritten (mtime) or
/// resized. `None` when the file cannot be looked at.
pub fn stamp(path: &Path) -> Option<(u64, i64, i64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.len()))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused_with_both_paths() {
        let dir = tempfile::tempdir().unwrap();
        let pair = |name: &str| {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let ((cert_a, key_a), (_, key_b)) = (pair("a.example"), pair("b.example"));
        let (cert, key, other) = (
            dir.path().join("a.crt"),
            dir.path().join("a.key"),
            dir.path().join("b.key"),
        );
        std::fs::write(&cert, cert_a).unwrap();
        std::fs::write(&key, key_a).unwrap();
        std::fs::write(&other, key_b).unwrap();
        assert!(load(&cert, &key).is_ok());
        let text = load(&cert, &other).unwrap_err().to_string();
        assert!(
            text.contains("b.key does not belong to the certificate in"),
            "{text}"
        );
        let text = load(&key, &key).unwrap_err().to_string();
        assert!(text.contains("no CERTIFICATE block"), "{text}");
        let text = load(&cert, &cert).unwrap_err().to_string();
        assert!(text.contains("no usable private key"), "{text}");
        let text = load(&dir.path().join("missing.crt"), &key)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("cannot read") && text.contains("missing.crt"),
            "{text}"
        );
    }
}
