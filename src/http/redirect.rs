//! Plain HTTP when HTTPS is on: every request is redirected to the same path on the HTTPS
//! port, except ACME HTTP-01 challenges, which must be answered over plain HTTP, and
//! `/healthz`.

use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::Duration;

use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, fn_factory, fn_service,
    map_config,
};
use actix_web::dev::AppConfig;
use actix_web::http::Method;
use actix_web::{App, HttpRequest, HttpResponse, web};
use tokio::net::TcpStream;

use super::listener::http_builder;
use super::request_gate::RequestGate;
use super::stall::SendStall;
use crate::acme::Challenges;

struct Target {
    https_port: u16,
    tokens: Challenges,
}

pub(super) fn add(
    mut builder: actix_server::ServerBuilder,
    listeners: Vec<TcpListener>,
    https_port: u16,
    tokens: Challenges,
    send_timeout: Duration,
) -> std::io::Result<actix_server::ServerBuilder> {
    let target = web::Data::new(Target { https_port, tokens });
    for listener in listeners {
        let addr: SocketAddr = listener.local_addr()?;
        let target = target.clone();
        builder = builder.listen(format!("marquee-redirect-{addr}"), listener, move || {
            let app = App::new()
                .app_data(target.clone())
                // Probes (systemd's readiness check, load balancers) keep working on the
                // plain port.
                .service(super::healthz)
                .route(
                    "/.well-known/acme-challenge/{token}",
                    web::get().to(acme_challenge),
                )
                .default_service(web::to(redirect));
            let h1 = Rc::new(
                http_builder::<RequestGate<SendStall<TcpStream>>, _>(addr).h1(map_config(
                    app.into_factory()
                        .map_err(|err: actix_web::Error| err.as_response_error().error_response()),
                    |_: ()| AppConfig::default(),
                )),
            );
            fn_factory(move || {
                let h1 = h1.clone();
                async move {
                    let h1 = Rc::new(h1.new_service(()).await?);
                    Ok::<_, ()>(fn_service(move |stream: TcpStream| {
                        let h1 = h1.clone();
                        async move {
                            let peer = stream.peer_addr().ok();
                            let stream = RequestGate::new(
                                SendStall::new(stream, send_timeout),
                                send_timeout,
                            );
                            // Errors here are a client's own; the HTTPS side reports its.
                            let _ = h1.call((stream, peer)).await;
                            Ok::<_, ()>(())
                        }
                    }))
                }
            })
        })?;
    }
    Ok(builder)
}

async fn acme_challenge(target: web::Data<Target>, token: web::Path<String>) -> HttpResponse {
    match target.tokens.http_response(&token) {
        Some(answer) => HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(answer),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn redirect(target: web::Data<Target>, req: HttpRequest) -> HttpResponse {
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(host_name);
    let Some(host) = host else {
        return HttpResponse::BadRequest()
            .content_type("text/plain")
            .body("HTTPS only: send a Host header to be redirected\n");
    };
    let port = match target.https_port {
        443 => String::new(),
        port => format!(":{port}"),
    };
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    // 308 keeps the method and body; a 301 lets a client turn a POST into a GET.
    let mut answer = if matches!(*req.method(), Method::GET | Method::HEAD) {
        HttpResponse::MovedPermanently()
    } else {
        HttpResponse::PermanentRedirect()
    };
    answer
        .insert_header(("location", format!("https://{host}{port}{path}")))
        .finish()
}

/// The host part of a `Host` header (its port dropped), if it is a plain DNS name, an IPv4
/// address or a bracketed IPv6 address; anything else could steer the redirect elsewhere.
fn host_name(header: &str) -> Option<&str> {
    let host = if header.starts_with('[') {
        let end = header.find(']')?;
        let (v6, rest) = header.split_at(end + 1);
        v6[1..v6.len() - 1].parse::<std::net::Ipv6Addr>().ok()?;
        if !(rest.is_empty() || rest.starts_with(':')) {
            return None;
        }
        v6
    } else {
        header.split_once(':').map_or(header, |(h, _)| h)
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    let ok =
        host.starts_with('[') || (!host.is_empty() && host.len() <= 253 && host.chars().all(plain));
    ok.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn only_plain_host_names_are_redirected_to() {
        assert_eq!(host_name("example.com"), Some("example.com"));
        assert_eq!(host_name("example.com:8080"), Some("example.com"));
        assert_eq!(host_name("10.0.0.1:80"), Some("10.0.0.1"));
        assert_eq!(host_name("[::1]:8080"), Some("[::1]"));
        assert_eq!(host_name("[::1]"), Some("[::1]"));
        for bad in [
            "",
            "evil.com/x",
            "a@b",
            "[::1]x",
            "[zz]",
            "a b",
            "evil.com\\@x",
        ] {
            assert_eq!(host_name(bad), None, "{bad:?}");
        }
    }
}
