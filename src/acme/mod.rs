//! Certificates from an ACME CA (RFC 8555; Let's Encrypt by default): issuance, storage in
//! the data dir and renewal 30 days before expiry, validated over HTTP-01 or TLS-ALPN-01.
//!
//! The seams to the listeners are plain data, so this module knows nothing of HTTP or TLS
//! servers: [`Challenges`] holds the answers the CA's validation requests must find (the
//! HTTP listener serves `/.well-known/acme-challenge/{token}` from it; the TLS listener
//! presents its challenge certificate to a connection offering ALPN `acme-tls/1`), and
//! [`AcmeService`] hands each new certificate (chain PEM, key PEM) to a callback that swaps
//! it into the running TLS listener, so nothing restarts and no connection drops.

mod challenges;
mod issuer;
mod renewal;
mod service;
mod store;

use std::path::PathBuf;

pub use challenges::{
    ACME_TLS_ALPN_PROTOCOL, ChallengeCert, Challenges, HTTP_CHALLENGE_PATH, tls_alpn_certificate,
};
pub use renewal::{Clock, Renewal, SystemClock, decide, renew_at, retry_delay};
pub use service::{AcmeService, CheckOutcome};
pub use store::{CertStore, StoredCert};

use crate::config::{AcmeChallenge, AcmeConfig};

/// The challenge type an order is solved with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    Http01,
    TlsAlpn01,
}

impl ChallengeKind {
    /// `auto` means HTTP-01 when plain HTTP is served on port 80 (where the CA looks), else
    /// TLS-ALPN-01 on the HTTPS port.
    pub fn choose(config: &AcmeConfig, serves_http_on_port_80: bool) -> ChallengeKind {
        match config.challenge {
            AcmeChallenge::Http01 => ChallengeKind::Http01,
            AcmeChallenge::TlsAlpn01 => ChallengeKind::TlsAlpn01,
            AcmeChallenge::Auto if serves_http_on_port_80 => ChallengeKind::Http01,
            AcmeChallenge::Auto => ChallengeKind::TlsAlpn01,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("could not {step}: {source}")]
    Acme {
        step: &'static str,
        #[source]
        source: instant_acme::Error,
    },
    #[error("the CA could not validate {domain} over {challenge}: {detail}")]
    Validation {
        domain: String,
        challenge: &'static str,
        detail: String,
    },
    #[error("the CA refused the order: {0}")]
    OrderRefused(String),
    #[error("the CA offers no {challenge} challenge for {domain}")]
    NoChallenge {
        domain: String,
        challenge: &'static str,
    },
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("could not make a key or certificate request: {0}")]
    Key(#[from] rcgen::Error),
    #[error("{}: {source}", path.display())]
    Storage {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_http_01_only_when_port_80_is_served() {
        let mut config = AcmeConfig::default();
        assert_eq!(ChallengeKind::choose(&config, true), ChallengeKind::Http01);
        assert_eq!(
            ChallengeKind::choose(&config, false),
            ChallengeKind::TlsAlpn01
        );
        config.challenge = AcmeChallenge::TlsAlpn01;
        assert_eq!(
            ChallengeKind::choose(&config, true),
            ChallengeKind::TlsAlpn01
        );
    }
}
