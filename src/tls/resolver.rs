//! The certificate the server presents, swappable while connections are open: a renewal
//! (ACME) or a reload of the operator's files calls `replace`, and every handshake after
//! that gets the new key; open connections keep the session they have.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{ACME_TLS_ALPN, provider};
use crate::acme::Challenges;

pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
    challenges: Challenges,
}

impl CertResolver {
    pub fn new(key: CertifiedKey) -> Self {
        CertResolver {
            current: ArcSwap::from_pointee(key),
            challenges: Challenges::new(),
        }
    }

    /// The certificate new handshakes get from now on.
    pub fn replace(&self, key: CertifiedKey) {
        self.current.store(Arc::new(key));
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    /// The challenge answers this resolver gives TLS-ALPN-01 validations (ACME publishes
    /// into a clone of it).
    pub fn challenges(&self) -> &Challenges {
        &self.challenges
    }
}

impl fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertResolver").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A validation server offers only `acme-tls/1` and must get the challenge
        // certificate for the name it asks, or nothing (RFC 8737, section 3).
        let acme = hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN));
        if acme {
            return hello
                .server_name()
                .and_then(|name| self.challenges.tls_alpn_cert(name))
                .and_then(|cert| challenge_key(&cert.cert_der, &cert.key_der));
        }
        Some(self.current.load_full())
    }
}

/// A challenge certificate as rustls serves it; `None` (no certificate: the handshake
/// fails) should its key not load, which only a bug in `acme` could cause.
fn challenge_key(cert_der: &[u8], pkcs8_der: &[u8]) -> Option<Arc<CertifiedKey>> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8_der.to_vec()));
    match provider().key_provider.load_private_key(key) {
        Ok(signing) => Some(Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(cert_der.to_vec())],
            signing,
        ))),
        Err(e) => {
            tracing::error!(error = %e, "the TLS-ALPN-01 challenge key does not load");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConnection};

    fn certified(name: &str) -> (CertifiedKey, rustls::pki_types::CertificateDer<'static>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().clone();
        let signing = crate::tls::provider()
            .key_provider
            .load_private_key(
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        (CertifiedKey::new(vec![der.clone()], signing), der)
    }

    /// Runs a handshake in memory: the certificate the server presented, or why it failed.
    fn handshake(
        resolver: Arc<CertResolver>,
        name: &str,
        alpn: &[u8],
        trusted: &rustls::pki_types::CertificateDer<'static>,
    ) -> Result<Vec<u8>, rustls::Error> {
        let io = |e: std::io::Error| rustls::Error::General(e.to_string());
        let mut roots = RootCertStore::empty();
        roots.add(trusted.clone()).unwrap();
        let mut client_config = ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client_config.alpn_protocols = vec![alpn.to_vec()];
        let server_name = ServerName::try_from(name.to_owned()).unwrap();
        let mut client = ClientConnection::new(Arc::new(client_config), server_name).unwrap();
        let mut server =
            ServerConnection::new(crate::tls::server_config(resolver).unwrap()).unwrap();
        for _ in 0..10 {
            let mut wire = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut wire).unwrap();
            }
            server.read_tls(&mut wire.as_slice()).map_err(io)?;
            server.process_new_packets()?;
            let mut back = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut back).unwrap();
            }
            client.read_tls(&mut back.as_slice()).map_err(io)?;
            client.process_new_packets()?;
            if !client.is_handshaking() {
                return Ok(client.peer_certificates().unwrap()[0].to_vec());
            }
        }
        Err(rustls::Error::General(
            "the handshake did not finish".into(),
        ))
    }

    #[test]
    fn acme_tls_alpn_gets_the_challenge_certificate_and_replace_swaps_the_served_one() {
        let (site, site_der) = certified("media.example");
        let resolver = Arc::new(CertResolver::new(site));
        let served = handshake(resolver.clone(), "media.example", b"h2", &site_der);
        assert_eq!(served.ok().as_deref(), Some(site_der.as_ref()));

        // No challenge set: an `acme-tls/1` handshake gets no certificate at all.
        let refused = handshake(resolver.clone(), "media.example", ACME_TLS_ALPN, &site_der);
        let no_certificate = format!("{:?}", refused.unwrap_err());
        assert!(
            !no_certificate.contains("CriticalExtension"),
            "{no_certificate}"
        );

        // With one, the challenge certificate is presented: the only one carrying the
        // critical acmeIdentifier extension, which a verifier refuses by that name.
        resolver
            .challenges()
            .publish_tls_alpn("Media.Example", "token.thumbprint")
            .unwrap();
        let refused = handshake(resolver.clone(), "media.example", ACME_TLS_ALPN, &site_der);
        let refused = format!("{:?}", refused.unwrap_err());
        assert!(
            refused.contains("UnsupportedCriticalExtension"),
            "{refused}"
        );
        // Browsers still get the site's certificate meanwhile.
        let served = handshake(resolver.clone(), "media.example", b"http/1.1", &site_der);
        assert_eq!(served.ok().as_deref(), Some(site_der.as_ref()));
        resolver.challenges().withdraw_tls_alpn("media.example");
        let refused = handshake(resolver.clone(), "media.example", ACME_TLS_ALPN, &site_der);
        assert_eq!(format!("{:?}", refused.unwrap_err()), no_certificate);

        let (renewed, renewed_der) = certified("media.example");
        resolver.replace(renewed);
        let served = handshake(resolver, "media.example", b"h2", &renewed_der);
        assert_eq!(served.ok().as_deref(), Some(renewed_der.as_ref()));
    }
}
