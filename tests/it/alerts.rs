//! Quality alerts against the real server: slow starts reported by players push the last
//! full hour's p95 time to first frame over the operator's threshold, and the alert arrives
//! once by email (a local SMTP server) and once at a webhook (a local HTTP listener).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::accounts::{Browser, PASSWORD, data_with_ann};
use crate::support::{Options, Server, SmtpCapture, drop_into, make_clip, unix_now};

/// Takes HTTP requests on a free port and keeps their bodies, answering 204.
fn webhook_listener() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            kept.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    (port, bodies)
}

#[test]
fn slow_starts_over_an_hour_send_the_alert_once_by_email_and_webhook() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let smtp = SmtpCapture::start();
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, "0").unwrap();
    let server = Server::start_with(
        &data,
        Options {
            tables: format!(
                "{}\n[webhooks]\n{}",
                smtp.config(),
                crate::webhooks::ALLOW_LOOPBACK
            ),
            env: vec![(
                "MARQUEE_TEST_CLOCK_FILE".into(),
                clock.display().to_string(),
            )],
            ..Options::default()
        },
    );
    let clip = tmp.path().join("alert_clip.mp4");
    make_clip(&clip, "320x180", 25, 2.0, true);
    drop_into(&server.inbox(), &clip);
    let id = server.wait_finished("alert clip", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (port, hooks) = webhook_listener();

    let mut ann = Browser::new(server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD).status, 303);
    let csrf = ann.get("/admin/alerts").csrf();
    for (channel, target) in [
        ("email", "ops@example.com".to_string()),
        ("webhook", format!("http://127.0.0.1:{port}/hook")),
    ] {
        let added = ann.post(
            "/admin/alerts",
            &[
                ("csrf", &csrf),
                ("metric", "ttff_p95"),
                ("threshold", "2000"),
                ("min_plays", "3"),
                ("channel", channel),
                ("target", &target),
            ],
        );
        assert_eq!(added.status, 303, "{}", added.body);
    }
    let refused = ann.post(
        "/admin/alerts",
        &[
            ("csrf", &csrf),
            ("metric", "ttff_p95"),
            ("threshold", "2000"),
            ("min_plays", "3"),
            ("channel", "webhook"),
            ("target", "file:///etc/passwd"),
        ],
    );
    assert_eq!(refused.status, 400);

    // Four plays that took 4.5 s to start, now.
    let started = unix_now();
    for n in 0..4 {
        let mut viewer = Browser::new(server.url());
        let body = json!({"session": format!("slow-start-session-{n}"), "title": id, "events": [
            {"kind": "play_intent", "n": 1}, {"kind": "first_frame", "n": 2, "ms": 4500}]});
        let answer = viewer.post_json("/beacon", "", &body.to_string());
        assert_eq!(answer.status, 204, "{}", answer.body);
    }
    // Nothing yet: the hour is not over.
    assert_eq!(
        ann.post("/admin/alerts/check", &[("csrf", &csrf)]).status,
        303
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(smtp.mails().is_empty());
    // An hour later, the hour of those plays is the last full one: the alert goes out.
    let next_hour = (started / 3600 + 1) * 3600;
    std::fs::write(&clock, (next_hour - started + 60).to_string()).unwrap();
    assert_eq!(
        ann.post("/admin/alerts/check", &[("csrf", &csrf)]).status,
        303
    );
    let mails = smtp.wait_for(1);
    let mail = &mails[0];
    assert!(mail.to.iter().any(|t| t.contains("ops@example.com")));
    assert!(
        mail.data.contains("Time to first frame, p95"),
        "{}",
        mail.data
    );
    for _ in 0..50 {
        if !hooks.lock().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let hook: serde_json::Value = serde_json::from_str(&hooks.lock().unwrap()[0]).unwrap();
    assert_eq!(hook["type"], "quality.alert");
    assert_eq!(hook["data"]["metric"], "ttff_p95");
    assert!(hook["data"]["value"].as_f64().unwrap() > 2000.0, "{hook}");
    // Once for that hour.
    assert_eq!(
        ann.post("/admin/alerts/check", &[("csrf", &csrf)]).status,
        303
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(smtp.mails().len(), 1);
    assert_eq!(hooks.lock().unwrap().len(), 1);
    assert!(
        ann.get("/admin/alerts").body.contains(" UTC</td>"),
        "when it fired"
    );
}
