//! Who may fetch what from the origin, and the only place playback URLs are made. Free
//! media plays under the stable path `/p/public/<asset>/…`, which shared caches may keep.
//! Everything else plays under a token the gate minted after the entitlement engine said
//! yes (`/p/<token>/<asset>/…`): bound to the asset, the viewer's session and an expiry,
//! checked on every request from memory. The token comes first in the path so that every
//! relative URI in a playlist inherits it, and so an edge cache can drop it from its key.

use std::sync::{Arc, RwLock};

use super::token::{Claims, KeyRing, TokenError, ViewerTag};

/// The path segment of media anyone may watch.
pub const PUBLIC_TOKEN: &str = "public";

/// How a viewer reaches an asset's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    Public,
    Token { token: String, expires_at: i64 },
}

impl Pass {
    fn segment(&self) -> &str {
        match self {
            Pass::Public => PUBLIC_TOKEN,
            Pass::Token { token, .. } => token,
        }
    }

    /// The URL of `file` of `asset_id` under this pass.
    pub fn url(&self, asset_id: &str, file: &str) -> String {
        format!("/p/{}/{asset_id}/{file}", self.segment())
    }

    pub fn expires_at(&self) -> Option<i64> {
        match self {
            Pass::Public => None,
            Pass::Token { expires_at, .. } => Some(*expires_at),
        }
    }
}

/// A package's poster frame is storefront artwork: it stays on the public path whatever
/// the asset's level (the frames of the trick-play strip do not).
pub fn poster_url(asset_id: &str, file: &str) -> String {
    Pass::Public.url(asset_id, file)
}

/// An asset's public URL, for pages and API answers about media (the dashboard's preview of
/// free media, `playback_url` in the API): premium media gets no such URL there.
pub fn public_url(asset_id: &str, file: &str) -> String {
    Pass::Public.url(asset_id, file)
}

pub struct Gate {
    ring: RwLock<Arc<KeyRing>>,
}

impl Gate {
    pub fn new(ring: KeyRing) -> Gate {
        Gate {
            ring: RwLock::new(Arc::new(ring)),
        }
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// After a rotation: the new key mints from now on.
    pub fn replace(&self, ring: KeyRing) {
        *self.ring.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ring);
    }

    /// A token pass for a viewer the entitlement engine let in, until `expires_at`.
    pub fn mint(&self, asset_id: &str, viewer: ViewerTag, expires_at: i64) -> Pass {
        Pass::Token {
            token: self.ring().mint(asset_id, viewer, expires_at),
            expires_at,
        }
    }

    pub fn verify(
        &self,
        token: &str,
        asset_id: &str,
        viewer: Option<ViewerTag>,
        now: i64,
    ) -> Result<Claims, TokenError> {
        self.ring().verify(token, asset_id, viewer, now)
    }
}

/// The viewer a request comes from, as its session cookie says (either name: the origin
/// answers over TLS and plain HTTP alike). Nothing is looked up: a made-up cookie only
/// yields a tag no token was minted for.
pub fn viewer_from_cookies(headers: &http::HeaderMap) -> Option<ViewerTag> {
    use crate::accounts::secret::Secret;
    use crate::accounts::sessions::{SESSION_COOKIE_PLAIN, SESSION_COOKIE_TLS};
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| {
            (c.name() == SESSION_COOKIE_TLS || c.name() == SESSION_COOKIE_PLAIN)
                && Secret::parse(c.value()).is_some()
        })
        .map(|c| ViewerTag::of_session(c.value()))
}

/// The tag of the session a page was served to (the same the origin derives).
pub fn viewer_of(session: &crate::accounts::secret::Secret) -> ViewerTag {
    ViewerTag::of_session(&session.encode())
}
