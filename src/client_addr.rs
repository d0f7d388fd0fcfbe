//! The client's address: the TCP peer, or — when the peer is one of the reverse proxies
//! named in `http.trusted_proxies` — the rightmost address in the proxy's forwarding header
//! that is not itself a trusted proxy. Entries left of that one were written by the client
//! (or by proxies nobody vouches for) and could say anything, so they are never read.
//!
//! Only the one header the proxies set (`http.forwarded_header`) is read: nginx, for one,
//! appends to `X-Forwarded-For` but passes a client's own `Forwarded` through untouched,
//! so reading both would let a client choose its address.
//!
//! Every place that counts or records an address (sign-in, link and reset throttles, beacon
//! budgets, CMCD, session device info) asks `TrustedProxies::client`.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

/// At most this many hops are read from the right; a longer chain is cut there (the
/// entries past it were written before any proxy we trust).
const MAX_HOPS: usize = 32;

/// An address block such as `10.0.0.0/8` or `::1/128`; a bare address is its own block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an address block such as 10.0.0.0/8 or ::1/128"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?,
        };
        let canonical = network.to_canonical();
        // `::ffff:a.b.c.d/n`, an IPv4 block written as IPv6: the IPv4 part's length.
        let prefix = if canonical.is_ipv4() && !network.is_ipv4() {
            prefix.saturating_sub(96)
        } else {
            prefix
        };
        Ok(Cidr {
            network: canonical,
            prefix,
        })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Which forwarding header the trusted proxies set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx's `$proxy_add_x_forwarded_for`,
    /// HAProxy's `option forwardfor`, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    Forwarded,
}

impl ForwardedHeader {
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// The proxies whose forwarding header is believed. Empty (the default): the TCP peer is
/// the client.
#[derive(Debug, Default)]
pub struct TrustedProxies {
    blocks: Vec<Cidr>,
    header: ForwardedHeader,
    warned: AtomicBool,
}

impl TrustedProxies {
    pub fn new(blocks: Vec<Cidr>, header: ForwardedHeader) -> Self {
        TrustedProxies {
            blocks,
            header,
            warned: AtomicBool::new(false),
        }
    }

    /// The header to hand `client` (lower case).
    pub fn header(&self) -> &'static str {
        self.header.name()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// The client's address for a request from `peer` carrying `values`, the lines of the
    /// configured forwarding header in the order they came.
    pub fn client<'a>(&self, peer: IpAddr, values: impl IntoIterator<Item = &'a [u8]>) -> IpAddr {
        let peer = peer.to_canonical();
        if self.blocks.is_empty() {
            self.warn_once_if_proxied(peer);
            return peer;
        }
        if !self.trusts(peer) {
            return peer;
        }
        // All lines as one list, read from the right.
        let joined: Vec<&[u8]> = values
            .into_iter()
            .flat_map(|v| v.split(|b| *b == b','))
            .collect();
        let mut client = peer;
        for entry in joined.iter().rev().take(MAX_HOPS) {
            let hop = match self.header {
                ForwardedHeader::XForwardedFor => parse_xff_entry(entry),
                ForwardedHeader::Forwarded => parse_forwarded_element(entry),
            };
            // A hop that is not an address (garbage, `unknown`, an obfuscated name): what
            // lies left of it cannot be placed, so the last hop reached stands.
            let Some(hop) = hop else {
                return client;
            };
            client = hop.to_canonical();
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }

    /// Behind a reverse proxy on the same machine, with no proxy trusted, every visitor
    /// comes from loopback and shares one address's budgets: say so once.
    fn warn_once_if_proxied(&self, peer: IpAddr) {
        if peer.is_loopback() && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                peer = %peer,
                "a request came from a loopback address and http.trusted_proxies is empty: \
                 if Marquee runs behind a reverse proxy, every client shares that one \
                 address (sign-in throttles, analytics budgets, sessions); set \
                 http.trusted_proxies to the proxy's address, e.g. [\"127.0.0.1/32\", \"::1/128\"]"
            );
        }
    }
}

fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok().map(str::trim)
}

/// `192.0.2.1`, `2001:db8::1`, `192.0.2.1:4711` or `[2001:db8::1]:4711`.
fn parse_addr(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = s.parse::<std::net::SocketAddr>() {
        return Some(sock.ip());
    }
    // `[2001:db8::1]` without a port.
    s.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

fn parse_xff_entry(entry: &[u8]) -> Option<IpAddr> {
    parse_addr(text(entry)?)
}

/// One element of `Forwarded` (`for=…;proto=https;by=…`): its `for` address.
fn parse_forwarded_element(element: &[u8]) -> Option<IpAddr> {
    let element = text(element)?;
    let mut found = None;
    for pair in element.split(';') {
        let (name, value) = pair.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None;
            }
            let value = value.trim();
            let value = match value.strip_prefix('"') {
                Some(rest) => rest.strip_suffix('"')?,
                None => value,
            };
            found = Some(parse_addr(value)?);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(blocks: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(blocks.iter().map(|b| b.parse().unwrap()).collect(), header)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks() {
        let lan: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(lan.contains(ip("10.200.1.2")));
        assert!(!lan.contains(ip("11.0.0.1")));
        assert!(
            lan.contains(ip("::ffff:10.0.0.1")),
            "IPv4-mapped peers match"
        );
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let mapped: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
        assert!(mapped.contains(ip("10.1.2.3")) && !mapped.contains(ip("11.1.2.3")));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "nginx",
            "10.0.0.0/x",
            "",
            "10.0.0/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        use ForwardedHeader::{Forwarded, XForwardedFor};
        let xff = |blocks: &[&str], peer: &str, lines: &[&str]| {
            proxies(blocks, XForwardedFor)
                .client(ip(peer), lines.iter().map(|l| l.as_bytes()))
                .to_string()
        };
        let fwd = |blocks: &[&str], peer: &str, lines: &[&str]| {
            proxies(blocks, Forwarded)
                .client(ip(peer), lines.iter().map(|l| l.as_bytes()))
                .to_string()
        };
        let lo = &["127.0.0.1/32"];
        // (what, got, expected)
        let table = [
            (
                "no proxy trusted: the peer",
                xff(&[], "127.0.0.1", &["203.0.113.9"]),
                "127.0.0.1",
            ),
            (
                "untrusted peer: its header is ignored",
                xff(lo, "198.51.100.7", &["203.0.113.9"]),
                "198.51.100.7",
            ),
            (
                "one proxy",
                xff(lo, "127.0.0.1", &["203.0.113.9"]),
                "203.0.113.9",
            ),
            (
                "spoofed leftmost entries are ignored",
                xff(lo, "127.0.0.1", &["6.6.6.6, 7.7.7.7, 203.0.113.9"]),
                "203.0.113.9",
            ),
            (
                "spoofed entries on an earlier line too",
                xff(lo, "127.0.0.1", &["6.6.6.6", "203.0.113.9"]),
                "203.0.113.9",
            ),
            (
                "two proxies",
                xff(
                    &["127.0.0.1/32", "10.0.0.0/8"],
                    "127.0.0.1",
                    &["6.6.6.6, 203.0.113.9, 10.1.1.1"],
                ),
                "203.0.113.9",
            ),
            (
                "a client claiming to be a proxy is still read past",
                xff(
                    &["127.0.0.1/32", "10.0.0.0/8"],
                    "127.0.0.1",
                    &["203.0.113.9, 10.9.9.9"],
                ),
                "203.0.113.9",
            ),
            (
                "IPv6 hops",
                xff(&["::1/128"], "::1", &["2001:db8::7"]),
                "2001:db8::7",
            ),
            (
                "IPv6 with brackets and port",
                xff(&["::1/128"], "::1", &["[2001:db8::7]:4711"]),
                "2001:db8::7",
            ),
            (
                "IPv4 with a port",
                xff(lo, "127.0.0.1", &["203.0.113.9:5000"]),
                "203.0.113.9",
            ),
            (
                "IPv4-mapped peer",
                xff(lo, "::ffff:127.0.0.1", &["203.0.113.9"]),
                "203.0.113.9",
            ),
            (
                "no header from a trusted proxy: the proxy",
                xff(lo, "127.0.0.1", &[]),
                "127.0.0.1",
            ),
            (
                "malformed rightmost entry: the proxy",
                xff(lo, "127.0.0.1", &["203.0.113.9, nonsense"]),
                "127.0.0.1",
            ),
            (
                "malformed entry left of the client: not reached",
                xff(lo, "127.0.0.1", &["nonsense, 203.0.113.9"]),
                "203.0.113.9",
            ),
            (
                "empty entries: the proxy",
                xff(lo, "127.0.0.1", &[","]),
                "127.0.0.1",
            ),
            (
                "every hop trusted: the leftmost",
                xff(
                    &["10.0.0.0/8", "127.0.0.1/32"],
                    "127.0.0.1",
                    &["10.0.0.5, 10.0.0.6"],
                ),
                "10.0.0.5",
            ),
            (
                "Forwarded: one element",
                fwd(lo, "127.0.0.1", &["for=203.0.113.9;proto=https"]),
                "203.0.113.9",
            ),
            (
                "Forwarded: quoted IPv6 with port",
                fwd(lo, "127.0.0.1", &["for=\"[2001:db8::7]:4711\""]),
                "2001:db8::7",
            ),
            (
                "Forwarded: spoofed leftmost",
                fwd(lo, "127.0.0.1", &["for=6.6.6.6, for=203.0.113.9"]),
                "203.0.113.9",
            ),
            (
                "Forwarded: case of the name",
                fwd(lo, "127.0.0.1", &["For=203.0.113.9"]),
                "203.0.113.9",
            ),
            (
                "Forwarded: unknown",
                fwd(lo, "127.0.0.1", &["for=unknown"]),
                "127.0.0.1",
            ),
            (
                "Forwarded: obfuscated",
                fwd(lo, "127.0.0.1", &["for=_hidden"]),
                "127.0.0.1",
            ),
            (
                "Forwarded: no for",
                fwd(lo, "127.0.0.1", &["proto=https"]),
                "127.0.0.1",
            ),
            (
                "Forwarded: unterminated quote",
                fwd(lo, "127.0.0.1", &["for=\"203.0.113.9"]),
                "127.0.0.1",
            ),
            (
                "Forwarded configured: X-Forwarded-For values are not read",
                fwd(lo, "127.0.0.1", &["203.0.113.9"]),
                "127.0.0.1",
            ),
        ];
        for (what, got, expected) in table {
            assert_eq!(got, expected, "{what}");
        }
    }

    #[test]
    fn a_long_chain_is_read_only_so_far() {
        let p = proxies(
            &["10.0.0.0/8", "127.0.0.1/32"],
            ForwardedHeader::XForwardedFor,
        );
        let mut hops: Vec<String> = vec!["203.0.113.9".into()];
        hops.extend((0..40).map(|i| format!("10.0.0.{i}")));
        let line = hops.join(", ");
        let got = p.client(ip("127.0.0.1"), [line.as_bytes()]);
        assert!(
            Cidr::from_str("10.0.0.0/8").unwrap().contains(got),
            "{got}: stops after {MAX_HOPS} hops"
        );
    }

    #[test]
    fn invalid_utf8_is_malformed() {
        let p = proxies(&["127.0.0.1/32"], ForwardedHeader::XForwardedFor);
        assert_eq!(
            p.client(ip("127.0.0.1"), [&b"\xff\xfe"[..]]),
            ip("127.0.0.1")
        );
    }
}
