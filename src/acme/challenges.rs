//! The answers the CA's validation requests must find while an order is open, shared with
//! the listeners that give them: HTTP-01 (RFC 8555 §8.3) and TLS-ALPN-01 (RFC 8737).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};
use sha2::{Digest, Sha256};

use super::AcmeError;

/// The ALPN protocol name a TLS-ALPN-01 validation connection offers, and the only one the
/// listener may answer it with.
pub const ACME_TLS_ALPN_PROTOCOL: &[u8] = b"acme-tls/1";

/// The path prefix of HTTP-01 validation requests; the token follows it.
pub const HTTP_CHALLENGE_PATH: &str = "/.well-known/acme-challenge/";

/// A self-signed TLS-ALPN-01 certificate and its key, as plain data for the TLS side.
#[derive(Clone, PartialEq, Eq)]
pub struct ChallengeCert {
    pub cert_der: Vec<u8>,
    /// PKCS#8.
    pub key_der: Vec<u8>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ChallengeCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeCert").finish_non_exhaustive()
    }
}

/// Thread-safe and cheap to clone: every clone sees the same answers.
#[derive(Clone, Default)]
pub struct Challenges {
    inner: Arc<RwLock<Answers>>,
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let answers = self.read();
        f.debug_struct("Challenges")
            .field("http", &answers.http.len())
            .field("tls_alpn", &answers.tls_alpn.len())
            .finish()
    }
}

#[derive(Default)]
struct Answers {
    /// HTTP-01 token → key authorization.
    http: HashMap<String, String>,
    /// Domain (lower case) → TLS-ALPN-01 certificate.
    tls_alpn: HashMap<String, ChallengeCert>,
}

impl Challenges {
    pub fn new() -> Self {
        Self::default()
    }

    /// The body for `GET /.well-known/acme-challenge/{token}` (served as `text/plain`), or
    /// `None`: answer 404.
    pub fn http_response(&self, token: &str) -> Option<String> {
        self.read().http.get(token).cloned()
    }

    /// The certificate to present to a connection that offers only `acme-tls/1` with this
    /// SNI, or `None`: refuse the handshake.
    pub fn tls_alpn_cert(&self, domain: &str) -> Option<ChallengeCert> {
        self.read()
            .tls_alpn
            .get(&domain.to_ascii_lowercase())
            .cloned()
    }

    /// No order is waiting for validation.
    pub fn is_empty(&self) -> bool {
        let answers = self.read();
        answers.http.is_empty() && answers.tls_alpn.is_empty()
    }

    pub(crate) fn publish_http(&self, token: &str, key_authorization: &str) {
        self.write()
            .http
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    pub(crate) fn publish_tls_alpn(
        &self,
        domain: &str,
        key_authorization: &str,
    ) -> Result<(), AcmeError> {
        let cert = tls_alpn_certificate(domain, key_authorization)?;
        self.write()
            .tls_alpn
            .insert(domain.to_ascii_lowercase(), cert);
        Ok(())
    }

    pub(crate) fn withdraw_http(&self, token: &str) {
        self.write().http.remove(token);
    }

    pub(crate) fn withdraw_tls_alpn(&self, domain: &str) {
        self.write().tls_alpn.remove(&domain.to_ascii_lowercase());
    }

    // A panic while holding the lock cannot leave the maps half-updated (each change is
    // one insert or remove), so a poisoned lock is still safe to use.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Answers> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Answers> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// RFC 8737 §3: a self-signed certificate whose only SAN is the domain, carrying the
/// critical `id-pe-acmeIdentifier` extension (1.3.6.1.5.5.7.1.31) with the SHA-256 of the
/// key authorization.
pub fn tls_alpn_certificate(
    domain: &str,
    key_authorization: &str,
) -> Result<ChallengeCert, AcmeError> {
    let digest = Sha256::digest(key_authorization.as_bytes());
    let mut params = CertificateParams::new(vec![domain.to_owned()])?;
    params.distinguished_name = DistinguishedName::new();
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(&digest)];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(ChallengeCert {
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    #[test]
    fn the_tls_alpn_certificate_carries_the_key_authorization_digest() {
        let key_auth = "token-abc.thumbprint-xyz";
        let cert = tls_alpn_certificate("tv.example.com", key_auth).unwrap();
        let (_, parsed) = X509Certificate::from_der(&cert.cert_der).unwrap();

        let sans: Vec<String> = parsed
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|name| name.to_string())
            .collect();
        assert_eq!(sans, ["DNSName(tv.example.com)"]);

        let oid = x509_parser::der_parser::oid!(1.3.6.1.5.5.7.1.31);
        let ext = parsed
            .extensions()
            .iter()
            .find(|e| e.oid == oid)
            .expect("acmeIdentifier extension");
        assert!(
            ext.critical,
            "RFC 8737 requires the extension to be critical"
        );
        // The value is an ASN.1 OCTET STRING (tag 4, length 32) holding the digest.
        let digest = Sha256::digest(key_auth.as_bytes());
        assert_eq!(&ext.value[..2], &[0x04, 32]);
        assert_eq!(&ext.value[2..], digest.as_slice());

        // The key is the certificate's own.
        let key = KeyPair::from_pem(&cert.key_pem).unwrap();
        assert_eq!(
            parsed.public_key().raw,
            rcgen::PublicKeyData::subject_public_key_info(&key).as_slice()
        );
    }

    #[test]
    fn answers_are_shared_between_clones_and_withdrawn() {
        let challenges = Challenges::new();
        let listener_side = challenges.clone();
        challenges.publish_http("tok", "tok.thumb");
        challenges
            .publish_tls_alpn("TV.example.com", "tok.thumb")
            .unwrap();
        assert_eq!(
            listener_side.http_response("tok").as_deref(),
            Some("tok.thumb")
        );
        assert_eq!(listener_side.http_response("other"), None);
        assert!(listener_side.tls_alpn_cert("tv.example.com").is_some());
        challenges.withdraw_http("tok");
        challenges.withdraw_tls_alpn("tv.example.com");
        assert_eq!(listener_side.http_response("tok"), None);
        assert!(listener_side.tls_alpn_cert("tv.example.com").is_none());
        assert!(listener_side.is_empty());
    }
}
