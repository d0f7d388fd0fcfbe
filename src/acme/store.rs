//! The `acme/` folder in the data dir: the account (`account.json`) and the current
//! certificate (`certificate.pem`: the chain, then its private key). Both files are 0600 in
//! a 0700 folder and replaced by write-to-temp + fsync + rename, so a crash or `kill -9`
//! leaves the old file or the new one, never half of one — and the chain and its key, being
//! one file, can never come from two different issuances.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{KeyPair, PublicKeyData};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::*;

use super::AcmeError;

const ACCOUNT_FILE: &str = "account.json";
const CERTIFICATE_FILE: &str = "certificate.pem";

#[derive(Debug, Clone)]
pub struct CertStore {
    dir: PathBuf,
}

/// A certificate chain with its key, checked to belong together.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCert {
    /// Leaf first, then the intermediates, PEM.
    pub chain_pem: String,
    /// PKCS#8 PEM.
    pub key_pem: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// The leaf's DNS names.
    pub domains: Vec<String>,
}

impl std::fmt::Debug for StoredCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCert")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("domains", &self.domains)
            .finish_non_exhaustive()
    }
}

impl StoredCert {
    /// Parses a chain and a key, refusing a chain whose leaf does not match the key.
    pub fn parse(chain_pem: &str, key_pem: &str) -> Result<StoredCert, AcmeError> {
        let bad = |reason: String| AcmeError::Certificate(reason);
        let leaf = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .next()
            .ok_or_else(|| bad("the chain holds no certificate".into()))?
            .map_err(|e| bad(format!("the chain is not PEM: {e}")))?;
        let (_, cert) = X509Certificate::from_der(&leaf)
            .map_err(|e| bad(format!("the leaf certificate does not parse: {e}")))?;
        let key = KeyPair::from_pem(key_pem)
            .map_err(|e| bad(format!("the private key does not parse: {e}")))?;
        if cert.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(bad(
                "the private key does not belong to the certificate".into()
            ));
        }
        let domains = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let validity = cert.validity();
        Ok(StoredCert {
            chain_pem: chain_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            not_before: to_system_time(validity.not_before.timestamp()),
            not_after: to_system_time(validity.not_after.timestamp()),
            domains,
        })
    }

    fn to_file(&self) -> String {
        let mut text = self.chain_pem.trim_end().to_owned();
        text.push('\n');
        text.push_str(self.key_pem.trim_end());
        text.push('\n');
        text
    }

    fn from_file(text: &str) -> Result<StoredCert, AcmeError> {
        // Every PEM block but the key is part of the chain.
        let key_start = text
            .find("-----BEGIN PRIVATE KEY-----")
            .ok_or_else(|| AcmeError::Certificate("the file holds no PKCS#8 private key".into()))?;
        let key_pem = &text[key_start..];
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| AcmeError::Certificate(format!("the private key is not PEM: {e}")))?;
        StoredCert::parse(&text[..key_start], key_pem)
    }
}

fn to_system_time(unix_secs: i64) -> SystemTime {
    if unix_secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(unix_secs.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(unix_secs.unsigned_abs())
    }
}

impl CertStore {
    /// The store under `<data_dir>/acme`.
    pub fn new(data_dir: &Path) -> CertStore {
        CertStore {
            dir: data_dir.join("acme"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn certificate_path(&self) -> PathBuf {
        self.dir.join(CERTIFICATE_FILE)
    }

    /// The current certificate, or `None` when none was issued yet. A damaged file is an
    /// error (the caller logs it and orders a new certificate, which replaces the file).
    pub fn load_certificate(&self) -> Result<Option<StoredCert>, AcmeError> {
        let path = self.certificate_path();
        match self.read(&path)? {
            None => Ok(None),
            Some(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| {
                    AcmeError::Certificate(format!("{} is not text", path.display()))
                })?;
                StoredCert::from_file(&text)
                    .map(Some)
                    .map_err(|e| AcmeError::Certificate(format!("{}: {e}", path.display())))
            }
        }
    }

    pub fn save_certificate(&self, cert: &StoredCert) -> Result<(), AcmeError> {
        self.write_private(&self.certificate_path(), cert.to_file().as_bytes())
    }

    pub(crate) fn load_account(&self) -> Result<Option<Vec<u8>>, AcmeError> {
        self.read(&self.dir.join(ACCOUNT_FILE))
    }

    pub(crate) fn save_account(&self, json: &[u8]) -> Result<(), AcmeError> {
        self.write_private(&self.dir.join(ACCOUNT_FILE), json)
    }

    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, AcmeError> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(AcmeError::Storage {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// A 0600 file in the 0700 folder, replaced atomically (`disk::write_atomic`).
    fn write_private(&self, path: &Path, bytes: &[u8]) -> Result<(), AcmeError> {
        let storage = |path: &Path| {
            let path = path.to_owned();
            move |source| AcmeError::Storage { path, source }
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(storage(&self.dir))?;
        crate::disk::write_atomic(path, bytes, 0o600).map_err(storage(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn self_signed(domain: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![domain.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_certificate_round_trips_through_a_private_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = CertStore::new(tmp.path());
        assert!(store.load_certificate().unwrap().is_none());

        let (chain, key) = self_signed("tv.example.com");
        let cert = StoredCert::parse(&chain, &key).unwrap();
        assert_eq!(cert.domains, ["tv.example.com"]);
        assert!(cert.not_after > cert.not_before);
        store.save_certificate(&cert).unwrap();

        let loaded = store.load_certificate().unwrap().unwrap();
        assert_eq!(loaded.domains, cert.domains);
        assert_eq!(loaded.not_after, cert.not_after);
        assert_eq!(loaded.key_pem.trim(), key.trim());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store.certificate_path()), 0o600);
        assert_eq!(mode(store.dir()), 0o700);
        let leftovers: Vec<_> = fs::read_dir(store.dir()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file stays behind");

        // A temp file left by a write that crashed (and perhaps readable by others) is
        // neither loaded nor in the way of the next write.
        let stale = store.dir().join(".certificate.pem.tmp");
        fs::write(&stale, "torn").unwrap();
        fs::set_permissions(&stale, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            store.load_certificate().unwrap().unwrap().not_after,
            cert.not_after
        );
        store.save_certificate(&cert).unwrap();
        assert!(!stale.exists());
        assert_eq!(mode(&store.certificate_path()), 0o600);
    }

    #[test]
    fn a_key_from_another_certificate_is_refused() {
        let (chain, _) = self_signed("tv.example.com");
        let (_, other_key) = self_signed("tv.example.com");
        let err = StoredCert::parse(&chain, &other_key).unwrap_err();
        assert!(
            err.to_string()
                .contains("the private key does not belong to the certificate"),
            "{err}"
        );
    }

    #[test]
    fn a_damaged_file_is_reported_not_taken_for_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = CertStore::new(tmp.path());
        fs::create_dir_all(store.dir()).unwrap();
        fs::write(
            store.certificate_path(),
            "-----BEGIN CERTIFICATE-----\ntrunc",
        )
        .unwrap();
        let err = store.load_certificate().unwrap_err().to_string();
        assert!(err.contains("certificate.pem"), "{err}");
    }
}
