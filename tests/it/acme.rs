//! ACME issuance and renewal against the real `pebble` (Debian's package) on loopback.
//!
//! Pebble validates for real (no `PEBBLE_VA_ALWAYS_VALID`): it resolves the test domain
//! with `pebble-challtestsrv` (from the same package) acting only as a DNS server that
//! answers 127.0.0.1, then connects to `httpPort`/`tlsPort`, where the test runs small
//! responders that answer from `acme::Challenges`, standing in for the listeners' hooks.
//! Pebble's HTTPS directory gets a certificate from a CA the test makes (Debian's package
//! ships no test certificates), trusted through `directory_ca_file`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use marquee::acme::{
    ACME_TLS_ALPN_PROTOCOL, AcmeError, AcmeService, ChallengeKind, Challenges, CheckOutcome, Clock,
    HTTP_CHALLENGE_PATH,
};
use marquee::config::{AcmeChallenge, AcmeConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::support::{Options, Server};
use crate::tls::{AnyCertificate, TlsClient, exchange, presented_cert};

const DOMAIN: &str = "tv.marquee.test";
const SECOND_DOMAIN: &str = "www.marquee.test";
const DAY: Duration = Duration::from_secs(24 * 3600);

fn free_port() -> u16 {
    StdListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The time the service sees; the test moves it.
struct TestClock(Mutex<SystemTime>);

impl TestClock {
    fn set(&self, at: SystemTime) {
        *self.0.lock().unwrap() = at;
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Pebble {
    dir: tempfile::TempDir,
    directory: String,
    management: SocketAddr,
    http_port: u16,
    tls_port: u16,
    ca_file: PathBuf,
    _dns: KillOnDrop,
    _pebble: KillOnDrop,
}

impl Pebble {
    fn start() -> Pebble {
        // Let's Encrypt's 90 days rather than pebble's default of five years.
        Self::start_issuing_for(90 * DAY)
    }

    /// Pebble issuing certificates valid for `validity`.
    fn start_issuing_for(validity: Duration) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        // A CA for pebble's own HTTPS listeners.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
        let cert = params.signed_by(&key, &ca).unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();

        let (listen, management, dns, dns_management) =
            (free_port(), free_port(), free_port(), free_port());
        let (http_port, tls_port) = (free_port(), free_port());
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.path().join("cert.pem"),
            "privateKey": dir.path().join("key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": validity.as_secs(),
        }});
        std::fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();

        // DNS only: every other challenge server of challtestsrv is turned off.
        let dns_server = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{dns_management}")])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(log("dns.log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv (packaging/deps.sh test installs pebble)");
        let dns_server = KillOnDrop(dns_server);
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(dir.path().join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            // Every order validates afresh instead of reusing a valid authorization.
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log("pebble.log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble (packaging/deps.sh test installs it)");
        let pebble = KillOnDrop(pebble);
        let management = SocketAddr::from((Ipv4Addr::LOCALHOST, management));
        let deadline = Instant::now() + Duration::from_secs(60);
        for port in [listen, management.port()] {
            while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
                assert!(Instant::now() < deadline, "pebble did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Pebble {
            directory: format!("https://127.0.0.1:{listen}/dir"),
            management,
            http_port,
            tls_port,
            ca_file,
            dir,
            _dns: dns_server,
            _pebble: pebble,
        }
    }

    fn config(&self, challenge: AcmeChallenge) -> AcmeConfig {
        AcmeConfig {
            domains: vec![DOMAIN.into()],
            email: "ops@marquee.test".into(),
            directory: self.directory.clone(),
            challenge,
            directory_ca_file: self.ca_file.display().to_string(),
            renew_before_days: 30,
        }
    }

    /// The root pebble signs issued certificates with (made fresh at each start).
    fn issuing_root(&self) -> CertificateDer<'static> {
        let ca = std::fs::read(&self.ca_file).unwrap();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![
                ureq::tls::Certificate::from_pem(&ca).unwrap(),
            ])))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder().tls_config(tls).build().into();
        let pem = agent
            .get(format!("https://{}/roots/0", self.management))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }
}

/// A loopback responder on `port`: `answer` handles each connection and says whether it
/// gave a challenge answer; those are counted. Aborting the task closes the port.
async fn responder<F, Fut>(port: u16, answer: F) -> (JoinHandle<()>, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .unwrap();
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = answered.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let connection = answer(stream);
            let counter = counter.clone();
            tokio::spawn(async move {
                if connection.await {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (task, answered)
}

/// HTTP-01 responder on pebble's `httpPort`: answers from `Challenges`, as the plain-HTTP
/// listener will.
async fn http_responder(port: u16, challenges: Challenges) -> (JoinHandle<()>, Arc<AtomicUsize>) {
    responder(port, move |stream| answer_http(stream, challenges.clone())).await
}

async fn answer_http(mut stream: TcpStream, challenges: Challenges) -> bool {
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    let path = loop {
        match stream.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => len += n,
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(_)) = request.parse(&buf[..len]) {
            break request.path.unwrap_or("").to_owned();
        }
    };
    let answer = path
        .strip_prefix(HTTP_CHALLENGE_PATH)
        .and_then(|token| challenges.http_response(token));
    let response = match &answer {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
    };
    stream.write_all(response.as_bytes()).await.is_ok() && answer.is_some()
}

/// Chooses the TLS-ALPN-01 certificate by SNI, only for a hello that offers `acme-tls/1`,
/// as the TLS listener will.
#[derive(Debug)]
struct ChallengeResolver(Challenges);

impl rustls::server::ResolvesServerCert for ChallengeResolver {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let offers_acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN_PROTOCOL));
        if !offers_acme {
            return None;
        }
        let cert = self.0.tls_alpn_cert(hello.server_name()?)?;
        let key = PrivateKeyDer::try_from(cert.key_der).ok()?;
        let signer = provider().key_provider.load_private_key(key).ok()?;
        Some(Arc::new(rustls::sign::CertifiedKey::new(
            vec![CertificateDer::from(cert.cert_der)],
            signer,
        )))
    }
}

/// TLS-ALPN-01 responder on pebble's `tlsPort`; counts the handshakes it completed.
async fn tls_alpn_responder(
    port: u16,
    challenges: Challenges,
) -> (JoinHandle<()>, Arc<AtomicUsize>) {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(ChallengeResolver(challenges)));
    config.alpn_protocols = vec![ACME_TLS_ALPN_PROTOCOL.to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    // The handshake is the whole answer; the validator then closes.
    responder(port, move |stream| {
        let accepting = acceptor.accept(stream);
        async move {
            match accepting.await {
                Ok(mut tls) => {
                    let _ = tls.shutdown().await;
                    true
                }
                Err(_) => false,
            }
        }
    })
    .await
}

/// Serves `chain`/`key` on loopback and connects with a client that trusts only `root`
/// and asks for `domain`: succeeds only if the chain verifies up to the root for the
/// domain and the server holds the leaf's private key.
async fn handshake_verifies(
    chain_pem: &str,
    key_pem: &str,
    root: &CertificateDer<'static>,
    domain: &'static str,
) {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(chain.len() >= 2, "leaf and intermediate: {}", chain.len());
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("the key belongs to the leaf certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(stream).await?;
        tls.write_all(b"ok").await?;
        tls.shutdown().await
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from(domain).unwrap(), stream)
        .await
        .expect("the issued chain verifies against pebble's root for the domain");
    let mut reply = Vec::new();
    tls.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"ok");
    served.await.unwrap().unwrap();
}

type Delivered = Arc<Mutex<Vec<(String, String)>>>;

/// Pebble, the shared answers, a data dir and a clock set to now.
struct Setup {
    pebble: Pebble,
    challenges: Challenges,
    data: tempfile::TempDir,
    clock: Arc<TestClock>,
}

impl Setup {
    fn start() -> Setup {
        Setup {
            pebble: Pebble::start(),
            challenges: Challenges::new(),
            data: tempfile::tempdir().unwrap(),
            clock: Arc::new(TestClock(Mutex::new(SystemTime::now()))),
        }
    }

    /// A service over the data dir; the callback records every certificate it is given.
    fn service(&self, config: AcmeConfig) -> (AcmeService, Delivered) {
        let delivered: Delivered = Arc::default();
        let sink = delivered.clone();
        let kind = ChallengeKind::choose(&config, true);
        let service = AcmeService::new(
            config,
            kind,
            self.data.path(),
            self.challenges.clone(),
            self.clock.clone(),
            Box::new(move |chain: &str, key: &str| {
                sink.lock()
                    .unwrap()
                    .push((chain.to_owned(), key.to_owned()))
            }),
        );
        (service, delivered)
    }

    fn stored(&self) -> Vec<u8> {
        std::fs::read(self.data.path().join("acme/certificate.pem")).unwrap()
    }

    /// The expiry of the certificate `outcome` reports issued.
    fn issued(&self, outcome: Result<CheckOutcome, AcmeError>) -> SystemTime {
        match outcome {
            Ok(CheckOutcome::Issued { not_after, .. }) => not_after,
            other => panic!("{other:?}\n{}", self.pebble.log()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_01_issues_and_renews_thirty_days_before_expiry_not_sooner() {
    let t = Setup::start();
    let (_responder, answered) = http_responder(t.pebble.http_port, t.challenges.clone()).await;
    let (mut service, delivered) = t.service(t.pebble.config(AcmeChallenge::Http01));

    let issued_at = t.clock.now();
    let not_after = t.issued(service.check().await);
    let lifetime = not_after.duration_since(issued_at).unwrap();
    assert!(
        lifetime > DAY * 89 && lifetime <= DAY * 90,
        "a 90-day certificate: {lifetime:?}"
    );
    assert!(
        answered.load(Ordering::SeqCst) > 0,
        "pebble fetched the key authorization over HTTP-01"
    );
    let root = t.pebble.issuing_root();
    let first = delivered.lock().unwrap()[0].clone();
    handshake_verifies(&first.0, &first.1, &root, DOMAIN).await;
    assert!(
        t.challenges.is_empty(),
        "answers are withdrawn once the order is done"
    );
    let mode = |name: &str| {
        use std::os::unix::fs::PermissionsExt;
        let path = t.data.path().join("acme").join(name);
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode("certificate.pem"), 0o600);
    assert_eq!(mode("account.json"), 0o600);
    let first_file = t.stored();

    // 59 days later (31 left): nothing to do. A service pointed at a directory that refuses
    // connections proves that no request is made.
    t.clock.set(issued_at + DAY * 59);
    let mut offline_config = t.pebble.config(AcmeChallenge::Http01);
    offline_config.directory = format!("https://127.0.0.1:{}/dir", free_port());
    let (mut offline, offline_delivered) = t.service(offline_config);
    assert!(matches!(
        offline.check().await,
        Ok(CheckOutcome::NotDue { .. })
    ));
    assert!(matches!(
        service.check().await,
        Ok(CheckOutcome::NotDue { renew_at }) if renew_at == not_after - DAY * 30
    ));
    assert!(offline_delivered.lock().unwrap().is_empty());
    assert_eq!(delivered.lock().unwrap().len(), 1);
    assert_eq!(t.stored(), first_file);

    // 61 days later (29 left): a new certificate, stored and handed to the callback. The
    // account is reused from account.json by a fresh service (as after a restart).
    t.clock.set(issued_at + DAY * 61);
    let (mut restarted, restarted_delivered) = t.service(t.pebble.config(AcmeChallenge::Http01));
    t.issued(restarted.check().await);
    let renewed = restarted_delivered.lock().unwrap()[0].clone();
    assert_ne!(renewed, first, "a new certificate and key");
    handshake_verifies(&renewed.0, &renewed.1, &root, DOMAIN).await;
    assert_ne!(t.stored(), first_file);
    assert!(
        !t.pebble.log().contains("There are now 2 accounts"),
        "the stored account is reused:\n{}",
        t.pebble.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn_01_issues_and_the_loop_hands_it_over_after_a_restart() {
    let t = Setup::start();
    let (_responder, handshakes) =
        tls_alpn_responder(t.pebble.tls_port, t.challenges.clone()).await;
    // Two names: one order, two authorizations, one certificate for both.
    let mut config = t.pebble.config(AcmeChallenge::TlsAlpn01);
    config.domains.push(SECOND_DOMAIN.into());
    let (mut service, delivered) = t.service(config.clone());
    t.issued(service.check().await);
    assert!(
        handshakes.load(Ordering::SeqCst) > 0,
        "pebble validated with a TLS-ALPN-01 handshake"
    );
    let (chain, key) = delivered.lock().unwrap()[0].clone();
    let root = t.pebble.issuing_root();
    handshake_verifies(&chain, &key, &root, DOMAIN).await;
    handshake_verifies(&chain, &key, &root, SECOND_DOMAIN).await;
    assert!(t.challenges.is_empty());

    // After a restart, the running loop hands the stored certificate over at once, orders
    // nothing while it is not due, and stops on shutdown.
    let (restarted, restored) = t.service(config);
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(restarted.run(shutdown_rx));
    let deadline = Instant::now() + Duration::from_secs(10);
    while restored.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the stored certificate was not handed over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
    assert_eq!(*restored.lock().unwrap(), [(chain, key)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_validation_backs_off_and_keeps_the_current_certificate() {
    let t = Setup::start();
    let (responder, _) = http_responder(t.pebble.http_port, t.challenges.clone()).await;
    let (mut service, delivered) = t.service(t.pebble.config(AcmeChallenge::Http01));
    let issued_at = t.clock.now();
    t.issued(service.check().await);
    let current = t.stored();

    // The responder goes away; the renewal's validation fails.
    responder.abort();
    let _ = responder.await;
    let due = issued_at + DAY * 61;
    t.clock.set(due);
    let err = service.check().await.unwrap_err();
    assert!(
        matches!(err, AcmeError::Validation { ref domain, challenge: "http-01", .. } if domain == DOMAIN),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("could not validate {DOMAIN} over http-01"))
            && text.contains("refused"),
        "{text}"
    );
    assert_eq!(t.stored(), current, "the current certificate stays");
    assert_eq!(delivered.lock().unwrap().len(), 1);
    assert_eq!(service.failures(), 1);

    // Asked again at once: it waits out the back-off without calling the CA.
    assert_eq!(
        service.check().await.unwrap(),
        CheckOutcome::BackingOff {
            until: due + Duration::from_secs(300)
        }
    );

    // After the back-off, with the responder back, it recovers.
    let (_responder, _) = http_responder(t.pebble.http_port, t.challenges.clone()).await;
    t.clock.set(due + Duration::from_secs(301));
    t.issued(service.check().await);
    assert_eq!(service.failures(), 0);
    assert_eq!(delivered.lock().unwrap().len(), 2);
    assert_ne!(t.stored(), current);
}

// --- Through the real `marquee serve --tls` -------------------------------------------
//
// Pebble validates against Marquee's own listeners: its `httpPort` is Marquee's plain
// port and its `tlsPort` Marquee's HTTPS port, so no test responder is involved.

/// How long after issuance a certificate from `Pebble::start_issuing_for(30 days + this)`
/// is due for renewal under `renew_before_days = 30`.
const RENEW_AFTER: Duration = Duration::from_secs(8);

/// `serve --tls` with ACME from `pebble`, HTTPS on pebble's `tlsPort` and plain HTTP on
/// `plain_port` (pebble's `httpPort` for HTTP-01 to reach it; 0 for a port it never tries).
fn marquee_with_acme(
    pebble: &Pebble,
    challenge: &str,
    data: &std::path::Path,
    plain_port: u16,
) -> Server {
    let tables = format!(
        "[tls.acme]\ndomains = [\"{DOMAIN}\"]\nemail = \"ops@marquee.test\"\n\
         directory = \"{}\"\nchallenge = \"{challenge}\"\ndirectory_ca_file = \"{}\"\n\
         renew_before_days = 30\n",
        pebble.directory,
        pebble.ca_file.display()
    );
    Server::start_with(
        data,
        Options {
            tls: true,
            tables,
            listen: Some(format!("127.0.0.1:{plain_port}")),
            env: vec![(
                "MARQUEE_TLS__LISTEN".into(),
                format!("127.0.0.1:{}", pebble.tls_port),
            )],
            ..Options::default()
        },
    )
}

/// A TLS connection to `server`'s HTTPS port asking for `DOMAIN`: verified against `root`
/// alone, or (with `None`) accepting any certificate.
fn connect(server: &Server, root: Option<&CertificateDer<'static>>) -> Result<TlsClient, String> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let config = match root {
        Some(root) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(root.clone()).unwrap();
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
            .with_no_client_auth(),
    };
    let addr = server
        .https
        .as_deref()
        .unwrap()
        .trim_start_matches("https://");
    let tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let name = ServerName::try_from(DOMAIN).unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut client = rustls::StreamOwned::new(conn, tcp);
    while client.conn.is_handshaking() {
        client
            .conn
            .complete_io(&mut client.sock)
            .map_err(|e| e.to_string())?;
    }
    Ok(client)
}

/// Waits for a connection verified by `root` whose certificate is not `previous`, asking
/// for `/healthz` on every connection in `open` meanwhile: each must keep answering.
fn wait_for_new_certificate(
    server: &Server,
    pebble: &Pebble,
    root: &CertificateDer<'static>,
    previous: Option<&[u8]>,
    open: &mut [&mut TlsClient],
) -> TlsClient {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for client in open.iter_mut() {
            assert_eq!(exchange(client, "/healthz").0, 200, "an open connection");
        }
        if let Ok(client) = connect(server, Some(root))
            && previous != Some(presented_cert(&client).as_slice())
        {
            return client;
        }
        assert!(
            Instant::now() < deadline,
            "no new certificate from pebble\n{}\n{}",
            pebble.log(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn serve_gets_its_certificate_over_http_01_and_renews_it_without_dropping_connections() {
    let pebble = Pebble::start_issuing_for(30 * DAY + RENEW_AFTER);
    let data = tempfile::tempdir().unwrap();
    let server = marquee_with_acme(&pebble, "http-01", data.path(), pebble.http_port);
    // Opened at once: most likely still on the self-signed certificate.
    let mut before = connect(&server, None).unwrap();
    let root = pebble.issuing_root();

    let mut first = wait_for_new_certificate(&server, &pebble, &root, None, &mut [&mut before]);
    let first_cert = presented_cert(&first);
    // The one in the data dir, leaf first.
    let stored = std::fs::read(data.path().join("acme/certificate.pem")).unwrap();
    let stored_leaf = CertificateDer::pem_slice_iter(&stored)
        .next()
        .unwrap()
        .unwrap();
    let renewed = wait_for_new_certificate(
        &server,
        &pebble,
        &root,
        Some(&first_cert),
        &mut [&mut before, &mut first],
    );
    assert_ne!(presented_cert(&renewed), first_cert);
    assert!(
        stored_leaf.as_ref() == first_cert.as_slice()
            || stored_leaf.as_ref() == presented_cert(&renewed).as_slice(),
        "the served certificate is the stored one"
    );
    // Both connections opened before the swaps still work.
    assert_eq!(exchange(&mut first, "/healthz").0, 200);
    assert_eq!(exchange(&mut before, "/healthz").0, 200);
    assert!(server.log().contains("http-01"), "{}", server.log());
}

#[test]
fn serve_gets_its_certificate_over_tls_alpn_01_on_its_https_port() {
    let pebble = Pebble::start();
    let data = tempfile::tempdir().unwrap();
    let mut server = marquee_with_acme(&pebble, "tls-alpn-01", data.path(), pebble.http_port);
    let mut before = connect(&server, None).unwrap();
    let root = pebble.issuing_root();
    let mut issued = wait_for_new_certificate(&server, &pebble, &root, None, &mut [&mut before]);
    assert_eq!(exchange(&mut issued, "/healthz").0, 200);
    assert_eq!(exchange(&mut before, "/healthz").0, 200);
    assert!(server.log().contains("tls-alpn-01"), "{}", server.log());

    // After a restart the stored certificate is served again; nothing new is ordered.
    let issued_cert = presented_cert(&issued);
    drop((issued, before));
    server.terminate();
    server.restart();
    let again = wait_for_new_certificate(&server, &pebble, &root, None, &mut []);
    assert_eq!(presented_cert(&again), issued_cert);
}

/// `auto` takes HTTP-01 only when plain HTTP is on port 80, where the CA looks; elsewhere it
/// takes TLS-ALPN-01 on the HTTPS port, which has to be reachable as 443 anyway for the
/// certificate to be of use. Here plain HTTP is on a port pebble never tries, so only
/// TLS-ALPN-01 can succeed.
#[test]
fn auto_uses_tls_alpn_01_when_plain_http_is_not_on_port_80() {
    let pebble = Pebble::start();
    let data = tempfile::tempdir().unwrap();
    let server = marquee_with_acme(&pebble, "auto", data.path(), 0);
    assert_ne!(
        server.base,
        format!("http://127.0.0.1:{}", pebble.http_port)
    );
    let root = pebble.issuing_root();
    let mut issued = wait_for_new_certificate(&server, &pebble, &root, None, &mut []);
    assert_eq!(exchange(&mut issued, "/healthz").0, 200);
    let log = server.log();
    assert!(
        log.contains("tls-alpn-01") && !log.contains("http-01"),
        "{log}"
    );
}
