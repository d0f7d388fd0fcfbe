//! The OpenAPI document, generated from the handlers' annotations.

use std::sync::OnceLock;

use actix_web::{HttpResponse, get};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{
    api_keys, assets, error, members_api, offers_api, ops, paywall_api, rails_api, settings_api,
    titles_api, uploads, webhooks_api,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Marquee API", description = "Operate a Marquee streaming appliance."),
    paths(assets::list, assets::get_one, assets::update, assets::remove, assets::retry, openapi_json,
        ops::status, uploads::capabilities, uploads::create, uploads::status, uploads::append,
        uploads::terminate, uploads::get_one, members_api::list, members_api::get_one, members_api::update,
        members_api::remove, members_api::invite, members_api::pending, members_api::revoke,
        settings_api::list, settings_api::update, settings_api::entries, api_keys::list, api_keys::create,
        api_keys::revoke, titles_api::list, titles_api::create, titles_api::get_one, titles_api::update,
        titles_api::publish, titles_api::unpublish, titles_api::remove, titles_api::put_artwork,
        titles_api::delete_artwork, rails_api::list, rails_api::create,
        rails_api::update, rails_api::remove, rails_api::reorder, rails_api::collections_list,
        rails_api::collection_get, rails_api::collection_create, rails_api::collection_update,
        rails_api::collection_delete, webhooks_api::list, webhooks_api::create, webhooks_api::update,
        webhooks_api::remove, webhooks_api::deliveries, webhooks_api::test,
        paywall_api::put_title_level, paywall_api::get_title_level, paywall_api::put_season_level,
        paywall_api::put_collection_level, paywall_api::list_plans, paywall_api::create_plan,
        paywall_api::update_plan, paywall_api::create_batch, paywall_api::list_batches,
        paywall_api::batch_csv, paywall_api::comp, paywall_api::list_grants, paywall_api::revoke, paywall_api::why,
        offers_api::list_offers, offers_api::create_offer, offers_api::update_offer,
        offers_api::give_offer, offers_api::migrate_plan),
    components(schemas(assets::AssetView, assets::RenditionView, assets::Page, assets::AssetPatch,
        assets::Deleted, uploads::UploadView, error::ErrorBody, error::ErrorDetail, error::ErrorCode,
        members_api::MemberView, members_api::SessionView, members_api::MemberDetail,
        members_api::MemberPage, members_api::MemberPatch, members_api::NewInvite, members_api::InviteCreated,
        crate::accounts::invites::Invite, crate::settings::SettingView, crate::audit::Entry,
        crate::accounts::apikeys::KeyInfo, api_keys::NewApiKey, api_keys::CreatedApiKey,
        crate::catalog::AssetStatus, titles_api::TitleSummary, titles_api::TitleView, titles_api::ChildView,
        titles_api::TitlePage, titles_api::NewTitle, crate::catalog::titles::TitleFields, titles_api::PublishResult,
        crate::catalog::titles::TitleKind, crate::catalog::titles::ExtraKind,
        crate::catalog::titles::PublishState, crate::catalog::publishing::MediaState,
        crate::catalog::credits::Credit, crate::catalog::credits::CreditRole,
        rails_api::RailView, rails_api::NewRail, rails_api::RailOrder, rails_api::CollectionView,
        crate::catalog::rails::Rail, crate::catalog::rails::RailKind, crate::catalog::rails::RailFields,
        crate::webhooks::endpoints::Endpoint, crate::webhooks::endpoints::EndpointFields,
        crate::webhooks::outbox::Delivery, crate::catalog::collections::Collection, crate::catalog::collections::CollectionFields, crate::ops::health::OperatorStatus, crate::ops::health::Alert,
        paywall_api::LevelChange, paywall_api::LevelView, paywall_api::PlanView, paywall_api::PlanUpdate,
        paywall_api::NewCodeBatch, paywall_api::CodeBatchView, paywall_api::NewComp, paywall_api::Created,
        paywall_api::AccessAnswer, paywall_api::GrantView, crate::access::plans::PlanFields,
        offers_api::OfferView, offers_api::OfferUpdate, offers_api::GiveOffer,
        crate::services::offers::MigrationReport, crate::access::offers::OfferFields,
        crate::access::offers::OfferKind, crate::access::offers::OfferDuration,
        crate::access::offers::Audience)),
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

/// The methods the document lists for a request path (`GET, PATCH`), or `None` when no
/// documented path matches it.
pub fn methods_for(path: &str) -> Option<String> {
    static ROUTES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        ApiDoc::openapi()
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("HEAD", item.head.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                let methods: Vec<&str> = methods
                    .iter()
                    .filter(|(_, listed)| *listed)
                    .map(|(m, _)| *m)
                    .collect();
                (template.clone(), methods.join(", "))
            })
            .collect()
    });
    routes
        .iter()
        .find(|(template, _)| template_matches(template, path))
        .map(|(_, methods)| methods.clone())
}

/// `/api/v1/assets/{id}` matches `/api/v1/assets/abc`: one path segment per `{...}`.
fn template_matches(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') && ts.ends_with('}') && !ps.is_empty() => {}
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
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
