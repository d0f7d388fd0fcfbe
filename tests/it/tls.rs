//! `serve --tls`: HTTPS with HTTP/1.1 and HTTP/2, the self-signed certificate, operator
//! certificate files, the plain-HTTP redirect, and the connection limits on the TLS path.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

use crate::h2_limits::{frame, get_block};
use crate::support::{
    Options, Server, drop_into, first_video_segment, make_clip, open_fds, proc_status,
    read_response, rss_growth_mib,
};

pub(crate) type TlsClient = StreamOwned<ClientConnection, TcpStream>;

/// Accepts whatever certificate the server presents: the tests look at it themselves.
#[derive(Debug)]
pub(crate) struct AnyCertificate(pub(crate) Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn https_addr(server: &Server) -> String {
    let url = server.https.as_deref().expect("a --tls server");
    url.trim_start_matches("https://").to_owned()
}

/// A finished TLS connection offering `alpn`, over a socket with a small receive buffer.
pub(crate) fn tls_connect(server: &Server, alpn: &[&[u8]]) -> TlsClient {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let addr: std::net::SocketAddr = https_addr(server).parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.connect(&addr.into()).unwrap();
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let mut client = StreamOwned::new(conn, tcp);
    while client.conn.is_handshaking() {
        client.conn.complete_io(&mut client.sock).unwrap();
    }
    client
}

pub(crate) fn presented_cert(client: &TlsClient) -> Vec<u8> {
    client.conn.peer_certificates().unwrap()[0].to_vec()
}

fn pem_cert(path: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}

/// One HTTP/1.1 request on `client`; the status and body of the answer.
pub(crate) fn exchange(client: &mut TlsClient, path: &str) -> (u16, Vec<u8>) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    client.write_all(request.as_bytes()).unwrap();
    client.flush().unwrap();
    let (head, body) = read_response(client);
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body)
}

/// curl fetching `url` while trusting only `cert`; the HTTP version it used and the body.
fn curl(cert: &Path, http: &str, url: &str) -> (String, Vec<u8>) {
    let out_file = cert.with_file_name(format!("curl-out-{}", std::process::id()));
    let out = Command::new("curl")
        .args(["-sS", "--fail", http, "--cacert"])
        .arg(cert)
        .arg("-o")
        .arg(&out_file)
        .args(["-w", "%{http_version}", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = std::fs::read(&out_file).unwrap();
    let _ = std::fs::remove_file(&out_file);
    (String::from_utf8(out.stdout).unwrap(), body)
}

pub(crate) fn tls_server(data: &Path, tables: &str) -> Server {
    Server::start_with(
        data,
        Options {
            tls: true,
            tables: tables.into(),
            ..Options::default()
        },
    )
}

/// A ready package on `server`; the URL path of its first video segment and that file.
fn ready_segment(server: &Server, tmp: &Path) -> (String, std::path::PathBuf) {
    let clip = tmp.join("secure.mp4");
    make_clip(&clip, "320x240", 30, 2.0, false);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("secure", Duration::from_secs(120));
    assert_eq!(asset["status"], "ready", "{asset}");
    first_video_segment(server, &asset)
}

#[test]
fn self_signed_https_serves_http11_and_http2_and_plain_http_redirects() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = tls_server(&tmp.path().join("data"), "");
    let cert = server.data.join("tls/cert.pem");
    let key = server.data.join("tls/key.pem");
    let first = std::fs::read(&cert).unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the key is for the server alone");
    // The certificate served is the stored one, and names the loopback address and
    // localhost: curl trusts that file alone and checks the name.
    assert_eq!(
        presented_cert(&tls_connect(&server, &[b"h2"])),
        pem_cert(&cert)
    );
    let port = https_addr(&server).rsplit(':').next().unwrap().to_owned();
    let (version, body) = curl(
        &cert,
        "--http1.1",
        &format!("https://localhost:{port}/healthz"),
    );
    assert_eq!((version.as_str(), body.as_slice()), ("1.1", &b"ok\n"[..]));

    // A real package's segment, byte for byte, over HTTP/1.1 and HTTP/2.
    let (segment, file) = ready_segment(&server, tmp.path());
    let expected = std::fs::read(&file).unwrap();
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let url = format!("{}{segment}", server.https.as_deref().unwrap());
        let (used, body) = curl(&cert, flag, &url);
        assert_eq!(used, version, "{flag}");
        assert!(body == expected, "{flag}: the segment differs");
    }

    // Plain HTTP: a redirect to the same path on the HTTPS port, for any valid host name.
    let mut plain = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    plain
        .write_all(format!("GET {segment}?x=1 HTTP/1.1\r\nHost: media.example:8080\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut answer = String::new();
    plain.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 301"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains(&format!(
            "\r\nlocation: https://media.example:{port}{segment}?x=1\r\n"
        )),
        "{answer}"
    );
    assert!(!answer.contains("\r\n\r\nok"), "{answer}");
    // Any other method gets a 308, which keeps the method and the body (a 301 lets the
    // client turn a POST into a GET).
    let mut plain = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    plain
        .write_all(b"POST /api/v1/assets HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        .unwrap();
    let mut answer = String::new();
    plain.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 308"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains(&format!(
            "\r\nlocation: https://localhost:{port}/api/v1/assets\r\n"
        )),
        "{answer}"
    );

    // A second start reuses the certificate.
    server.terminate();
    server.restart();
    assert_eq!(std::fs::read(&cert).unwrap(), first);
    assert_eq!(
        presented_cert(&tls_connect(&server, &[b"http/1.1"])),
        pem_cert(&cert)
    );
}

fn make_pair(name: &str) -> (Vec<u8>, String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.der().to_vec(), cert.pem(), key.serialize_pem())
}

/// Replaces `path` the way an operator's tool does: a new file renamed over the old one.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn operator_certificate_files_are_reloaded_without_dropping_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (tmp.path().join("site.crt"), tmp.path().join("site.key"));
    let (first_der, first_pem, first_key) = make_pair("first.example");
    std::fs::write(&cert_path, &first_pem).unwrap();
    std::fs::write(&key_path, &first_key).unwrap();
    let server = tls_server(
        &tmp.path().join("data"),
        &format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\nreload_secs = 1\n",
            cert_path, key_path
        ),
    );
    assert!(
        !server.data.join("tls").exists(),
        "no self-signed certificate is made"
    );
    let mut open = tls_connect(&server, &[b"http/1.1"]);
    assert_eq!(presented_cert(&open), first_der);
    assert_eq!(exchange(&mut open, "/healthz"), (200, b"ok\n".to_vec()));

    // New files: new connections get the new certificate, the open one goes on.
    let (second_der, second_pem, second_key) = make_pair("second.example");
    replace_file(&key_path, &second_key);
    replace_file(&cert_path, &second_pem);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Requests on the open connection keep it from idling out meanwhile.
        assert_eq!(exchange(&mut open, "/healthz"), (200, b"ok\n".to_vec()));
        if presented_cert(&tls_connect(&server, &[b"http/1.1"])) == second_der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(exchange(&mut open, "/healthz"), (200, b"ok\n".to_vec()));
    assert_eq!(presented_cert(&open), first_der);

    // Files that do not go together are refused and the certificate in use stays.
    let (_, third_pem, _) = make_pair("third.example");
    replace_file(&cert_path, &third_pem);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server
        .log()
        .contains("cannot be used; keeping the current certificate")
    {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(presented_cert(&tls_connect(&server, &[b"h2"])), second_der);
    assert!(server.healthy());
}

#[test]
fn stalled_handshakes_and_stalled_tls_readers_are_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let server = tls_server(&tmp.path().join("data"), "[http]\nsend_timeout_secs = 3\n");
    let (segment, file) = ready_segment(&server, tmp.path());
    let pid = server.pid();
    std::fs::write(
        &file,
        (0..1 << 20).map(|i| (i % 251) as u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    let (rss_before, fds_before) = (proc_status(pid, "VmRSS:"), open_fds(pid));

    // Connections that never finish a handshake: silent, or a few bytes of a hello.
    let mut silent = Vec::new();
    for i in 0..20 {
        let mut tcp = TcpStream::connect(https_addr(&server)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
        if i % 2 == 1 {
            tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
        }
        silent.push(tcp);
    }

    // 20 HTTP/1.1 connections pipeline 2,000 requests for the segment and never read.
    let pipelined = format!("GET {segment} HTTP/1.1\r\nHost: t\r\n\r\n").repeat(2000);
    let mut floods = Vec::new();
    for _ in 0..20 {
        let mut client = tls_connect(&server, &[b"http/1.1"]);
        client
            .sock
            .set_write_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let _ = client.write_all(pipelined.as_bytes());
        floods.push(client);
    }
    // 5 HTTP/2 connections open as many streams as allowed (128) for the segment, grant
    // the server all the flow-control credit there is, and never read.
    for _ in 0..5 {
        floods.push(h2_flood(&server, &segment, 128));
    }
    let grown_mib = rss_growth_mib(pid, rss_before);
    assert!(
        grown_mib < 80,
        "request floods grew the server by {grown_mib} MiB"
    );

    // The server ends every one of them: the handshakes time out, the readers stall.
    for mut tcp in silent {
        let mut rest = Vec::new();
        match tcp.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
    }
    // (A few file descriptors of slack: the database pool may open a connection.)
    let deadline = Instant::now() + Duration::from_secs(60);
    while open_fds(pid) > fds_before + 4 {
        assert!(
            Instant::now() < deadline,
            "{} stalled TLS connections still open",
            open_fds(pid) - fds_before
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(floods);
    assert!(server.healthy());
}

/// An HTTP/2 connection that asks for `path` on `streams` streams at once, with the largest
/// windows HTTP/2 allows, and reads nothing. Header blocks use HPACK's static table and
/// plain literals: `:method GET`, `:scheme https`, `:path`, `:authority`.
fn h2_flood(server: &Server, path: &str, streams: u32) -> TlsClient {
    let mut client = tls_connect(server, &[b"h2"]);
    assert_eq!(client.conn.alpn_protocol(), Some(&b"h2"[..]));
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frame(&mut out, 0x4, 0, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]);
    frame(
        &mut out,
        0x8,
        0,
        0,
        &(0x7fff_ffff_u32 - 65_535).to_be_bytes(),
    );
    let block = get_block(path, 0);
    for i in 0..streams {
        // END_STREAM | END_HEADERS
        frame(&mut out, 0x1, 0x5, 1 + 2 * i, &block);
    }
    client
        .sock
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    client.write_all(&out).unwrap();
    client.flush().unwrap();
    client
}

/// Every file and directory under `dir`, with the size of each file.
fn tree(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        entries.push((entry.path(), meta.len()));
        if meta.is_dir() {
            entries.extend(tree(&entry.path()));
        }
    }
    entries.sort();
    entries
}

#[test]
fn operator_certificate_files_together_with_acme_domains_are_refused_before_listening() {
    let tmp = tempfile::tempdir().unwrap();
    // A valid pair: the files themselves are not what is refused.
    let (_, cert_pem, key_pem) = make_pair("media.example.org");
    let (cert_path, key_path) = (tmp.path().join("site.crt"), tmp.path().join("site.key"));
    std::fs::write(&cert_path, cert_pem).unwrap();
    std::fs::write(&key_path, key_pem).unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("marquee.toml"),
        format!(
            "[tls]\ncert_file = {cert_path:?}\nkey_file = {key_path:?}\n\n\
             [tls.acme]\ndomains = [\"media.example.org\"]\n"
        ),
    )
    .unwrap();
    let before = tree(&data);

    let mut child = Command::new(crate::support::bin())
        .args(["serve", "--tls", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("MARQUEE_TLS__LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A server that listens prints its addresses first; one that refuses exits silently.
    let mut first_line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first_line,
    )
    .unwrap();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(first_line.is_empty(), "it listened: {first_line}");
    assert!(!out.status.success());
    for setting in ["tls.cert_file", "tls.key_file", "tls.acme.domains"] {
        assert!(stderr.contains(setting), "{setting} not named: {stderr}");
    }
    assert_eq!(tree(&data), before, "the data dir changed: {stderr}");
}
