//! The dashboard at `/admin`: server-rendered pages, one file per section. Every page
//! renders through `render`, which adds the navigation (only the sections the viewer's role
//! may open), the CSRF token (for forms, and in a `<meta>` for `admin.js`'s API calls) and
//! who is signed in.

pub mod alerts;
pub mod analytics;
pub mod audit;
pub mod campaigns;
pub mod home_page;
pub mod media;
pub mod member_access;
pub mod members;
pub mod offers;
pub mod overview;
pub mod paywall;
pub mod segments;
pub mod settings;
pub mod titles;
pub mod webhooks;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::AppState;
use super::account_pages::private;
use super::session::{PageError, Viewer};
use super::ui::page;
use crate::accounts::roles::Permission;

/// The navigation's groups, in the order the sidebar shows them, each under its heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NavGroup {
    /// Overview, above the groups, without a heading.
    Top,
    Content,
    Audience,
    Money,
    System,
}

impl NavGroup {
    const ORDER: [NavGroup; 5] = [
        NavGroup::Top,
        NavGroup::Content,
        NavGroup::Audience,
        NavGroup::Money,
        NavGroup::System,
    ];

    /// The heading the sidebar shows above the group's sections.
    pub fn heading(self) -> Option<&'static str> {
        match self {
            NavGroup::Top => None,
            NavGroup::Content => Some("Content"),
            NavGroup::Audience => Some("Audience"),
            NavGroup::Money => Some("Money"),
            NavGroup::System => Some("System"),
        }
    }
}

/// A section of the dashboard: its path, its name in the navigation, its group there, and
/// the permission that opens it (the same one its handlers' `Admin<perm::…>` names).
pub struct Section {
    pub href: &'static str,
    pub label: &'static str,
    pub group: NavGroup,
    pub permission: Permission,
}

pub const SECTIONS: &[Section] = &[
    Section {
        href: "/admin",
        label: "Overview",
        group: NavGroup::Top,
        permission: Permission::DashboardView,
    },
    Section {
        href: "/admin/media",
        label: "Media",
        group: NavGroup::Content,
        permission: Permission::MediaRead,
    },
    Section {
        href: "/admin/titles",
        label: "Titles",
        group: NavGroup::Content,
        permission: Permission::CatalogRead,
    },
    Section {
        href: "/admin/rails",
        label: "Home page",
        group: NavGroup::Content,
        permission: Permission::CatalogRead,
    },
    Section {
        href: "/admin/members",
        label: "Members",
        group: NavGroup::Audience,
        permission: Permission::MembersRead,
    },
    Section {
        href: "/admin/analytics",
        label: "Analytics",
        group: NavGroup::Audience,
        permission: Permission::AnalyticsRead,
    },
    Section {
        href: "/admin/alerts",
        label: "Alerts",
        group: NavGroup::System,
        permission: Permission::SettingsRead,
    },
    Section {
        href: "/admin/segments",
        label: "Segments",
        group: NavGroup::Audience,
        permission: Permission::MembersRead,
    },
    Section {
        href: "/admin/campaigns",
        label: "Campaigns",
        group: NavGroup::Audience,
        permission: Permission::BillingRead,
    },
    Section {
        href: "/admin/paywall",
        label: "Paywall",
        group: NavGroup::Money,
        permission: Permission::BillingRead,
    },
    Section {
        href: "/admin/api-keys",
        label: "API keys",
        group: NavGroup::System,
        permission: Permission::ApiKeysManage,
    },
    Section {
        href: "/admin/webhooks",
        label: "Webhooks",
        group: NavGroup::System,
        permission: Permission::WebhooksManage,
    },
    Section {
        href: "/admin/settings",
        label: "Settings",
        group: NavGroup::System,
        permission: Permission::SettingsRead,
    },
    Section {
        href: "/admin/audit",
        label: "Audit log",
        group: NavGroup::System,
        permission: Permission::AuditRead,
    },
];

/// The sections that show "No one can pay yet" while Stripe has no secret key.
const PAYMENT_SECTIONS: [&str; 3] = ["/admin", "/admin/paywall", "/admin/titles"];

#[derive(Serialize)]
struct NavItem {
    href: &'static str,
    label: &'static str,
    current: bool,
}

/// One group of the sidebar as the layout renders it.
#[derive(Serialize)]
struct NavSection {
    heading: Option<&'static str>,
    items: Vec<NavItem>,
}

/// The sidebar for `role`: the sections it may open, by group; a group with none is left
/// out.
fn navigation(role: crate::accounts::roles::Role, current: &str) -> Vec<NavSection> {
    NavGroup::ORDER
        .iter()
        .map(|group| NavSection {
            heading: group.heading(),
            items: SECTIONS
                .iter()
                .filter(|s| s.group == *group && role.may(s.permission))
                .map(|s| NavItem {
                    href: s.href,
                    label: s.label,
                    current: s.href == current,
                })
                .collect(),
        })
        .filter(|g| !g.items.is_empty())
        .collect()
}

#[derive(Serialize)]
struct SignedIn<'a> {
    email: &'a str,
    name: &'a str,
    role: &'a str,
}

/// Renders a dashboard page: `template` extends `admin/layout.html`; `current` is the
/// section's `href`. Never cached, never framed.
pub fn render(
    state: &AppState,
    viewer: &Viewer,
    current: &str,
    template: &str,
    status: StatusCode,
    ctx: minijinja::Value,
) -> Result<HttpResponse, PageError> {
    let user = viewer.user();
    let nav = navigation(user.role, current);
    let signed_in = SignedIn {
        email: &user.email,
        name: &user.display_name,
        role: user.role.as_str(),
    };
    let admin_css = state.ui.static_url("admin.css");
    let admin_js = state.ui.static_url("admin.js");
    // Where prices are set and watched, the operator is told when no one can pay them.
    let no_payments =
        PAYMENT_SECTIONS.contains(&current) && !state.settings.settings.current().stripe.enabled();
    let saved = viewer.saved().and_then(Saved::from_code).map(Saved::words);
    let resp = page(
        state,
        template,
        status,
        minijinja::context! {
            nav => minijinja::Value::from(minijinja::value::Serde(&nav)),
            user => minijinja::Value::from(minijinja::value::Serde(&signed_in)),
            csrf => viewer.csrf_token(),
            admin_css, admin_js, no_payments, saved,
            ..ctx
        },
    )?;
    Ok(private(resp, None))
}

/// Declares the saves once: the enum, its list, each one's code and words.
macro_rules! saves {
    ($($name:ident => $code:literal, $words:literal;)*) => {
        /// What a dashboard form saved: its handler redirects with `saved`, and the page it
        /// lands on confirms it in words above its content (`render`). A `saved` parameter
        /// that names none of these shows nothing.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Saved {
            $($name,)*
        }

        impl Saved {
            pub const ALL: &[Saved] = &[$(Saved::$name),*];

            /// Its name in the `saved` parameter.
            pub fn code(self) -> &'static str {
                match self {
                    $(Saved::$name => $code,)*
                }
            }

            /// What the page says.
            pub fn words(self) -> &'static str {
                match self {
                    $(Saved::$name => $words,)*
                }
            }
        }
    };
}

saves!(
    AccessSaved => "access", "Saved: who may watch this title is changed.";
    AlertAdded => "alert-added", "Saved: the alert is added.";
    AlertDeleted => "alert-deleted", "The alert is deleted.";
    AlertsChecked => "alerts-checked", "The alerts are being checked now.";
    ApiKeyRevoked => "key-revoked", "The API key is revoked: it no longer works.";
    CampaignSaved => "campaign", "Saved: the campaign is changed.";
    CampaignEnded => "campaign-ended", "The campaign is ended.";
    CodesMade => "codes", "Saved: the codes are made.";
    CollectionCreated => "collection-created", "Saved: the collection is created.";
    CollectionSaved => "collection", "Saved: the collection is changed.";
    CollectionItems => "collection-titles", "Saved: the collection's titles are changed.";
    CollectionDeleted => "collection-deleted", "The collection is deleted.";
    CompGiven => "comp", "Saved: the access is given.";
    ExtraAdded => "extra-added", "Saved: the extra is added.";
    EpisodeAdded => "episode-added", "Saved: the episode is added.";
    GrantEnded => "grant-ended", "The access is ended.";
    InviteWithdrawn => "invite-withdrawn", "The invitation is withdrawn: its link no longer works.";
    MediaRenamed => "media", "Saved: the video's details are changed.";
    MediaRetried => "media-retried", "The video is queued again.";
    MediaDeleted => "media-deleted", "The video is deleted.";
    MemberDeleted => "member-deleted", "The account is deleted.";
    MemberDisabled => "member-disabled", "The account is disabled and signed out.";
    MemberEnabled => "member-enabled", "The account is enabled.";
    MemberSignedOut => "member-signed-out", "The member is signed out everywhere.";
    OfferCreated => "offer-created", "Saved: the offer is created.";
    OfferSaved => "offer", "Saved: the offer is changed.";
    OfferGiven => "offer-given", "Saved: the offer is given.";
    PlanCreated => "plan-created", "Saved: the plan is created.";
    PlanSaved => "plan", "Saved: the plan is changed.";
    PurchaseRefunded => "refunded", "The purchase is refunded.";
    RailAdded => "rail-added", "Saved: the rail is added to the home page.";
    RailSaved => "rail", "Saved: the rail is changed.";
    RailItems => "rail-titles", "Saved: the rail's titles are changed.";
    RailMoved => "rail-moved", "Saved: the rail is moved.";
    RailRemoved => "rail-removed", "The rail is removed from the home page.";
    RoleChanged => "role", "Saved: the role is changed.";
    SegmentSaved => "segment", "Saved: the segment is changed.";
    SegmentDeleted => "segment-deleted", "The segment is deleted.";
    SubscriptionCancelled => "subscription-cancelled", "The subscription is cancelled.";
    SubscriptionExtended => "subscription-extended", "Saved: the subscription is extended.";
    SubscriptionStarted => "subscription-started", "Saved: the subscription is started.";
    TitleCreated => "title-created", "Saved: the title is created.";
    TitleSaved => "title", "Saved: the title is changed.";
    TitlePublished => "published", "Published: viewers can see this title.";
    TitleUnpublished => "unpublished", "Unpublished: viewers no longer see this title.";
    TitleDeleted => "title-deleted", "The title is deleted.";
    WebhookAdded => "webhook-added", "Saved: the endpoint is added.";
    WebhookDeleted => "webhook-deleted", "The endpoint is deleted.";
    WebhookDisabled => "webhook-disabled", "The endpoint is turned off.";
    WebhookEnabled => "webhook-enabled", "The endpoint is turned on.";
    WebhookTestSent => "webhook-test", "A test event is on its way to the endpoint.";
);

impl Saved {
    fn from_code(code: &str) -> Option<Saved> {
        Saved::ALL.iter().copied().find(|s| s.code() == code)
    }
}

/// `to` with `saved=<what>` in its query (before any `#fragment`).
pub fn saved_to(to: &str, what: Saved) -> String {
    let (path, fragment) = to.split_once('#').map_or((to, None), |(p, f)| (p, Some(f)));
    let join = if path.contains('?') { '&' } else { '?' };
    let mut out = format!("{path}{join}saved={}", what.code());
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The redirect after a save: to `to`, which confirms `what`.
pub fn saved(to: &str, what: Saved) -> HttpResponse {
    super::session::see_other(&saved_to(to, what), [])
}

/// Removes record `id` with `remove` and writes the audit entry `action` (target
/// `kind:id`) in the same transaction; 404 when there was no such record.
pub(super) async fn remove_audited<E: std::fmt::Display + Send + 'static>(
    state: &AppState,
    viewer: &Viewer,
    kind: &'static str,
    action: &'static str,
    id: i64,
    remove: fn(&rusqlite::Connection, i64) -> Result<bool, E>,
) -> Result<(), PageError> {
    let actor = viewer.actor();
    let now = crate::clock::now();
    state
        .db
        .write(move |tx| -> Result<(), PageError> {
            if !remove(tx, id).map_err(PageError::internal)? {
                return Err(PageError::NotFound(format!("no such {kind}")));
            }
            crate::audit::record(
                tx,
                &actor,
                action,
                &format!("{kind}:{id}"),
                serde_json::json!({}),
                now,
            )
            .map_err(PageError::internal)
        })
        .await
}

/// Every dashboard route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(overview::overview)
        .service(alerts::list)
        .service(alerts::check)
        .service(alerts::add)
        .service(alerts::delete)
        .service(analytics::show)
        .service(analytics::export)
        .service(campaigns::list)
        .service(campaigns::create)
        .service(campaigns::show)
        .service(campaigns::end)
        .service(campaigns::change)
        .service(segments::list)
        .service(segments::preview)
        .service(segments::create)
        .service(segments::edit)
        .service(segments::change)
        .service(segments::delete)
        .service(media::list)
        .service(media::detail)
        .service(media::poster)
        .service(media::rename)
        .service(media::retry)
        .service(media::delete)
        .service(titles::list)
        .service(titles::title_names)
        .service(titles::create)
        .service(titles::detail)
        .service(titles::save)
        .service(titles::publish)
        .service(titles::unpublish)
        .service(titles::delete)
        .service(titles::add_episode)
        .service(titles::add_extra)
        .service(home_page::show)
        .service(home_page::create)
        .service(home_page::save)
        .service(home_page::edit_rail_items)
        .service(home_page::shift)
        .service(home_page::remove)
        .service(home_page::create_collection)
        .service(home_page::collection)
        .service(home_page::save_collection)
        .service(home_page::edit_collection_items)
        .service(home_page::delete_collection)
        .service(paywall::show)
        .service(paywall::create_plan)
        .service(paywall::save_plan)
        .service(paywall::create_batch)
        .service(paywall::batch_csv)
        .service(paywall::save_title_level)
        .service(offers::create)
        .service(offers::save)
        .service(offers::migrate)
        .service(offers::give)
        .service(member_access::comp)
        .service(member_access::revoke)
        .service(member_access::subscribe)
        .service(member_access::act)
        .service(members::list)
        .service(members::invite)
        .service(members::revoke_invite)
        .service(members::detail)
        .service(members::set_role)
        .service(members::reset_link)
        .service(members::act)
        .service(webhooks::show)
        .service(webhooks::create)
        .service(webhooks::act)
        .service(settings::show)
        .service(settings::save)
        .service(settings::test_email)
        .service(settings::test_stripe)
        .service(settings::clear_stripe)
        .service(audit::show)
        .service(crate::http::api_keys::page)
        .service(crate::http::api_keys::create_from_page)
        .service(crate::http::api_keys::revoke_from_page);
}

/// Paging links for a list page (`admin/pager.html`).
#[derive(Serialize)]
pub struct Pager {
    page: u32,
    pages: u64,
    newer: Option<String>,
    older: Option<String>,
}

/// The pager of `path` at `page` (from 0) of `total` items shown `size` at a time, its
/// links keeping the list's `filters`.
pub fn pager(path: &str, filters: &[(&str, &str)], page: u32, total: u64, size: u32) -> Pager {
    let pages = total.div_ceil(u64::from(size)).max(1);
    let href = |page: u32| {
        let page = page.to_string();
        let mut query: Vec<(&str, &str)> = filters.to_vec();
        query.push(("page", &page));
        format!(
            "{path}?{}",
            serde_urlencoded::to_string(query).unwrap_or_default()
        )
    };
    Pager {
        page,
        pages,
        newer: (page > 0).then(|| href(page - 1)),
        older: (u64::from(page) + 1 < pages).then(|| href(page + 1)),
    }
}

/// A time as pages show it (UTC, HTTP date format).
pub fn when(secs: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    httpdate::fmt_http_date(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_save_has_its_own_code_and_reads_back() {
        for s in Saved::ALL {
            assert_eq!(Saved::from_code(s.code()), Some(*s));
            assert_eq!(
                Saved::ALL.iter().filter(|o| o.code() == s.code()).count(),
                1
            );
        }
        assert_eq!(Saved::from_code("<script>"), None);
        assert_eq!(
            saved_to("/admin/paywall#offer-3", Saved::OfferSaved),
            "/admin/paywall?saved=offer#offer-3"
        );
        assert_eq!(
            saved_to("/admin/paywall?x=1", Saved::PlanSaved),
            "/admin/paywall?x=1&saved=plan"
        );
    }
}
