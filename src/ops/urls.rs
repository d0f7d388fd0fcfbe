//! `marquee urls`: where the server answers and, for a self-signed certificate, its SHA-256
//! fingerprint, so an operator can check the certificate a browser warns about. install.sh
//! and the .deb's postinst print this after starting the service: one place that reads
//! the settings as the server does (figment, the `MARQUEE_*` environment included) rather
//! than a shell parser of TOML in each script.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

use crate::config::{Config, DataDir};
use crate::tls::self_signed::SelfSigned;

/// The text `marquee urls` prints: the addresses (HTTPS first when it is on, then the plain
/// HTTP ones that redirect to it) and where the certificate comes from. `settings` names
/// the settings file in what it says; `local` is this machine's interface addresses.
pub fn describe(config: &Config, data: &DataDir, settings: &Path, local: &[IpAddr]) -> String {
    let mut text = String::from("Marquee answers at:\n");
    if !config.tls.enabled {
        text += &urls_of("http", &config.listen, local);
        return text;
    }
    text += &urls_of("https", &config.tls.listen, local);
    text += "Plain HTTP redirects there from:\n";
    text += &urls_of("http", &config.listen, local);
    text += "\n";
    let settings = settings.display();
    let tls = &config.tls;
    if let Some(cert) = &tls.cert_file {
        let _ = writeln!(text, "HTTPS uses the certificate in {}.", cert.display());
    } else if tls.acme.enabled() {
        let _ = writeln!(
            text,
            "HTTPS certificates for {} come from the ACME CA ([tls.acme] in {settings}).",
            tls.acme.domains.join(", ")
        );
    } else {
        let cert = SelfSigned::in_data_dir(&data.root).cert;
        text += "The certificate is self-signed: browsers warn until it is trusted. For one from\n";
        let _ = writeln!(
            text,
            "Let's Encrypt, set a domain under [tls.acme] in {settings}."
        );
        match std::fs::read(&cert).ok().and_then(|pem| fingerprint(&pem)) {
            Some(fingerprint) => {
                text += "Its SHA-256 fingerprint, to compare with the one the browser shows:\n";
                let _ = writeln!(text, "    {fingerprint}");
                let _ = writeln!(
                    text,
                    "Check it here with: openssl x509 -noout -fingerprint -sha256 -in {}",
                    cert.display()
                );
                text += "or trust it on a client by importing that file.\n";
            }
            None => {
                let _ = writeln!(
                    text,
                    "It is made in {} when the server first starts.",
                    cert.display()
                );
            }
        }
    }
    text
}

/// The URLs of a listening address: for an unspecified one (0.0.0.0, [::]) this machine's
/// first address and localhost.
fn urls_of(scheme: &str, listen: &str, local: &[IpAddr]) -> String {
    addresses(scheme, listen, local)
        .iter()
        .map(|url| format!("    {url}/\n"))
        .collect()
}

fn addresses(scheme: &str, listen: &str, local: &[IpAddr]) -> Vec<String> {
    let Ok(addr) = listen.parse::<SocketAddr>() else {
        // A host name: shown as given.
        return vec![format!("{scheme}://{listen}")];
    };
    if !addr.ip().is_unspecified() {
        return vec![format!("{scheme}://{addr}")];
    }
    let port = addr.port();
    // IPv4 first: that is the address people type.
    let first = local
        .iter()
        .filter(|ip| !ip.is_loopback())
        .min_by_key(|ip| ip.is_ipv6());
    first
        .map(|ip| format!("{scheme}://{}", SocketAddr::new(*ip, port)))
        .into_iter()
        .chain([format!("{scheme}://localhost:{port}")])
        .collect()
}

/// Where browsers should go, without a trailing slash: the first URL `describe` lists
/// (HTTPS when it is on).
pub fn base_url(config: &Config, local: &[IpAddr]) -> String {
    let (scheme, listen) = if config.tls.enabled {
        ("https", &config.tls.listen)
    } else {
        ("http", &config.listen)
    };
    addresses(scheme, listen, local).swap_remove(0)
}

/// The SHA-256 fingerprint of the first certificate in `pem`, as browsers and
/// `openssl x509 -fingerprint -sha256` show it (`AB:CD:…`).
pub fn fingerprint(pem: &[u8]) -> Option<String> {
    let cert = CertificateDer::pem_slice_iter(pem).next()?.ok()?;
    let hex: Vec<String> = Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    Some(hex.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_address_lists_the_first_ipv4_address_and_localhost() {
        let local: Vec<IpAddr> = ["127.0.0.1", "fe80::1", "192.0.2.7"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(
            urls_of("https", "0.0.0.0:8443", &local),
            "    https://192.0.2.7:8443/\n    https://localhost:8443/\n"
        );
        assert_eq!(
            urls_of("http", "[::]:80", &local[..2]),
            "    http://[fe80::1]:80/\n    http://localhost:80/\n"
        );
        assert_eq!(
            urls_of("http", "127.0.0.1:8080", &local),
            "    http://127.0.0.1:8080/\n"
        );
    }
}
