//! The OpenAPI document, generated from the handlers' annotations.

use actix_web::{HttpResponse, get};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{assets, error};

#[derive(OpenApi)]
#[openapi(
    info(title = "Marquee API", description = "Operate a Marquee streaming appliance."),
    paths(assets::list, assets::get_one, assets::update, assets::remove, assets::retry, openapi_json),
    components(schemas(assets::AssetView, assets::RenditionView, assets::Page, assets::AssetPatch,
        assets::Deleted, error::ErrorBody, error::ErrorDetail, crate::catalog::AssetStatus)),
    modifiers(&BearerKey)
)]
pub struct ApiDoc;

struct BearerKey;

impl utoipa::Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("marquee apikey create"))
                    .build(),
            ),
        );
    }
}

/// This document.
#[utoipa::path(responses((status = 200, description = "OpenAPI 3.1 document")))]
#[get("/api/v1/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(ApiDoc::openapi().to_pretty_json().unwrap_or_default())
}
