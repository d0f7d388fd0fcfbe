//! The systemd notify protocol (`Type=notify`): `READY=1` once the server answers
//! `/healthz` on its own listening address, `WATCHDOG=1` while the server proves it is alive,
//! `STOPPING=1` when it shuts down. Without `NOTIFY_SOCKET` (a terminal, a container, the
//! tests' default) all of this is skipped.
//!
//! The transcode workers inherit `NOTIFY_SOCKET` but never notify; the unit's
//! `NotifyAccess=main` would ignore them anyway.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::db::{Db, DbError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceManagerError {
    #[error("cannot send to the service manager: {0}")]
    Send(#[from] std::io::Error),
    #[error("the server did not answer /healthz on {addr} within {waited:?}")]
    NotAnswering { addr: SocketAddr, waited: Duration },
}

/// How long `ready` waits for the server's own `/healthz` before giving up.
const READY_WAIT: Duration = Duration::from_secs(30);

/// The service manager this process was started by, if any.
pub struct ServiceManager {
    watchdog: Option<Duration>,
}

impl ServiceManager {
    /// `None` unless `NOTIFY_SOCKET` is set.
    pub fn from_env() -> Option<ServiceManager> {
        std::env::var_os("NOTIFY_SOCKET")?;
        Some(ServiceManager {
            watchdog: sd_notify::watchdog_enabled(),
        })
    }

    /// Sends `READY=1` once a `GET /healthz` to `addr` (the first listening address; an
    /// unspecified address is reached on loopback) answers 200, so "active" in systemctl
    /// means viewers can connect.
    pub async fn ready(&self, addr: SocketAddr) -> Result<(), ServiceManagerError> {
        let addr = reachable(addr);
        let deadline = tokio::time::Instant::now() + READY_WAIT;
        while !healthz_answers(addr).await {
            if tokio::time::Instant::now() >= deadline {
                return Err(ServiceManagerError::NotAnswering {
                    addr,
                    waited: READY_WAIT,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let status = format!("listening on {addr}");
        sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(&status)])?;
        Ok(())
    }

    pub fn stopping(&self) {
        if let Err(e) = sd_notify::notify(&[NotifyState::Stopping]) {
            tracing::warn!(error = %e, "cannot tell the service manager that Marquee is stopping");
        }
    }

    /// With `WatchdogSec` set, pings every half interval (as sd_watchdog_enabled(3) advises)
    /// after a liveness check passes: this task getting scheduled shows the runtime is
    /// responsive, and a write transaction shows the database and its writer lock answer.
    /// A check that fails or hangs skips the ping, so systemd restarts a stuck server.
    pub fn spawn_watchdog(
        &self,
        db: Db,
        mut shutdown: watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let period = self.watchdog? / 2;
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = shutdown.changed() => return,
                }
                match tokio::time::timeout(period, database_answers(&db)).await {
                    Ok(Ok(())) => {
                        if let Err(e) = sd_notify::notify(&[NotifyState::Watchdog]) {
                            tracing::warn!(error = %e, "cannot send the watchdog ping");
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "liveness check failed; watchdog ping skipped")
                    }
                    Err(_) => tracing::error!(
                        waited = ?period,
                        "the database did not answer; watchdog ping skipped"
                    ),
                }
            }
        }))
    }
}

async fn database_answers(db: &Db) -> Result<(), DbError> {
    db.write(|tx| {
        tx.query_row("SELECT 1", [], |_| Ok(()))
            .map_err(DbError::from)
    })
    .await
}

/// `0.0.0.0:p` and `[::]:p` accept on loopback too; connecting to them directly is not portable.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// One `GET /healthz` with a short timeout: true on a 200 status line.
async fn healthz_answers(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 16];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head.starts_with(b"HTTP/1.1 200 "))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Ok(true))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_reached_on_loopback() {
        assert_eq!(
            reachable("0.0.0.0:8080".parse().unwrap()),
            "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            reachable("[::]:80".parse().unwrap()),
            "[::1]:80".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            reachable("192.0.2.7:80".parse().unwrap()),
            "192.0.2.7:80".parse::<SocketAddr>().unwrap()
        );
    }
}
