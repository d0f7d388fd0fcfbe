//! Where webhooks and alert webhooks may go: public addresses only, unless the operator
//! lists a range in `[webhooks] allow_private`. Otherwise anyone who may add an endpoint
//! could make the server call this machine or its private network (SSRF).
//!
//! A URL is checked when it is saved (an address in it, or a `localhost` name), and again
//! when it is sent to: the name is resolved, every address is checked, and the connection
//! goes only to an address that passed (so a name that changes its answer between the
//! check and the connection — DNS rebinding — gains nothing).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::WebhookError;
use crate::config::IpRange;

/// The ranges the operator allows besides public addresses.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allowed: Vec<IpRange>,
}

/// What kind of internal address `ip` is, if it is one (IPv4-mapped, NAT64 and 6to4
/// forms are judged by the IPv4 address in them).
pub fn internal_kind(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => v6_kind(v6),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_unspecified() || a == 0 {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local"
    } else if a == 100 && (64..128).contains(&b) {
        "shared (CGNAT)"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_broadcast() || a >= 240 {
        "reserved"
    } else {
        return None;
    })
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // 64:ff9b::/96 reaches the IPv4 address in its last 32 bits through NAT64.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b, c, d] = ip.octets();
        return v4_kind(Ipv4Addr::new(a, b, c, d));
    }
    // 2002::/16 (6to4) carries an IPv4 address in its next 32 bits, which a 6to4 relay
    // reaches.
    if segments[0] == 0x2002 {
        let [_, _, a, b, c, d, ..] = ip.octets();
        return v4_kind(Ipv4Addr::new(a, b, c, d));
    }
    Some(if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if segments[0] & 0xfe00 == 0xfc00 {
        "unique local (private)"
    } else if segments[0] & 0xffc0 == 0xfe80 || segments[0] & 0xffc0 == 0xfec0 {
        "link-local"
    } else if ip.is_multicast() {
        "multicast"
    } else {
        return None;
    })
}

impl TargetPolicy {
    pub fn new(allowed: &[IpRange]) -> TargetPolicy {
        TargetPolicy {
            allowed: allowed.to_vec(),
        }
    }

    /// Why `ip` may not be sent to (`None`: it may).
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        let kind = internal_kind(ip)?;
        (!self.allowed.iter().any(|r| r.contains(ip))).then_some(kind)
    }

    /// The check when a URL is saved: an address in it must be allowed, and so must one of
    /// loopback's for a `localhost` name. Other names are checked when sent to.
    pub fn check_url(&self, raw: &str) -> Result<(), WebhookError> {
        let url = url::Url::parse(raw.trim())
            .map_err(|_| WebhookError::Invalid(format!("{raw:?} is not a URL")))?;
        let refused = |what: String, kind: &str| {
            WebhookError::Invalid(format!(
                "{what} is a {kind} address: webhooks go only to public addresses (an \
                 operator may allow a range with [webhooks] allow_private in the settings file)"
            ))
        };
        let addresses: Vec<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    let loopback = [
                        IpAddr::V4(Ipv4Addr::LOCALHOST),
                        IpAddr::V6(Ipv6Addr::LOCALHOST),
                    ];
                    if loopback.iter().all(|ip| self.refusal(*ip).is_some()) {
                        return Err(refused(name, "loopback"));
                    }
                }
                Vec::new()
            }
            None => Vec::new(),
        };
        for ip in addresses {
            if let Some(kind) = self.refusal(ip) {
                return Err(refused(ip.to_string(), kind));
            }
        }
        Ok(())
    }

    /// An HTTP client for `config` that connects only to addresses this policy allows,
    /// checked after the name is resolved, and never through a proxy (which would resolve
    /// the name itself).
    pub fn agent(
        &self,
        config: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
    ) -> ureq::Agent {
        let config = config.proxy(None).build();
        ureq::Agent::with_parts(
            config,
            DefaultConnector::default(),
            CheckedResolver {
                policy: self.clone(),
                inner: DefaultResolver::default(),
            },
        )
    }
}

/// Resolves as usual, then keeps only the addresses the policy allows: the connector
/// connects to what this returns, so the address checked is the address used.
#[derive(Debug)]
struct CheckedResolver {
    policy: TargetPolicy,
    inner: DefaultResolver,
}

impl Resolver for CheckedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let resolved = self.inner.resolve(uri, config, timeout)?;
        let mut kept = self.empty();
        let mut refused = None;
        for addr in resolved.iter() {
            match self.policy.refusal(addr.ip()) {
                None => kept.push(*addr),
                Some(kind) => refused = Some((addr.ip(), kind)),
            }
        }
        match refused {
            Some((ip, kind)) if kept.is_empty() => Err(ureq::Error::Io(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "refused: {} resolves to {ip}, a {kind} address (allow it with [webhooks] \
                     allow_private)",
                    uri.host().unwrap_or_default()
                ),
            ))),
            _ => Ok(kept),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        let policy = TargetPolicy::default();
        for ip in [
            "127.0.0.1",
            "127.8.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
        ] {
            assert!(
                policy.refusal(ip.parse().unwrap()).is_some(),
                "{ip} allowed"
            );
        }
        for ip in [
            "93.184.216.34",
            "100.128.0.1",
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert_eq!(policy.refusal(ip.parse().unwrap()), None, "{ip} refused");
        }
        let allowed = TargetPolicy::new(&["127.0.0.1/32".parse().unwrap()]);
        assert_eq!(allowed.refusal("127.0.0.1".parse().unwrap()), None);
        assert!(allowed.refusal("127.0.0.2".parse().unwrap()).is_some());
        assert!(allowed.refusal("::1".parse().unwrap()).is_some());
    }

    #[test]
    fn saved_urls_naming_internal_addresses_are_refused() {
        let policy = TargetPolicy::default();
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://10.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:7f00:1]/",
            "http://localhost:9000/",
            "http://api.LOCALHOST./",
            "http://169.254.169.254/latest/meta-data",
        ] {
            let refused = policy.check_url(url).unwrap_err().to_string();
            assert!(
                refused.contains("webhooks go only to public addresses"),
                "{url}: {refused}"
            );
        }
        assert!(policy.check_url("https://hooks.example.com/x").is_ok());
        assert!(policy.check_url("https://93.184.216.34/x").is_ok());
        let allowed = TargetPolicy::new(&["127.0.0.0/8".parse().unwrap()]);
        assert!(allowed.check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(allowed.check_url("http://localhost:8080/hook").is_ok());
        assert!(allowed.check_url("http://10.0.0.1/").is_err());
    }

    #[test]
    fn the_agent_refuses_a_name_that_resolves_to_an_internal_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = || {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(std::time::Duration::from_secs(5)))
        };
        let refused = TargetPolicy::default()
            .agent(config())
            .get(format!("http://localhost:{port}/"))
            .call()
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("refused: localhost resolves to"),
            "{refused}"
        );
        // Allowed: it connects (and gets no answer from this silent listener).
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
        });
        let allowed = TargetPolicy::new(&["127.0.0.1".parse().unwrap()]);
        let answer = allowed
            .agent(config())
            .get(format!("http://localhost:{port}/"))
            .call()
            .unwrap();
        assert_eq!(answer.status().as_u16(), 204);
    }
}
