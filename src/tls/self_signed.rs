//! The certificate used when the operator configured none: made once with rcgen on first
//! start, stored in the data dir and reused afterwards, so browsers that were told to trust
//! it keep trusting it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls::sign::CertifiedKey;

use super::{TlsError, files};

/// `<data-dir>/tls/cert.pem` and `key.pem` (the layout `ops` backs up and `doctor` checks).
pub struct SelfSigned {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl SelfSigned {
    pub fn in_data_dir(root: &Path) -> Self {
        let dir = root.join("tls");
        SelfSigned {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    /// The stored certificate, or a new one for `names` when there is none (or only half
    /// of one: a crash between writing the key and the certificate).
    pub fn load_or_create(&self, names: &[String]) -> Result<CertifiedKey, TlsError> {
        if self.cert.exists() && self.key.exists() {
            return files::load(&self.cert, &self.key);
        }
        if let Some(dir) = self.cert.parent() {
            std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, "Marquee (self-signed)");
        params.distinguished_name = subject;
        let cert = params.self_signed(&key)?;
        // Key first: a certificate on disk always has its key beside it.
        for (path, text, mode) in [
            (&self.key, key.serialize_pem(), 0o600),
            (&self.cert, cert.pem(), 0o644),
        ] {
            crate::disk::write_atomic(path, text.as_bytes(), mode).map_err(|source| {
                TlsError::Write {
                    path: path.display().to_string(),
                    source,
                }
            })?;
        }
        files::load(&self.cert, &self.key)
    }
}

/// The names a self-signed certificate covers: the host name, `localhost` and every
/// address of this machine's interfaces.
pub fn local_names() -> Vec<String> {
    let mut names = vec!["localhost".to_owned()];
    // uname(2), not /proc/sys/kernel/hostname: the unit's `ProcSubset=pid` hides /proc/sys.
    let uname = rustix::system::uname();
    let host = uname.nodename().to_string_lossy();
    let host = host.trim();
    if !host.is_empty() && host != "localhost" && host != "(none)" {
        names.push(host.to_owned());
    }
    let mut addrs: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))];
    if let Ok(interfaces) = if_addrs::get_if_addrs() {
        addrs.extend(interfaces.iter().map(|i| i.ip()));
    }
    addrs.sort();
    addrs.dedup();
    names.extend(addrs.iter().map(IpAddr::to_string));
    names
}
