//! Outgoing webhooks against a receiver in the test: the signature checks out with the
//! Standard Webhooks scheme (computed here, not with Marquee's code), a receiver that fails
//! three times then succeeds gets the event once it succeeds, also across a `kill -9` and a
//! restart, and an endpoint that keeps failing is disabled with an email to the owner.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::accounts::{Browser, PASSWORD, data_with_ann};
use crate::support::{Options, Server, SmtpCapture, drop_into, make_clip};

#[derive(Clone, Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// An HTTP receiver that answers 500 to the first `failures` requests, then 204 (or 500
/// for ever when `failures` is `usize::MAX`).
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(failures: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Received>>> = Default::default();
        let kept = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.is_empty() {
                    continue;
                }
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap();
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
                let length: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse().unwrap())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let n = {
                    let mut got = kept.lock().unwrap();
                    got.push(Received { headers, body });
                    got.len()
                };
                let status = if n > failures {
                    "204 No Content"
                } else {
                    "500 Oops"
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} requests arrived, not {n}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The Standard Webhooks check, written from the specification: HMAC-SHA256 keyed with the
/// base64-decoded secret after `whsec_`, over `id.timestamp.body`, base64, prefixed `v1,`.
fn signature_is_valid(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut signed = format!(
        "{}.{}.",
        r.header("webhook-id"),
        r.header("webhook-timestamp")
    )
    .into_bytes();
    signed.extend_from_slice(&r.body);
    let expected = STANDARD.encode(ring::hmac::sign(&key, &signed).as_ref());
    r.header("webhook-signature")
        .split(' ')
        .any(|s| s == format!("v1,{expected}"))
}

fn add_endpoint(server: &Server, url: &str, events: Value) -> Value {
    let (status, endpoint) = server.call(
        "POST",
        "/api/v1/webhooks",
        Some(json!({"url": url, "events": events})),
    );
    assert_eq!(status, 201, "{endpoint}");
    endpoint
}

/// The receivers here listen on this machine, which webhooks may reach only when allowed.
pub(crate) const ALLOW_LOOPBACK: &str = "allow_private = [\"127.0.0.1/32\"]\n";

#[test]
fn a_failing_receiver_gets_the_signed_event_once_it_recovers_also_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let smtp = SmtpCapture::start();
    let data = data_with_ann(tmp.path(), &[]);
    let mut server = Server::start_with(
        &data,
        Options {
            tables: format!(
                "[webhooks]\nretry_secs = [2, 2, 2, 2, 2]\ndisable_after = 4\n{ALLOW_LOOPBACK}\n{}",
                smtp.config()
            ),
            ..Options::default()
        },
    );
    let flaky = Receiver::start(3);
    let broken = Receiver::start(usize::MAX);
    let endpoint = add_endpoint(&server, &flaky.url, json!(["asset.ready"]));
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let dead = add_endpoint(&server, &broken.url, json!(["asset.ready"]));

    let clip = tmp.path().join("hooked.mp4");
    make_clip(&clip, "320x180", 25, 2.0, true);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("hooked", Duration::from_secs(120));
    assert_eq!(asset["status"], "ready");

    // Two failures, then the server dies mid-retry and comes back.
    flaky.wait_for(2, Duration::from_secs(30));
    server.kill9();
    server.restart();
    let got = flaky.wait_for(4, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3)); // nothing more should come
    let got_after = flaky.received();
    assert_eq!(
        got_after.len(),
        4,
        "delivered once it succeeded, then no more"
    );
    let id = got[0].header("webhook-id").to_owned();
    assert!(id.starts_with("msg_"), "{id}");
    for r in &got {
        assert_eq!(
            r.header("webhook-id"),
            id,
            "the same message on every attempt"
        );
        assert!(signature_is_valid(&secret, r), "bad signature: {r:?}");
        let event: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(event["type"], "asset.ready");
        assert_eq!(event["data"]["id"], asset["id"]);
    }
    // A signature made with another secret does not pass the check.
    assert!(!signature_is_valid(
        dead["secret"].as_str().unwrap(),
        &got[3]
    ));
    let (_, log) = server.call(
        "GET",
        &format!("/api/v1/webhooks/{}/deliveries", endpoint["id"]),
        None,
    );
    assert_eq!(log[0]["state"], "delivered", "{log}");
    assert_eq!(log[0]["attempts"], 4, "{log}");
    assert_eq!(log[0]["last_status"], 204, "{log}");

    // The endpoint that never answers well is disabled after four attempts; the owner is
    // told by email, and the dashboard shows why.
    let deadline = Instant::now() + Duration::from_secs(30);
    let disabled = loop {
        let (_, list) = server.call("GET", "/api/v1/webhooks", None);
        let e = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == dead["id"])
            .cloned()
            .unwrap();
        if e["enabled"] == false {
            break e;
        }
        assert!(Instant::now() < deadline, "not disabled: {e}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("answered 500"),
        "{disabled}"
    );
    let mail = smtp.wait_for(1);
    assert_eq!(mail[0].to, vec!["<ann@example.com>".to_string()]);
    assert!(mail[0].data.contains(&broken.url), "{}", mail[0].data);
    let mut browser = Browser::new(server.url());
    browser.sign_in("ann@example.com", PASSWORD);
    let page = browser.get("/admin/webhooks");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("answered 500"), "{}", page.body);
    assert!(page.body.replace("&#x2f;", "/").contains(&secret));

    // "Send test event" reaches a disabled endpoint too.
    let before = broken.received().len();
    let csrf = page.csrf();
    let sent = browser.post(
        &format!("/admin/webhooks/{}", dead["id"]),
        &[("csrf", &csrf), ("action", "test")],
    );
    assert_eq!(sent.status, 303, "{}", sent.body);
    let got = broken.wait_for(before + 1, Duration::from_secs(10));
    let event: Value = serde_json::from_slice(&got[before].body).unwrap();
    assert_eq!(event["type"], "webhook.test");
}

/// A receiver that accepts connections and never answers; counts them.
struct Hung {
    url: String,
    accepted: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Hung {
    fn start() -> Hung {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let accepted: Arc<Mutex<Vec<std::net::TcpStream>>> = Default::default();
        let kept = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                kept.lock().unwrap().push(stream);
            }
        });
        Hung { url, accepted }
    }

    fn count(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

#[test]
fn a_receiver_that_hangs_holds_up_only_its_own_deliveries() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start_with(
        &data,
        Options {
            tables: format!("[webhooks]\ntimeout_secs = 60\n{ALLOW_LOOPBACK}"),
            ..Options::default()
        },
    );
    let hung = Hung::start();
    let fast = Receiver::start(0);
    let stuck = add_endpoint(&server, &hung.url, json!(["*"]));
    let fine = add_endpoint(&server, &fast.url, json!(["*"]));
    // The hung receiver's event is under way (for a minute, the time limit)...
    let (status, _) = server.call(
        "POST",
        &format!("/api/v1/webhooks/{}/test", stuck["id"]),
        None,
    );
    assert!(status < 300);
    let deadline = Instant::now() + Duration::from_secs(10);
    while hung.count() == 0 {
        assert!(
            Instant::now() < deadline,
            "the hung receiver was never called"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // ...while the other endpoint's event, queued after it, goes out meanwhile.
    let (status, _) = server.call(
        "POST",
        &format!("/api/v1/webhooks/{}/test", fine["id"]),
        None,
    );
    assert!(status < 300);
    let got = fast.wait_for(1, Duration::from_secs(20));
    let event: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(event["type"], "webhook.test");
    assert_eq!(
        hung.count(),
        1,
        "the hung delivery is still the only one under way"
    );
}
