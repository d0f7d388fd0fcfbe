//! A client on one loopback source address (127.0.0.N): plain HTTP/1.1, one request per
//! connection, a cookie jar, no redirects followed. Throttles count per client address,
//! so tests that need many clients give each its own.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// The pre-session form token (the double-submit check compares cookie and field).
pub const FORM_TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

pub struct Client {
    from: Ipv4Addr,
    to: SocketAddr,
    pub cookies: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    /// A client from `from` to the server at `base` (`http://ip:port`), holding the form
    /// token cookie.
    pub fn new(from: Ipv4Addr, base: &str) -> Client {
        let to: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
        let mut cookies = BTreeMap::new();
        cookies.insert("marquee_form".to_string(), FORM_TOKEN.to_string());
        Client { from, to, cookies }
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&SocketAddr::from((self.from, 0)).into())
            .unwrap();
        socket.connect(&self.to.into()).unwrap();
        let mut stream: TcpStream = socket.into();
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nCookie: {cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            self.to,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap_or_default()
            .split(' ')
            .nth(1)
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        let mut answer = Answer {
            status,
            location: None,
            headers: Vec::new(),
            body: body.to_string(),
        };
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            answer
                .headers
                .push((name.to_ascii_lowercase(), value.to_string()));
            match name.to_ascii_lowercase().as_str() {
                "location" => answer.location = Some(value.to_string()),
                "set-cookie" => {
                    let pair = value.split(';').next().unwrap();
                    let (k, v) = pair.split_once('=').unwrap();
                    if v.is_empty() || value.contains("Max-Age=0") {
                        self.cookies.remove(k);
                    } else {
                        self.cookies.insert(k.to_string(), v.to_string());
                    }
                }
                _ => {}
            }
        }
        answer
    }

    pub fn get(&mut self, path: &str) -> Answer {
        self.request("GET", path, &[], "")
    }

    /// A form post carrying the form token.
    pub fn post(&mut self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
        let mut pairs = vec![("csrf", FORM_TOKEN)];
        pairs.extend_from_slice(form);
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        self.request("POST", path, headers, &body)
    }

    pub fn signed_in(&self) -> bool {
        self.cookies.contains_key("marquee_session")
    }
}
