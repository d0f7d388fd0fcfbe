//! The public listener. actix-server accepts connections on one worker thread per core;
//! each connection starts on the origin's sendfile fast path and is handed to actix-web's
//! HTTP/1 service (built here as `HttpServer` would build it) when it asks for anything
//! else. One port serves the origin, the web UI and the API.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_http::HttpServiceBuilder;
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, fn_factory, fn_service,
    map_config,
};
use actix_web::dev::AppConfig;
use actix_web::{App, web};
use tokio::net::TcpStream;

use super::AppState;
use super::client_errors::ClientErrors;
use super::fast_origin::{self, FIRST_REQUEST, Handoff, KEEP_ALIVE};
use super::request_gate::RequestGate;
use super::stall::SendStall;

/// Binds every address `listen` resolves to, with the backlog actix-web would use.
pub fn bind(listen: &str) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    for addr in listen.to_socket_addrs()? {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)?;
        listeners.push(socket.into());
    }
    if listeners.is_empty() {
        return Err(std::io::Error::other(format!("{listen} names no address")));
    }
    Ok(listeners)
}

/// The web application: every route, with shared state and the access log.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(super::query_config())
        .app_data(super::json_config())
        .app_data(super::path_config())
        // Innermost, so the headers below reach the error pages it makes.
        .wrap_fn(|req, srv| {
            let answer = actix_service::Service::call(srv, req);
            async move { Ok(super::error_pages::dress(answer.await?).await) }
        })
        // On everything actix-web answers (pages, the API, errors); origin answers carry it
        // from `playback` already, on both paths.
        .wrap(
            actix_web::middleware::DefaultHeaders::new().add(("x-content-type-options", "nosniff")),
        )
        // The page frame's header: signed in or not, and where "Sign in" comes back to.
        .wrap_fn(|req, srv| {
            let frame = super::frame::prepare(&req);
            super::frame::run(frame, actix_service::Service::call(srv, req))
        })
        .wrap_fn(|req, srv| {
            // Counted here by route class; origin answers are counted by `playback`.
            let route = super::ops::route_class(req.path());
            let answer = actix_service::Service::call(srv, req);
            async move {
                let mut res = answer.await?;
                // Every page gets the Content-Security-Policy, error pages included.
                super::csp::add_to(res.headers_mut());
                if let Some(route) = route {
                    crate::metrics::global().http_request(route, res.status().as_u16());
                }
                Ok(res)
            }
        })
        .wrap(
            // Segment and asset fetches and player beacons are not logged: thousands a
            // second under load (a refused beacon is logged at debug level, and counted).
            actix_web::middleware::Logger::new("%{request}xi %s %b %Dms")
                .custom_request_replace("request", |req| {
                    super::account_pages::loggable_request_line(
                        req.method().as_str(),
                        req.path(),
                        req.query_string(),
                        req.version(),
                    )
                })
                .log_target("marquee::http")
                .exclude_regex("^/(p|static)/")
                .exclude("/beacon"),
        )
        .configure(super::routes)
}

/// actix-web's service for one connection type: `app()` under the configuration
/// `HttpServer` would give it, its errors rendered as responses.
pub(super) fn web_service(
    state: web::Data<AppState>,
) -> impl ServiceFactory<
    actix_http::Request,
    Config = (),
    Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody + 'static>,
    Error = actix_web::HttpResponse,
    InitError = (),
> + 'static {
    map_config(
        app(state)
            .into_factory()
            .map_err(|err: actix_web::Error| err.as_response_error().error_response()),
        |_: ()| AppConfig::default(),
    )
}

/// actix-http's connection builder with the timeouts every listener of ours uses (as
/// actix-web's `HttpServer` sets them, and the fast path matches).
pub(super) fn http_builder<T, S>(addr: SocketAddr) -> HttpServiceBuilder<T, S>
where
    S: ServiceFactory<actix_http::Request, Config = ()>,
    S::Error: Into<actix_http::Response<actix_web::body::BoxBody>> + 'static,
    S::InitError: std::fmt::Debug,
    <S::Service as Service<actix_http::Request>>::Future: 'static,
{
    HttpServiceBuilder::default()
        .keep_alive(KEEP_ALIVE)
        .client_request_timeout(FIRST_REQUEST)
        .client_disconnect_timeout(Duration::from_secs(1))
        .local_addr(addr)
}

/// actix-server with Marquee's shutdown rules: signals are `server`'s to handle, and
/// open connections get 10 s to finish.
pub(super) fn server_builder() -> actix_server::ServerBuilder {
    actix_server::Server::build()
        .disable_signals()
        .shutdown_timeout(10)
}

/// Serves on `listeners` until stopped through the returned server's handle. Without
/// `sendfile`, every connection goes straight to actix-web. A client that accepts no
/// response bytes for `send_timeout` is disconnected, on either path, and so is one whose
/// request body stalls that long (see `request_gate` for what else bounds a client).
pub fn serve(
    listeners: Vec<TcpListener>,
    state: web::Data<AppState>,
    sendfile: bool,
    send_timeout: Duration,
) -> std::io::Result<actix_server::Server> {
    Ok(add_plain(server_builder(), listeners, state, sendfile, send_timeout)?.run())
}

/// Adds the plain-HTTP listeners (origin fast path, then actix-web) to `builder`.
pub(super) fn add_plain(
    mut builder: actix_server::ServerBuilder,
    listeners: Vec<TcpListener>,
    state: web::Data<AppState>,
    sendfile: bool,
    send_timeout: Duration,
) -> std::io::Result<actix_server::ServerBuilder> {
    let client_errors = Arc::new(ClientErrors::default());
    for listener in listeners {
        let addr: SocketAddr = listener.local_addr()?;
        let state = state.clone();
        let client_errors = client_errors.clone();
        builder = builder.listen(format!("marquee-{addr}"), listener, move || {
            let state = state.clone();
            let h1 = Rc::new(
                http_builder::<RequestGate<SendStall<TcpStream>>, _>(addr)
                    .h1(web_service(state.clone())),
            );
            let client_errors = client_errors.clone();
            fn_factory(move || {
                let h1 = h1.clone();
                let origin = state.origin.clone();
                let proxies = state.proxies.clone();
                let client_errors = client_errors.clone();
                async move {
                    let actix = Rc::new(h1.new_service(()).await?);
                    let handoff: Handoff = Rc::new(move |stream: TcpStream| {
                        let (actix, client_errors) = (actix.clone(), client_errors.clone());
                        Box::pin(async move {
                            let peer = stream.peer_addr().ok();
                            let stream = RequestGate::new(
                                SendStall::new(stream, send_timeout),
                                send_timeout,
                            );
                            if let Err(e) = actix.call((stream, peer)).await {
                                client_errors.report(peer, &e);
                            }
                        })
                    });
                    Ok::<_, ()>(fn_service(move |stream: TcpStream| {
                        let (origin, handoff) = (origin.clone(), handoff.clone());
                        let proxies = proxies.clone();
                        async move {
                            let _ = stream.set_nodelay(true);
                            if sendfile {
                                fast_origin::serve_connection(
                                    stream,
                                    origin,
                                    &proxies,
                                    handoff,
                                    send_timeout,
                                )
                                .await;
                            } else {
                                handoff(stream).await;
                            }
                            Ok::<_, ()>(())
                        }
                    }))
                }
            })
        })?;
    }
    Ok(builder)
}
