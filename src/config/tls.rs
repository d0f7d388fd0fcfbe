//! The `[tls]` table: HTTPS, the operator's certificate files, and ACME.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// HTTPS. When enabled, `tls.listen` serves everything over TLS and `listen` (plain HTTP)
/// only redirects to it and answers ACME HTTP-01 challenges.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    pub enabled: bool,
    /// Address the HTTPS server binds to.
    pub listen: String,
    /// PEM certificate chain and private key given by the operator, reloaded when they
    /// change. Without them a self-signed certificate is made in `<data-dir>/tls/`.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// How often the operator's files are checked for changes.
    pub reload_secs: u64,
    pub acme: AcmeConfig,
}

/// Certificates from an ACME CA (Let's Encrypt by default). Off while `domains` is empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AcmeConfig {
    /// Public DNS names that point at this machine; the certificate covers all of them.
    pub domains: Vec<String>,
    /// Contact address the CA writes to about expiry and policy changes (optional).
    pub email: String,
    /// The CA's ACME directory URL.
    pub directory: String,
    /// How the CA checks that this machine answers for each domain.
    pub challenge: AcmeChallenge,
    /// A PEM file with the root certificate that signs the directory's own HTTPS
    /// certificate, for a private or test CA (pebble); empty: the system's roots.
    pub directory_ca_file: String,
    /// A certificate with fewer days than this left is renewed.
    pub renew_before_days: u32,
}

pub const LETS_ENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcmeChallenge {
    /// HTTP-01 when plain HTTP is served on port 80, else TLS-ALPN-01.
    #[serde(rename = "auto")]
    Auto,
    /// `http://<domain>/.well-known/acme-challenge/<token>` on port 80.
    #[serde(rename = "http-01")]
    Http01,
    /// A challenge certificate on port 443 for the ALPN protocol `acme-tls/1`.
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            domains: Vec::new(),
            email: String::new(),
            directory: LETS_ENCRYPT_PRODUCTION.into(),
            challenge: AcmeChallenge::Auto,
            directory_ca_file: String::new(),
            renew_before_days: 30,
        }
    }
}

impl AcmeConfig {
    pub fn enabled(&self) -> bool {
        !self.domains.is_empty()
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |reason: String| Err(ConfigError::Invalid(format!("tls.acme.{reason}")));
        for domain in &self.domains {
            if !is_dns_name(domain) {
                return invalid(format!(
                    "domains: `{domain}` is not a DNS name (letters, digits and hyphens in dot-separated labels; no wildcard, port or IP address)"
                ));
            }
        }
        if !self.email.is_empty()
            && (self
                .email
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
                || !self.email.split_once('@').is_some_and(|(user, host)| {
                    !user.is_empty() && host.contains('.') && !host.contains('@')
                }))
        {
            return invalid(format!("email: `{}` is not an e-mail address", self.email));
        }
        if !self.directory.starts_with("https://") {
            return invalid(format!(
                "directory must be an https:// URL, not `{}`",
                self.directory
            ));
        }
        if !self.directory_ca_file.is_empty()
            && let Err(e) = std::fs::File::open(&self.directory_ca_file)
        {
            return invalid(format!(
                "directory_ca_file: cannot read {}: {e}",
                self.directory_ca_file
            ));
        }
        if !(1..=60).contains(&self.renew_before_days) {
            return invalid(format!(
                "renew_before_days must be between 1 and 60, not {}",
                self.renew_before_days
            ));
        }
        Ok(())
    }
}

/// A name a CA can validate over HTTP-01 or TLS-ALPN-01: LDH labels, at least two of them
/// (RFC 1123), so no IP address, wildcard or port slips through.
fn is_dns_name(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && !labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: false,
            listen: "127.0.0.1:8443".into(),
            cert_file: None,
            key_file: None,
            reload_secs: 10,
            acme: AcmeConfig::default(),
        }
    }
}
