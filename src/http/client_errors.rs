//! Logging what went wrong on connections actix-web served. Its HTTP/1 dispatcher logs
//! every malformed request at ERROR, one line each, so anyone could fill the log with
//! garbage request lines; that target is switched off in `logging`, and the error it would
//! have logged is reported here instead, at most once a minute per client address, with a
//! count of the ones left out.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_http::error::{DispatchError, ParseError};

/// The log target the dispatcher's own error lines use (switched off in `logging`).
pub const DISPATCHER_TARGET: &str = "actix_http::h1::dispatcher";
/// The same for HTTP/2: it logs each stream a client resets mid-answer at WARN.
pub const H2_DISPATCHER_TARGET: &str = "actix_http::h2::dispatcher";

const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; past that, the oldest windows are dropped.
const MAX_CLIENTS: usize = 10_000;

struct Window {
    logged_at: Instant,
    suppressed: u64,
}

/// Per-address rate limit for log lines.
#[derive(Default)]
pub struct ClientErrors {
    clients: Mutex<HashMap<IpAddr, Window>>,
}

impl ClientErrors {
    /// Logs how a connection ended, if it ended in an error worth an operator's eye.
    pub fn report(&self, peer: Option<SocketAddr>, error: &DispatchError) {
        let client = peer.map_or_else(|| "unknown".to_string(), |p| p.ip().to_string());
        match error {
            // The client went away or stopped reading: its business, not the server's.
            DispatchError::Io(e) | DispatchError::Parse(ParseError::Io(e)) => {
                tracing::debug!(%client, error = %e, "connection ended");
            }
            // A file that shrank while it was being sent, or the like: the server's side.
            DispatchError::Body(e) => {
                if let Some(suppressed) = self.admit(peer, Instant::now()) {
                    tracing::warn!(%client, error = %e, suppressed, "response cut short");
                }
            }
            other => {
                if let Some(suppressed) = self.admit(peer, Instant::now()) {
                    tracing::warn!(%client, error = %other, suppressed, "bad request from a client");
                }
            }
        }
    }

    /// `Some(lines suppressed since the last one)` when a line may be logged for this client
    /// now; `None` when it is to be suppressed.
    fn admit(&self, peer: Option<SocketAddr>, now: Instant) -> Option<u64> {
        let Some(ip) = peer.map(|p| p.ip()) else {
            return Some(0);
        };
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(window) = clients.get_mut(&ip) {
            if now.duration_since(window.logged_at) < WINDOW {
                window.suppressed += 1;
                return None;
            }
            let suppressed = window.suppressed;
            *window = Window {
                logged_at: now,
                suppressed: 0,
            };
            return Some(suppressed);
        }
        if clients.len() >= MAX_CLIENTS {
            clients.retain(|_, w| now.duration_since(w.logged_at) < WINDOW);
            // Still full: forget them all rather than grow; at worst a few more lines.
            if clients.len() >= MAX_CLIENTS {
                clients.clear();
            }
        }
        clients.insert(
            ip,
            Window {
                logged_at: now,
                suppressed: 0,
            },
        );
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_minute_per_client_with_a_count_of_the_rest() {
        let errors = ClientErrors::default();
        let a: SocketAddr = "192.0.2.1:1000".parse().unwrap();
        let a_again: SocketAddr = "192.0.2.1:2000".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:1000".parse().unwrap();
        let start = Instant::now();
        assert_eq!(errors.admit(Some(a), start), Some(0));
        for i in 1..=5 {
            assert_eq!(
                errors.admit(Some(a_again), start + Duration::from_secs(i)),
                None
            );
        }
        assert_eq!(
            errors.admit(Some(b), start),
            Some(0),
            "another client is not held back"
        );
        assert_eq!(errors.admit(Some(a), start + WINDOW), Some(5));
        assert_eq!(errors.admit(Some(a), start + WINDOW), None);

        // Many clients: the table stays bounded.
        for i in 0..(MAX_CLIENTS as u32 * 2) {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            errors.admit(Some(SocketAddr::new(ip.into(), 1)), start);
        }
        assert!(errors.clients.lock().unwrap().len() <= MAX_CLIENTS);
    }
}
