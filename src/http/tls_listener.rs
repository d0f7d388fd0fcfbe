//! The HTTPS listener. Each connection's TLS handshake is done here (tokio-rustls, over
//! `SendStall`, so a client that stops reading is dropped under TLS too), then the
//! negotiated protocol picks actix-web's HTTP/2 service behind `H2Gate` or its HTTP/1
//! service behind `RequestGate`. There is no sendfile path: the bytes must be encrypted in user space.
//!
//! A handshake must finish within `HANDSHAKE_TIMEOUT` of the accept, and at most
//! `MAX_HANDSHAKES` run at once (each costs a key exchange and a signature), so clients
//! that open connections and never finish a handshake hold neither a task nor CPU for long.

use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_service::{Service, ServiceFactory, fn_factory, fn_service};
use actix_web::web;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::AppState;
use super::client_errors::ClientErrors;
use super::h2_gate::H2Gate;
use super::listener::{http_builder, server_builder, web_service};
use super::request_gate::RequestGate;
use super::stall::SendStall;
use crate::acme::Challenges;
use crate::tls::ACME_TLS_ALPN;

pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress across the server; more wait (within their timeout) for a turn.
pub const MAX_HANDSHAKES: usize = 1024;

type Tls = TlsStream<SendStall<TcpStream>>;

/// Put in every TLS connection's data: `req.conn_data::<ServedOverTls>()` says a request
/// came over HTTPS, which the client cannot forge with a header (unlike
/// `X-Forwarded-Proto`). Cookies get `Secure` when it is present.
#[derive(Clone, Copy, Debug)]
pub struct ServedOverTls;

/// What the HTTPS server needs beside the application state.
pub struct TlsSetup {
    pub config: Arc<ServerConfig>,
    /// The ACME answers; the plain-HTTP listener serves their HTTP-01 part (the resolver in
    /// `config` gives the TLS-ALPN-01 part, from the same map).
    pub tokens: Challenges,
}

/// Serves HTTPS on `secure` and, on `plain`, redirects to it (see `redirect`).
pub fn serve(
    plain: Vec<TcpListener>,
    secure: Vec<TcpListener>,
    state: web::Data<AppState>,
    tls: TlsSetup,
    send_timeout: Duration,
) -> std::io::Result<actix_server::Server> {
    let https_port = match secure.first() {
        Some(listener) => listener.local_addr()?.port(),
        None => return Err(std::io::Error::other("no HTTPS address to listen on")),
    };
    let mut builder = super::redirect::add(
        server_builder(),
        plain,
        https_port,
        tls.tokens.clone(),
        send_timeout,
    )?;
    let acceptor = TlsAcceptor::from(tls.config);
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let client_errors = Arc::new(ClientErrors::default());
    for listener in secure {
        let addr: SocketAddr = listener.local_addr()?;
        let (state, acceptor, handshakes, client_errors) = (
            state.clone(),
            acceptor.clone(),
            handshakes.clone(),
            client_errors.clone(),
        );
        builder = builder.listen(format!("marquee-tls-{addr}"), listener, move || {
            let h1 = Rc::new(
                http_builder::<RequestGate<Tls>, _>(addr)
                    .secure()
                    .on_connect_ext(mark_tls)
                    .h1(web_service(state.clone())),
            );
            // actix-http sets no HTTP/2 limits beyond windows: `H2Gate` announces and keeps
            // the stream and header limits, the h2 crate's own rapid-reset and
            // CONTINUATION-flood limits hold, keep-alive sends pings and closes a
            // connection whose pong does not come back, and the origin lets
            // `FileAnswers::PER_CONNECTION` file answers send at once per connection.
            let h2 = Rc::new(
                http_builder::<H2Gate<Tls>, _>(addr)
                    .secure()
                    .on_connect_ext(|_, data| {
                        data.insert(ServedOverTls);
                        data.insert(super::origin::FileAnswers::new());
                    })
                    .h2(web_service(state.clone())),
            );
            let (acceptor, handshakes, client_errors) =
                (acceptor.clone(), handshakes.clone(), client_errors.clone());
            fn_factory(move || {
                let (h1, h2) = (h1.clone(), h2.clone());
                let (acceptor, handshakes, client_errors) =
                    (acceptor.clone(), handshakes.clone(), client_errors.clone());
                async move {
                    let h1 = Rc::new(h1.new_service(()).await?);
                    let h2 = Rc::new(h2.new_service(()).await?);
                    Ok::<_, ()>(fn_service(move |stream: TcpStream| {
                        let (h1, h2) = (h1.clone(), h2.clone());
                        let (acceptor, handshakes, client_errors) =
                            (acceptor.clone(), handshakes.clone(), client_errors.clone());
                        async move {
                            let _ = stream.set_nodelay(true);
                            let peer = stream.peer_addr().ok();
                            let stream = SendStall::new(stream, send_timeout);
                            let Some(tls) = handshake(&acceptor, &handshakes, stream).await else {
                                return Ok(());
                            };
                            let outcome = match tls.get_ref().1.alpn_protocol() {
                                Some(b"h2") => h2.call((H2Gate::new(tls), peer)).await,
                                // A TLS-ALPN-01 validation ends with the handshake.
                                Some(p) if p == ACME_TLS_ALPN => Ok(()),
                                _ => {
                                    let gated = RequestGate::new(tls, send_timeout);
                                    h1.call((gated, peer)).await
                                }
                            };
                            if let Err(e) = outcome {
                                client_errors.report(peer, &e);
                            }
                            Ok::<_, ()>(())
                        }
                    }))
                }
            })
        })?;
    }
    Ok(builder.run())
}

/// The TLS handshake, or `None` when it fails or takes longer than `HANDSHAKE_TIMEOUT`
/// (waiting for a turn included). Failures are not logged: browsers that do not trust a
/// self-signed certificate abort handshakes all the time.
async fn handshake(
    acceptor: &TlsAcceptor,
    handshakes: &Semaphore,
    stream: SendStall<TcpStream>,
) -> Option<Tls> {
    let accept = async {
        let _turn = handshakes.acquire().await.ok()?;
        acceptor.accept(stream).await.ok()
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, accept)
        .await
        .ok()
        .flatten()
}

fn mark_tls<T>(_: &T, data: &mut actix_http::Extensions) {
    data.insert(ServedOverTls);
}
