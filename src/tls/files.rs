//! Certificates and keys in PEM files: read, checked against each other, written atomically.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
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
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error(cert, "no CERTIFICATE block in the file".into()));
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        pem_error(
            key,
            format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
        )
    })?;
    let signing = provider()
        .key_provider
        .load_private_key(private)
        .map_err(|e| pem_error(key, e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsError::Mismatch {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
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

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash leaves the
/// old file or the new one, never a torn one. `mode` applies from creation on (a key is
/// never readable by others, not even for a moment).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    written.map_err(|source| TlsError::Write {
        path: path.display().to_string(),
        source,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn pem_error(path: &Path, reason: String) -> TlsError {
    TlsError::Pem {
        path: path.display().to_string(),
        reason,
    }
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
