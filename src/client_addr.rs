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
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::config::IpRange;

/// At most this many hops are read from the right; a longer chain is cut there (the
/// entries past it were written before any proxy we trust).
const MAX_HOPS: usize = 32;

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
    blocks: Vec<IpRange>,
    header: ForwardedHeader,
    warned: AtomicBool,
}

impl TrustedProxies {
    pub fn new(blocks: Vec<IpRange>, header: ForwardedHeader) -> Self {
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
            "10.0.0.0/8".parse::<IpRange>().unwrap().contains(got),
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
