//! `/admin/members`: accounts with search and role filter, invitations, and one member's
//! page (sessions, role, disable/enable, delete). The rules (who may change whom) live in
//! `accounts::members`; these handlers parse, call, render.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::Saved;
use super::{render, when};
use crate::accounts::invites::{self, Invite};
use crate::accounts::members::{self, Acting};
use crate::accounts::roles::{Permission, Role, perm};
use crate::accounts::sessions;
use crate::accounts::users::{self, MemberQuery, User, UserId};
use crate::http::AppState;
use crate::http::invite_pages::deliver;
use crate::http::session::{Admin, PageError, Viewer, see_other};
use crate::jobs::runner::now;

const PAGE_SIZE: u32 = 50;

#[derive(Serialize)]
pub(crate) struct MemberRow {
    id: i64,
    email: String,
    name: String,
    role: &'static str,
    disabled: bool,
    joined: String,
}

impl From<User> for MemberRow {
    fn from(u: User) -> Self {
        MemberRow {
            id: u.id.0,
            role: u.role.as_str(),
            disabled: u.disabled,
            joined: when(u.created_at),
            email: u.email,
            name: u.display_name,
        }
    }
}

#[derive(Serialize)]
struct InviteRow {
    id: i64,
    email: String,
    role: String,
    expires: String,
}

impl From<Invite> for InviteRow {
    fn from(i: Invite) -> Self {
        InviteRow {
            id: i.id,
            expires: when(i.expires_at),
            email: i.email,
            role: i.role,
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    page: u32,
}

/// The roles this person may give (an owner every one; others up to editor).
fn grantable(viewer: &Viewer) -> Vec<&'static str> {
    let acting = Acting::user(viewer.user());
    Role::ALL
        .into_iter()
        .filter(|r| members::may_grant(&acting, *r).is_ok())
        .map(Role::as_str)
        .collect()
}

/// A role the viewer may give, with what it may do (`words::role_abilities`).
#[derive(Serialize)]
struct RoleHelp {
    name: &'static str,
    abilities: Vec<&'static str>,
}

fn roles_help(viewer: &Viewer) -> Vec<RoleHelp> {
    let acting = Acting::user(viewer.user());
    Role::ALL
        .into_iter()
        .filter(|r| members::may_grant(&acting, *r).is_ok())
        .map(|r| RoleHelp {
            name: crate::http::words::role_name(r),
            abilities: crate::http::words::role_abilities(r),
        })
        .collect()
}

/// What the list page shows after an invitation: to whom, and the link when it was not
/// emailed.
#[derive(Serialize, Default)]
struct Invited {
    email: String,
    link: Option<String>,
}

async fn list_page(
    state: &AppState,
    viewer: &Viewer,
    params: &ListParams,
    invited: Option<Invited>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let role = match params.role.as_str() {
        "" => None,
        r => Some(r.parse::<Role>()?),
    };
    let search = params.q.trim().to_owned();
    let query = MemberQuery {
        search: (!search.is_empty()).then(|| search.clone()),
        role,
        limit: PAGE_SIZE,
        offset: params.page.saturating_mul(PAGE_SIZE),
    };
    let now = now();
    let (found, total, pending) = state
        .db
        .read(move |c| {
            let (found, total) = users::list(c, &query)?;
            Ok::<_, PageError>((found, total, invites::pending(c, now)?))
        })
        .await?;
    let rows: Vec<MemberRow> = found.into_iter().map(MemberRow::from).collect();
    let pending: Vec<InviteRow> = pending.into_iter().map(InviteRow::from).collect();
    let pager = super::pager(
        "/admin/members",
        &[("q", search.as_str()), ("role", params.role.as_str())],
        params.page,
        total,
        PAGE_SIZE,
    );
    let can_write = viewer.user().role.may(Permission::MembersWrite);
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(
        state,
        viewer,
        "/admin/members",
        "admin/members.html",
        status,
        minijinja::context! {
            rows => minijinja::Value::from(minijinja::value::Serde(&rows)),
            pending => minijinja::Value::from(minijinja::value::Serde(&pending)),
            invited => minijinja::Value::from(minijinja::value::Serde(&invited)),
            roles => Role::ALL.map(Role::as_str), grantable => grantable(viewer),
            roles_help => minijinja::Value::from(minijinja::value::Serde(&roles_help(viewer))),
            total, pager => minijinja::Value::from(minijinja::value::Serde(&pager)), q => search, role => &params.role,
            can_write, error,
        },
    )
}

#[get("/admin/members")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersRead>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, PageError> {
    list_page(&state, &admin.viewer, &params, None, None).await
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

#[post("/admin/members/invite")]
pub async fn invite(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersWrite>,
) -> Result<HttpResponse, PageError> {
    let form: InviteForm = admin.viewer.form()?;
    let acting = Acting::user(admin.viewer.user());
    let role: Role = form.role.parse()?;
    let email = form.email.clone();
    let made = state
        .db
        .write(move |tx| invites::create(tx, &acting, &email, role, now()))
        .await;
    let params = ListParams::default();
    match made {
        Ok((invite, secret)) => {
            let link = deliver(&state, &invite, &secret);
            let invited = Invited {
                email: invite.email,
                link,
            };
            list_page(&state, &admin.viewer, &params, Some(invited), None).await
        }
        Err(
            e @ (crate::accounts::AccountsError::Invalid(_)
            | crate::accounts::AccountsError::EmailTaken(_)
            | crate::accounts::AccountsError::NotAllowed(_)),
        ) => list_page(&state, &admin.viewer, &params, None, Some(e.to_string())).await,
        Err(e) => Err(e.into()),
    }
}

#[post("/admin/members/invites/{id}/revoke")]
pub async fn revoke_invite(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let acting = Acting::user(admin.viewer.user());
    let id = id.into_inner();
    state
        .db
        .write(move |tx| invites::revoke(tx, &acting, id, now()))
        .await?;
    Ok(super::saved("/admin/members", Saved::InviteWithdrawn))
}

#[derive(Serialize)]
struct SessionRow {
    device: String,
    ip: String,
    signed_in: String,
    last_seen: String,
}

#[derive(Deserialize)]
pub struct DetailQuery {
    /// A title id: show why this member can or cannot play it.
    why: Option<String>,
}

#[get("/admin/members/{id}")]
pub async fn detail(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersRead>,
    id: web::Path<i64>,
    query: web::Query<DetailQuery>,
) -> Result<HttpResponse, PageError> {
    let why = query.into_inner().why;
    detail_page(&state, &admin.viewer, UserId(id.into_inner()), None, why).await
}

/// What the member page says after "send a password reset link".
#[derive(Serialize)]
struct ResetSent {
    /// The link to pass on, when email is not set up.
    link: Option<String>,
}

async fn detail_page(
    state: &AppState,
    viewer: &Viewer,
    id: UserId,
    reset: Option<ResetSent>,
    why: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (policy, now) = (state.accounts.sessions, now());
    let (user, listed) = state
        .db
        .read(move |c| {
            let user =
                users::get(c, id)?.ok_or(crate::accounts::AccountsError::NoSuchMember(id.0))?;
            let listed = sessions::list(c, id, &policy, now)?;
            Ok::<_, PageError>((user, listed))
        })
        .await?;
    let rows: Vec<SessionRow> = listed
        .into_iter()
        .map(|s| SessionRow {
            device: s.device,
            ip: s.ip,
            signed_in: when(s.created_at),
            last_seen: when(s.last_seen_at),
        })
        .collect();
    let itself = viewer.user().id == user.id;
    let can_write = viewer.user().role.may(Permission::MembersWrite) && !itself;
    let verified = user.email_verified_at.map(when);
    let paywall = super::member_access::section(state, viewer, user.id.0, why).await?;
    let member = MemberRow::from(user);
    render(
        state,
        viewer,
        "/admin/members",
        "admin/member.html",
        StatusCode::OK,
        minijinja::context! {
            member => minijinja::Value::from(minijinja::value::Serde(&member)),
            sessions => minijinja::Value::from(minijinja::value::Serde(&rows)),
            reset => minijinja::Value::from(minijinja::value::Serde(&reset)),
            paywall => minijinja::Value::from(minijinja::value::Serde(&paywall)),
            verified, itself, can_write, grantable => grantable(viewer),
            roles_help => minijinja::Value::from(minijinja::value::Serde(&roles_help(viewer))),
        },
    )
}

/// Emails the member a password reset link, or shows it to pass on when email is off.
#[post("/admin/members/{id}/reset-link")]
pub async fn reset_link(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let (acting, id) = (Acting::user(admin.viewer.user()), UserId(id.into_inner()));
    let (user, secret) = state
        .db
        .write(move |tx| members::reset_link(tx, &acting, id, now()))
        .await?;
    let link = state.mail.link(&format!("/reset/{}", secret.encode()));
    let reset = if state.mail.is_on() {
        let letter = crate::mail::Letter {
            to: user.email.clone(),
            subject: "Reset your password".into(),
            body: format!(
                "An administrator sent you this link to choose a new password (it works once, for an hour):\r\n\r\n{link}\r\n"
            ),
        };
        state.mail.send_later(letter, "password reset link");
        ResetSent { link: None }
    } else {
        tracing::warn!(
            user = id.0,
            "password reset link not emailed: SMTP is not configured; the dashboard shows it to the admin"
        );
        ResetSent { link: Some(link) }
    };
    detail_page(&state, &admin.viewer, id, Some(reset), None).await
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

/// Runs one `accounts::members` change for the signed-in admin, then back to the member.
async fn change(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    apply: impl FnOnce(
        &rusqlite::Connection,
        &Acting,
        UserId,
    ) -> Result<(), crate::accounts::AccountsError>
    + Send
    + 'static,
    to: String,
) -> Result<HttpResponse, PageError> {
    let acting = Acting::user(viewer.user());
    state
        .db
        .write(move |tx| apply(tx, &acting, UserId(id)))
        .await?;
    Ok(see_other(&to, []))
}

#[post("/admin/members/{id}/role")]
pub async fn set_role(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let form: RoleForm = admin.viewer.form()?;
    let role: Role = form.role.parse()?;
    let id = id.into_inner();
    let to = super::saved_to(&format!("/admin/members/{id}"), Saved::RoleChanged);
    change(
        &state,
        &admin.viewer,
        id,
        move |tx, acting, id| members::change_role(tx, acting, id, role, now()).map(drop),
        to,
    )
    .await
}

/// Disable, enable, sign out everywhere, or delete: one form button each.
#[post("/admin/members/{id}/{action}")]
pub async fn act(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersWrite>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, PageError> {
    let (id, action) = path.into_inner();
    let back = format!("/admin/members/{id}");
    match action.as_str() {
        "disable" | "enable" => {
            let disabled = action == "disable";
            let done = if disabled {
                Saved::MemberDisabled
            } else {
                Saved::MemberEnabled
            };
            let back = super::saved_to(&back, done);
            change(
                &state,
                &admin.viewer,
                id,
                move |tx, acting, id| {
                    members::set_disabled(tx, acting, id, disabled, now()).map(drop)
                },
                back,
            )
            .await
        }
        "end-sessions" => {
            change(
                &state,
                &admin.viewer,
                id,
                |tx, acting, id| members::end_sessions(tx, acting, id, now()).map(drop),
                super::saved_to(&back, Saved::MemberSignedOut),
            )
            .await
        }
        "delete" => {
            let stripe = state.settings.settings.current().stripe.clone();
            let acting = Acting::user(admin.viewer.user());
            crate::services::members::delete_member(&state.db, &stripe, acting, UserId(id))
                .await
                .map_err(|e| {
                    use crate::services::members::MemberServiceError as E;
                    match e {
                        E::Accounts(e) => e.into(),
                        E::SubscriptionLive(m) => PageError::Conflict(m),
                        other => PageError::internal(other),
                    }
                })?;
            crate::http::members_api::forget_viewing(&state, id).await;
            Ok(super::saved("/admin/members", Saved::MemberDeleted))
        }
        other => Err(PageError::NotFound(format!("no member action {other:?}"))),
    }
}
