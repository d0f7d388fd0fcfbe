//! Extractors that put a handler's permission in its signature.
//!
//! `Caller<P>` is every `/api/v1` route's: an API key whose scopes grant `P`, or a signed-in
//! session whose role may `P` (the dashboard's own scripts call the API this way). A
//! session's state-changing request must carry the `x-csrf-token` header; the API never
//! reads a form body for it.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::AppState;
use super::error::ApiError;
use super::session::{PageError, Viewer, presented_session};
use crate::accounts::apikeys::{self, VerifiedKey};
use crate::accounts::members::Acting;
use crate::accounts::roles::perm::Required;
use crate::accounts::roles::{Permission, Role};
use crate::audit::Actor;
use crate::uploads::Owner;

/// Who is calling an API route.
pub enum Principal {
    Key(VerifiedKey),
    Session(Box<Viewer>),
}

/// A caller allowed permission `P` (see `accounts::roles::PERMISSIONS`).
pub struct Caller<P: Required> {
    pub principal: Principal,
    permission: PhantomData<P>,
}

impl<P: Required> Caller<P> {
    /// Who the audit log names for a change made by this caller.
    pub fn actor(&self) -> Actor {
        match &self.principal {
            Principal::Key(k) => Actor::ApiKey {
                id: k.id.0,
                label: k.name.clone(),
            },
            Principal::Session(v) => v.actor(),
        }
    }

    /// Who is acting on other accounts: a person with their role, or a key, which reaches
    /// as far as an admin (never owner-only changes).
    pub fn acting(&self) -> Acting {
        match &self.principal {
            // A key reaches as far as its owner, never to owner-only changes.
            Principal::Key(k) => Acting {
                actor: self.actor(),
                role: match k.owner_role {
                    Some(Role::Owner) | None => Role::Admin,
                    Some(role) => role,
                },
                user: None,
            },
            Principal::Session(v) => Acting::user(v.user()),
        }
    }

    /// Whether this caller may also do `permission` (a change that needs more than the
    /// route's own permission in some cases: the titles of a collection with a level).
    pub fn may(&self, permission: Permission) -> bool {
        match &self.principal {
            Principal::Key(k) => k.may(permission),
            Principal::Session(v) => v.user().role.may(permission),
        }
    }

    /// Every permission this caller holds (a key: its scopes within its owner's role).
    pub fn granted(&self) -> Vec<Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(|p| self.may(*p))
            .collect()
    }

    /// Who owns the uploads this caller creates.
    pub fn upload_owner(&self) -> Owner {
        match &self.principal {
            Principal::Key(k) => Owner::api_key(k.id.0),
            Principal::Session(v) => Owner::user(v.user().id.0),
        }
    }
}

impl From<PageError> for ApiError {
    fn from(e: PageError) -> Self {
        match e {
            PageError::SignInRequired { .. } => ApiError::unauthorized(
                "an API key (Authorization: Bearer <key>) or a signed-in session is required",
            ),
            PageError::Forbidden(m) => ApiError::forbidden(m),
            PageError::BadRequest(m) => ApiError::bad_request(m),
            PageError::NotFound(m) => ApiError::not_found(m),
            PageError::Conflict(m) => ApiError::new(super::error::ErrorCode::Conflict, m),
            PageError::Internal => ApiError::internal("page extractor failed"),
        }
    }
}

/// The key in `Authorization: Bearer <key>`; `Err` for a header that is there but wrong.
fn bearer(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let header = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    // The scheme is case-insensitive (RFC 9110 §11.1).
    header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| Some(key.trim().to_owned()))
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be: Bearer <key>"))
}

impl<P: Required + 'static> FromRequest for Caller<P> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let key = bearer(req);
        let session = match &key {
            Ok(None) if presented_session(req).is_some() => {
                let changes_state =
                    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
                if changes_state && !req.headers().contains_key("x-csrf-token") {
                    return Box::pin(async {
                        Err(ApiError::forbidden(
                            "a signed-in API request that changes state needs the x-csrf-token header",
                        ))
                    });
                }
                Some(Viewer::from_request(req, payload))
            }
            _ => None,
        };
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("no app state"))?;
            let principal = if let Some(viewer) = session {
                let viewer = viewer.await?;
                if !viewer.user().role.may(P::PERMISSION) {
                    return Err(ApiError::forbidden(format!(
                        "your role ({}) may not do this",
                        viewer.user().role
                    )));
                }
                Principal::Session(Box::new(viewer))
            } else {
                let Some(key) = key? else {
                    return Err(ApiError::unauthorized(
                        "an API key (Authorization: Bearer <key>) or a signed-in session is required",
                    ));
                };
                let now = crate::jobs::runner::now();
                let found = state
                    .db
                    .read(move |c| apikeys::verify(c, &key, now))
                    .await?
                    .ok_or_else(|| ApiError::unauthorized("unknown, revoked or expired API key"))?;
                if !found.may(P::PERMISSION) {
                    return Err(ApiError::forbidden(format!(
                        "this API key lacks the scope {}",
                        P::PERMISSION.scope()
                    )));
                }
                // Use is recorded at most once a minute: no write per request.
                if found.last_used_at.is_none_or(|t| now - t >= 60) {
                    let id = found.id;
                    state
                        .db
                        .write(move |tx| apikeys::touch(tx, id, now))
                        .await?;
                }
                Principal::Key(found)
            };
            Ok(Caller {
                principal,
                permission: PhantomData,
            })
        })
    }
}
