//! `/admin`: the dashboard's front page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};

use super::render;
use crate::accounts::roles::perm;
use crate::http::AppState;
use crate::http::session::{Admin, PageError};

#[get("/admin")]
pub async fn overview(
    state: web::Data<AppState>,
    admin: Admin<perm::DashboardView>,
) -> Result<HttpResponse, PageError> {
    render(
        &state,
        &admin.viewer,
        "/admin",
        "admin/overview.html",
        StatusCode::OK,
        minijinja::context! {},
    )
}
