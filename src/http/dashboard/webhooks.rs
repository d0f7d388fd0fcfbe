//! `/admin/webhooks`: endpoints that receive events, each with its secret, its delivery
//! log, a "send test event" button, and on/off.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::{Saved, render, when};
use crate::accounts::roles::perm;
use crate::http::AppState;
use crate::http::session::{Admin, PageError};
use crate::http::webhooks_api::admin;
use crate::services::webhooks::WebhookServiceError;
use crate::webhooks::endpoints::{self, EndpointFields};
use crate::webhooks::{EVENT_TYPES, WebhookError, outbox};

impl From<WebhookServiceError> for PageError {
    fn from(e: WebhookServiceError) -> Self {
        match e {
            WebhookServiceError::Webhook(e) => e.into(),
            other => PageError::internal(other),
        }
    }
}

impl From<WebhookError> for PageError {
    fn from(e: WebhookError) -> Self {
        match e {
            e @ WebhookError::NotFound(_) => PageError::NotFound(e.to_string()),
            WebhookError::Invalid(m) => PageError::BadRequest(m),
            other => PageError::internal(other),
        }
    }
}

#[derive(Serialize)]
struct DeliveryRow {
    event_type: String,
    message_id: String,
    state: String,
    attempts: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created: String,
    next: Option<String>,
}

#[get("/admin/webhooks")]
pub async fn show(
    state: web::Data<AppState>,
    admin_user: Admin<perm::WebhooksManage>,
) -> Result<HttpResponse, PageError> {
    let list = state
        .db
        .read(|c| {
            endpoints::list(c)?
                .into_iter()
                .map(|e| {
                    let log: Vec<DeliveryRow> = outbox::recent(c, e.id, 20)?
                        .into_iter()
                        .map(|d| DeliveryRow {
                            next: (d.state == "pending").then(|| when(d.next_attempt_at)),
                            created: when(d.created_at),
                            event_type: d.event_type,
                            message_id: d.message_id,
                            state: d.state,
                            attempts: d.attempts,
                            last_status: d.last_status,
                            last_error: d.last_error,
                        })
                        .collect();
                    Ok::<_, WebhookError>((e, log))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    #[derive(Serialize)]
    struct EndpointView {
        endpoint: crate::webhooks::endpoints::Endpoint,
        log: Vec<DeliveryRow>,
    }
    let views: Vec<EndpointView> = list
        .into_iter()
        .map(|(endpoint, log)| EndpointView { endpoint, log })
        .collect();
    render(
        &state,
        &admin_user.viewer,
        "/admin/webhooks",
        "admin/webhooks.html",
        StatusCode::OK,
        minijinja::context! {
            endpoints => minijinja::Value::from(minijinja::value::Serde(&views)),
            event_types => EVENT_TYPES.to_vec(),
        },
    )
}

#[derive(Deserialize)]
struct EndpointForm {
    url: String,
    #[serde(default)]
    description: String,
}

/// The checked event boxes (repeated `events` fields); none: every event.
fn events_of(body: &[u8]) -> Vec<String> {
    let picked: Vec<String> = url::form_urlencoded::parse(body)
        .filter(|(k, _)| k == "events")
        .map(|(_, v)| v.into_owned())
        .collect();
    if picked.is_empty() {
        vec!["*".into()]
    } else {
        picked
    }
}

#[post("/admin/webhooks")]
pub async fn create(
    state: web::Data<AppState>,
    admin_user: Admin<perm::WebhooksManage>,
) -> Result<HttpResponse, PageError> {
    let form: EndpointForm = admin_user.viewer.form()?;
    let fields = EndpointFields {
        url: Some(form.url),
        description: Some(form.description),
        events: Some(events_of(admin_user.viewer.form_bytes())),
        enabled: None,
    };
    admin(&state)
        .create(&admin_user.viewer.actor(), fields)
        .await?;
    Ok(super::saved("/admin/webhooks", Saved::WebhookAdded))
}

#[derive(Deserialize)]
struct ActionForm {
    action: String,
}

#[post("/admin/webhooks/{id}")]
pub async fn act(
    state: web::Data<AppState>,
    admin_user: Admin<perm::WebhooksManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let form: ActionForm = admin_user.viewer.form()?;
    let id = id.into_inner();
    let actor = admin_user.viewer.actor();
    let hooks = admin(&state);
    let done = match form.action.as_str() {
        "test" => {
            hooks.send_test(id).await?;
            Saved::WebhookTestSent
        }
        "delete" => {
            hooks.delete(&actor, id).await?;
            Saved::WebhookDeleted
        }
        "enable" | "disable" => {
            let enabled = form.action == "enable";
            let fields = EndpointFields {
                enabled: Some(enabled),
                ..EndpointFields::default()
            };
            hooks.update(&actor, id, fields).await?;
            if enabled {
                Saved::WebhookEnabled
            } else {
                Saved::WebhookDisabled
            }
        }
        other => return Err(PageError::BadRequest(format!("unknown action {other:?}"))),
    };
    Ok(super::saved("/admin/webhooks", done))
}
