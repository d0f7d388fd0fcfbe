//! Extractors that put a handler's permission in its signature.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::AppState;
use super::error::ApiError;
use crate::accounts::apikeys::{self, ApiKeyId};

/// A request carrying a valid `Authorization: Bearer <key>`.
pub struct ApiKey(pub ApiKeyId);

impl FromRequest for ApiKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .map(|h| h.to_str().map(str::to_owned));
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("no app state"))?;
            let presented = match header {
                None => {
                    return Err(ApiError::unauthorized(
                        "an API key is required: Authorization: Bearer <key>",
                    ));
                }
                Some(Err(_)) => {
                    return Err(ApiError::unauthorized("malformed Authorization header"));
                }
                Some(Ok(h)) => h,
            };
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let Some(key) = presented
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, key)| key.trim().to_owned())
            else {
                return Err(ApiError::unauthorized(
                    "the Authorization header must be: Bearer <key>",
                ));
            };
            let found = state.db.read(move |c| apikeys::verify(c, &key)).await?;
            found
                .map(ApiKey)
                .ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))
        })
    }
}
