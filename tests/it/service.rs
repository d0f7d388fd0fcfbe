//! Running under systemd: the notify protocol spoken by the real server to a socket the test
//! holds (this machine's PID 1 is not systemd), and the unit's hardening score.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{bin, listening_address};

/// The next datagram, or None when none arrives within `wait`.
fn next_message(socket: &UnixDatagram, wait: Duration) -> Option<String> {
    socket.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    match socket.recv(&mut buf) {
        Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => panic!("recv on the notify socket: {e}"),
    }
}

/// Waits for `count` watchdog pings; other messages are not expected meanwhile.
fn expect_pings(socket: &UnixDatagram, count: usize) {
    for _ in 0..count {
        let message = next_message(socket, Duration::from_secs(20)).expect("no watchdog ping");
        assert_eq!(message, "WATCHDOG=1\n");
    }
}

#[test]
fn the_server_notifies_ready_watchdog_and_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let socket_path = tmp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let log = std::fs::File::create(tmp.path().join("server.log")).unwrap();
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("NOTIFY_SOCKET", &socket_path)
        // 400 ms: a ping every 200 ms.
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let addr = listening_address(&mut child);

    // READY=1 comes once the server answers, naming the address it listens on.
    let ready = next_message(&socket, Duration::from_secs(30)).expect("no READY=1");
    assert_eq!(ready, format!("READY=1\nSTATUS=listening on {addr}\n"));
    // The server asked its own /healthz before saying so (the test has sent nothing yet).
    let log_so_far = std::fs::read_to_string(tmp.path().join("server.log")).unwrap();
    assert!(
        log_so_far.contains("GET /healthz HTTP/1.1 200"),
        "READY=1 without a /healthz answer first:\n{log_so_far}"
    );
    let health = ureq::get(&format!("http://{addr}/healthz")).call();
    assert!(
        health.is_ok_and(|r| r.status() == 200),
        "READY=1 before /healthz answers"
    );

    expect_pings(&socket, 3);

    // Pings prove the database answers: while another process holds the write lock, the
    // liveness check cannot pass and no ping is sent, so systemd would restart a stuck server.
    let db = rusqlite::Connection::open(data.join("marquee.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    // A check that passed just before the lock may still be sending (a check lasts at
    // most one period, 200 ms).
    let settled = Instant::now() + Duration::from_millis(600);
    while let Some(left) = settled.checked_duration_since(Instant::now()) {
        next_message(&socket, left);
    }
    let quiet_until = Instant::now() + Duration::from_secs(2);
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        if let Some(message) = next_message(&socket, left) {
            panic!("{message:?} sent while the database was locked");
        }
    }
    db.execute_batch("COMMIT").unwrap();
    expect_pings(&socket, 2);

    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut stopping = false;
    while let Some(message) = next_message(&socket, Duration::from_secs(20)) {
        if message == "STOPPING=1\n" {
            stopping = true;
            break;
        }
        assert_eq!(message, "WATCHDOG=1\n");
    }
    assert!(stopping, "no STOPPING=1 after SIGTERM");
    assert!(child.wait().unwrap().success());
}

/// The installed unit's hardening, as systemd itself scores it.
#[test]
fn the_unit_is_hardened_and_speaks_the_notify_protocol() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/marquee.service");
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze (package systemd; packaging/deps.sh test installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    let overall = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for marquee.service: ")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no overall score in:\n{text}"));
    let mut words = overall.split_whitespace();
    let score: f64 = words.next().unwrap().parse().unwrap();
    assert!(score <= 2.0, "exposure {overall}:\n{text}");
    assert_eq!(words.next(), Some("OK"), "{overall}");

    let contents = std::fs::read_to_string(&unit).unwrap();
    let settings: Vec<&str> = contents
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    for required in [
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "User=marquee",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/marquee",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "ProtectHome=yes",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "LimitNOFILE=65536",
        "ExecStart=/usr/local/bin/marquee serve --config /etc/marquee/marquee.toml --data-dir /var/lib/marquee",
    ] {
        assert!(settings.contains(&required), "the unit lacks {required}");
    }
    assert!(
        settings.iter().any(|l| l.starts_with("WatchdogSec="))
            && settings
                .iter()
                .any(|l| l.starts_with("RestrictAddressFamilies=")),
        "the unit lacks WatchdogSec or RestrictAddressFamilies"
    );
}
