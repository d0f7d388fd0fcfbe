//! The certificate the server presents, swappable while connections are open: a renewal
//! (ACME) or a reload of the operator's files calls `replace`, and every handshake after
//! that gets the new key; open connections keep the session they have.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{ACME_TLS_ALPN, AlpnChallenges};

pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
    challenges: AlpnChallenges,
}

impl CertResolver {
    pub fn new(key: CertifiedKey) -> Self {
        CertResolver {
            current: ArcSwap::from_pointee(key),
            challenges: AlpnChallenges::default(),
        }
    }

    /// The certificate new handshakes get from now on.
    pub fn replace(&self, key: CertifiedKey) {
        self.current.store(Arc::new(key));
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    /// The TLS-ALPN-01 challenge certificates this resolver answers with (ACME sets them).
    pub fn challenges(&self) -> &AlpnChallenges {
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
                .and_then(|name| self.challenges.get(name));
        }
        Some(self.current.load_full())
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

    /// Runs a handshake in memory; the certificate the server presented, if it completed.
    fn handshake(
        resolver: Arc<CertResolver>,
        name: &str,
        alpn: &[u8],
        trusted: &rustls::pki_types::CertificateDer<'static>,
    ) -> Option<Vec<u8>> {
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
            server.read_tls(&mut wire.as_slice()).ok()?;
            server.process_new_packets().ok()?;
            let mut back = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut back).unwrap();
            }
            client.read_tls(&mut back.as_slice()).ok()?;
            client.process_new_packets().ok()?;
            if !client.is_handshaking() {
                return Some(client.peer_certificates()?[0].to_vec());
            }
        }
        None
    }

    #[test]
    fn acme_tls_alpn_gets_the_challenge_certificate_and_replace_swaps_the_served_one() {
        let (site, site_der) = certified("media.example");
        let resolver = Arc::new(CertResolver::new(site));
        let served = handshake(resolver.clone(), "media.example", b"h2", &site_der);
        assert_eq!(served.as_deref(), Some(site_der.as_ref()));

        // No challenge set: an `acme-tls/1` handshake gets no certificate at all.
        assert_eq!(
            handshake(resolver.clone(), "media.example", ACME_TLS_ALPN, &site_der),
            None
        );
        let (challenge, challenge_der) = certified("media.example");
        resolver.challenges().insert("Media.Example", challenge);
        let served = handshake(
            resolver.clone(),
            "media.example",
            ACME_TLS_ALPN,
            &challenge_der,
        );
        assert_eq!(served.as_deref(), Some(challenge_der.as_ref()));
        // Browsers still get the site's certificate meanwhile.
        let served = handshake(resolver.clone(), "media.example", b"http/1.1", &site_der);
        assert_eq!(served.as_deref(), Some(site_der.as_ref()));
        resolver.challenges().remove("media.example");
        assert_eq!(
            handshake(
                resolver.clone(),
                "media.example",
                ACME_TLS_ALPN,
                &challenge_der
            ),
            None
        );

        let (renewed, renewed_der) = certified("media.example");
        resolver.replace(renewed);
        let served = handshake(resolver, "media.example", b"h2", &renewed_der);
        assert_eq!(served.as_deref(), Some(renewed_der.as_ref()));
    }
}
