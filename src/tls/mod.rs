//! TLS for the public listener: the certificate the server presents, where it comes from
//! (a self-signed one made on first start, or the operator's files, reloaded when they
//! change, or the ACME one, swapped in by `replace`) and the TLS-ALPN-01 answers, read from
//! `acme::Challenges` (the one map ACME publishes into; `tls` depends on `acme`, never the
//! other way). Knows nothing of HTTP; `http::tls_listener` accepts connections with the
//! `rustls::ServerConfig` built here.

pub mod files;
pub mod reload;
pub mod resolver;
pub mod self_signed;

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;

pub use resolver::CertResolver;

/// The ALPN name of the TLS-ALPN-01 challenge (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = crate::acme::ACME_TLS_ALPN_PROTOCOL;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Pem { path: String, reason: String },
    #[error("the private key in {key} does not belong to the certificate in {cert}: {reason}")]
    Mismatch {
        cert: String,
        key: String,
        reason: String,
    },
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider every TLS object of ours uses (ring: already built for the test
/// client, and as fast as aws-lc-rs for AES-GCM on x86-64 with AES-NI).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 and 1.2, HTTP/2 preferred over HTTP/1.1 by ALPN, and `acme-tls/1` so a
/// TLS-ALPN-01 validation can complete its handshake (the listener then closes it).
pub fn server_config(resolver: Arc<CertResolver>) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    Ok(Arc::new(config))
}
