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
