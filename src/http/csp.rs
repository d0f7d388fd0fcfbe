//! The Content-Security-Policy of every HTML page. Scripts, styles and fonts come only from
//! this site (all vendored under web-ui/static), images also from `data:` and `blob:`,
//! media also from `blob:` and `data:` (hls.js plays through a MediaSource and gives its
//! subtitle tracks a `data:,WEBVTT` source), workers also from `blob:` (hls.js may start
//! one from a blob), requests only to this site; no plugins, no `<base>`, and no page is
//! framed by another. No inline script, style or event handler is allowed, so a name that
//! slipped past escaping still runs nothing. `form-action` is left out: Chromium applies it
//! to the redirect a form answers with, and the checkout form is redirected to Stripe.

use actix_web::http::header::{self, HeaderMap, HeaderValue};

pub const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob: data:; worker-src 'self' blob:; \
    connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'";

/// Adds the policy to an HTML answer that has none yet.
pub fn add_to(headers: &mut HeaderMap) {
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
    }
}
