//! `/admin`: the dashboard's front page. Jobs in flight with their progress (refreshed live
//! by `admin.js`), failed ingests with their reasons and a retry button, disk space, and
//! recent sign-ups.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::media::{AssetRow, rows};
use super::{render, when};
use crate::accounts::roles::{Permission, perm};
use crate::accounts::users::{self, MemberQuery};
use crate::catalog::{AssetStatus, ListQuery};
use crate::http::AppState;
use crate::http::session::{Admin, PageError};
use crate::ops::health;
use crate::size::format as size;

const IN_FLIGHT_SHOWN: u32 = 20;
const FAILED_SHOWN: u32 = 10;
const SIGN_UPS_SHOWN: u32 = 10;

fn by_status(status: AssetStatus, limit: u32) -> ListQuery {
    ListQuery {
        status: Some(status),
        title: None,
        limit,
        offset: 0,
    }
}

#[derive(Serialize)]
struct SignUp {
    email: String,
    name: String,
    role: &'static str,
    when: String,
}

#[derive(Serialize)]
struct Disk {
    free: String,
    floor: String,
    low: bool,
}

#[get("/admin")]
pub async fn overview(
    state: web::Data<AppState>,
    admin: Admin<perm::DashboardView>,
) -> Result<HttpResponse, PageError> {
    let (processing, processing_total) =
        rows(&state, by_status(AssetStatus::Processing, IN_FLIGHT_SHOWN)).await?;
    let (queued, queued_total) =
        rows(&state, by_status(AssetStatus::Queued, IN_FLIGHT_SHOWN)).await?;
    let (failed, failed_total) = rows(&state, by_status(AssetStatus::Failed, FAILED_SHOWN)).await?;
    let (_, ready_total) = rows(&state, by_status(AssetStatus::Ready, 1)).await?;
    let in_flight: Vec<AssetRow> = processing.into_iter().chain(queued).collect();

    let status = health::status(&state.db, &state.data, state.ingest.min_free_mb).await?;
    let disk = Disk {
        free: size(status.disk_free_bytes),
        floor: size(status.disk_min_free_bytes),
        low: status.ingest_paused,
    };
    let role = admin.viewer.user().role;
    let sign_ups = if role.may(Permission::MembersRead) {
        let query = MemberQuery {
            limit: SIGN_UPS_SHOWN,
            ..MemberQuery::default()
        };
        let (found, _) = state.db.read(move |c| users::list(c, &query)).await?;
        Some(
            found
                .into_iter()
                .map(|u| SignUp {
                    when: when(u.created_at),
                    role: u.role.as_str(),
                    email: u.email,
                    name: u.display_name,
                })
                .collect::<Vec<_>>(),
        )
    } else {
        None
    };
    let alerts: Vec<String> = status.alerts.into_iter().map(|a| a.message).collect();
    render(
        &state,
        &admin.viewer,
        "/admin",
        "admin/overview.html",
        StatusCode::OK,
        minijinja::context! {
            in_flight => minijinja::Value::from(minijinja::value::Serde(&in_flight)),
            failed => minijinja::Value::from(minijinja::value::Serde(&failed)),
            sign_ups => minijinja::Value::from(minijinja::value::Serde(&sign_ups)),
            disk => minijinja::Value::from(minijinja::value::Serde(&disk)),
            alerts,
            counts => minijinja::context! {
                processing => processing_total, queued => queued_total,
                failed => failed_total, ready => ready_total,
            },
            can_write => role.may(Permission::MediaWrite),
        },
    )
}
