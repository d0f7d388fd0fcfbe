//! One JSON error shape for the whole API: a stable code and a human message.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::accounts::AccountsError;
use crate::catalog::CatalogError;

/// Every code an error answer can carry; clients may rely on these. The README lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    /// 403: signed in or keyed, but the role or the key's scopes do not allow this.
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    /// 412: a tus request without `Tus-Resumable: 1.0.0`.
    PreconditionFailed,
    /// 413: an upload larger than `uploads.max_bytes`, or a body past its length.
    PayloadTooLarge,
    /// 415: an upload body not sent as `application/offset+octet-stream`.
    UnsupportedMediaType,
    Internal,
    /// 507: not enough disk space for an upload above `ingest.min_free_mb`.
    InsufficientStorage,
}

impl ErrorCode {
    /// The HTTP status each code is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "request failed");
        Self::new(ErrorCode::Internal, "internal error; see the server log")
    }
}

/// The body of every API error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
            },
        })
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::NotFound(id) => Self::not_found(format!("no asset with id {id}")),
            CatalogError::TitleNotFound(id) => Self::not_found(format!("no title with id {id}")),
            e @ CatalogError::Invalid(_) => Self::bad_request(e.to_string()),
            e @ CatalogError::NotReady(_) => Self::new(ErrorCode::Conflict, e.to_string()),
            other => Self::internal(other),
        }
    }
}

impl From<crate::services::TitleServiceError> for ApiError {
    fn from(e: crate::services::TitleServiceError) -> Self {
        use crate::services::TitleServiceError as E;
        match e {
            E::Catalog(e) => e.into(),
            E::Image(crate::images::ImageError::Invalid(m)) => Self::bad_request(m),
            E::NeedsBilling(m) => Self::forbidden(m),
            other => Self::internal(other),
        }
    }
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Invalid(m) => Self::bad_request(m),
            AccountsError::NotAllowed(m) => Self::forbidden(m),
            e @ (AccountsError::NoSuchMember(_)
            | AccountsError::NoSuchInvite(_)
            | AccountsError::NoSuchKey(_)) => Self::not_found(e.to_string()),
            e @ AccountsError::EmailTaken(_) => Self::new(ErrorCode::Conflict, e.to_string()),
            other => Self::internal(other),
        }
    }
}

impl From<crate::services::ServiceError> for ApiError {
    fn from(e: crate::services::ServiceError) -> Self {
        use crate::services::ServiceError;
        match e {
            ServiceError::NotFound(id) => Self::not_found(format!("no asset with id {id}")),
            ServiceError::Invalid(m) => Self::bad_request(m),
            ServiceError::Conflict(m) => Self::new(ErrorCode::Conflict, m),
            other => Self::internal(other),
        }
    }
}

impl From<crate::access::AccessError> for ApiError {
    fn from(e: crate::access::AccessError) -> Self {
        use crate::access::AccessError;
        match e {
            AccessError::NotFound(what) => Self::not_found(format!("{what} not found")),
            AccessError::Invalid(m) => Self::bad_request(m),
            e @ AccessError::UnknownOffer => Self::bad_request(e.to_string()),
            other => Self::internal(other),
        }
    }
}

impl From<crate::services::PaywallServiceError> for ApiError {
    fn from(e: crate::services::PaywallServiceError) -> Self {
        use crate::services::PaywallServiceError as E;
        match e {
            E::Access(e) => e.into(),
            E::Payments(crate::payments::PaymentsError::Invalid(m)) => Self::bad_request(m),
            other => Self::internal(other),
        }
    }
}

impl From<crate::services::members::MemberServiceError> for ApiError {
    fn from(e: crate::services::members::MemberServiceError) -> Self {
        use crate::services::members::MemberServiceError as E;
        match e {
            E::Accounts(e) => e.into(),
            E::SubscriptionLive(m) => Self::new(ErrorCode::Conflict, m),
            other => Self::internal(other),
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        Self::internal(e)
    }
}

/// The largest JSON body an API route reads.
pub const JSON_LIMIT: usize = 64 * 1024;

/// A JSON request body, parsed in the handler rather than by an extractor: extractors run
/// together, so a body error could otherwise answer before the permission check does.
pub struct JsonBody(pub actix_web::web::Bytes);

impl JsonBody {
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.0.len() > JSON_LIMIT {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the JSON body is larger than {JSON_LIMIT} bytes"),
            ));
        }
        serde_json::from_slice(&self.0)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

impl actix_web::FromRequest for JsonBody {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let bytes = actix_web::web::Bytes::from_request(req, payload);
        Box::pin(async move {
            bytes.await.map(JsonBody).map_err(|e| {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("cannot read the body: {e}"),
                )
            })
        })
    }
}
