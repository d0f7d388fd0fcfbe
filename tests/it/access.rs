//! Every role, every key scope and a signed-out client against every API route (read from
//! the OpenAPI document, with the scope each operation declares) and every dashboard
//! route (the table below): allowed → not refused, not allowed → 403, signed out → 401
//! (API) or a redirect to sign in (pages). And every state-changing page refuses a post
//! without the session's CSRF token or with another session's.

use std::collections::BTreeMap;

use marquee::accounts::roles::{Permission, Role};
use serde_json::Value;

use crate::accounts::{Browser, PASSWORD, created, data_with_ann};
use crate::support::{Server, key_with};

/// Routes anyone may call.
const PUBLIC_API: &[&str] = &["GET /api/v1/openapi.json", "OPTIONS /api/v1/uploads"];

/// Every dashboard route and the permission it needs (`None`: any signed-in person).
/// Made-up ids: an allowed role gets a 404 or 400, never a refusal.
const PAGES: &[(&str, &str, Option<Permission>)] = &[
    ("GET", "/admin", Some(Permission::DashboardView)),
    ("GET", "/admin/media", Some(Permission::MediaRead)),
    (
        "GET",
        "/admin/media/nosuchasset",
        Some(Permission::MediaRead),
    ),
    (
        "GET",
        "/admin/media/nosuchasset/poster",
        Some(Permission::MediaRead),
    ),
    (
        "POST",
        "/admin/media/nosuchasset/rename",
        Some(Permission::MediaWrite),
    ),
    (
        "POST",
        "/admin/media/nosuchasset/retry",
        Some(Permission::MediaWrite),
    ),
    (
        "POST",
        "/admin/media/nosuchasset/delete",
        Some(Permission::MediaWrite),
    ),
    ("GET", "/admin/titles", Some(Permission::CatalogRead)),
    ("POST", "/admin/titles", Some(Permission::CatalogWrite)),
    (
        "GET",
        "/admin/titles/nosuchtitle",
        Some(Permission::CatalogRead),
    ),
    (
        "POST",
        "/admin/titles/nosuchtitle",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST",
        "/admin/titles/nosuchtitle/publish",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST",
        "/admin/titles/nosuchtitle/unpublish",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST",
        "/admin/titles/nosuchtitle/delete",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST",
        "/admin/titles/nosuchtitle/episodes",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST",
        "/admin/titles/nosuchtitle/extras",
        Some(Permission::CatalogWrite),
    ),
    ("GET", "/admin/rails", Some(Permission::CatalogRead)),
    ("POST", "/admin/rails", Some(Permission::CatalogWrite)),
    (
        "POST",
        "/admin/rails/999999",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST",
        "/admin/rails/999999/move",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST",
        "/admin/rails/999999/delete",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST",
        "/admin/rails/999999/items",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST",
        "/admin/collections/nosuchcollection/items",
        Some(Permission::CatalogWrite),
    ),
    ("POST", "/admin/collections", Some(Permission::CatalogWrite)),
    (
        "GET",
        "/admin/collections/nosuchcollection",
        Some(Permission::CatalogRead),
    ),
    (
        "POST",
        "/admin/collections/nosuchcollection",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST",
        "/admin/collections/nosuchcollection/delete",
        Some(Permission::CatalogWrite),
    ),
    ("GET", "/admin/webhooks", Some(Permission::WebhooksManage)),
    ("POST", "/admin/webhooks", Some(Permission::WebhooksManage)),
    (
        "POST",
        "/admin/webhooks/999999",
        Some(Permission::WebhooksManage),
    ),
    ("GET", "/admin/members", Some(Permission::MembersRead)),
    (
        "GET",
        "/admin/members/999999",
        Some(Permission::MembersRead),
    ),
    (
        "POST",
        "/admin/members/invite",
        Some(Permission::MembersWrite),
    ),
    (
        "POST",
        "/admin/members/invites/999999/revoke",
        Some(Permission::MembersWrite),
    ),
    ("GET", "/admin/paywall", Some(Permission::BillingRead)),
    (
        "POST",
        "/admin/paywall/plans",
        Some(Permission::BillingWrite),
    ),
    (
        "POST",
        "/admin/paywall/plans/nosuchplan",
        Some(Permission::BillingWrite),
    ),
    (
        "POST",
        "/admin/paywall/codes",
        Some(Permission::BillingWrite),
    ),
    (
        "GET",
        "/admin/paywall/codes/999999/csv",
        Some(Permission::BillingRead),
    ),
    (
        "POST",
        "/admin/titles/nosuchtitle/access",
        Some(Permission::BillingWrite),
    ),
    (
        "POST",
        "/admin/members/999999/comp",
        Some(Permission::BillingWrite),
    ),
    (
        "POST",
        "/admin/members/999999/grants/999999/end",
        Some(Permission::BillingWrite),
    ),
    (
        "POST",
        "/admin/members/999999/subscriptions",
        Some(Permission::BillingWrite),
    ),
    (
        "POST",
        "/admin/members/999999/subscriptions/999999/cancel",
        Some(Permission::BillingWrite),
    ),
    (
        "POST",
        "/admin/members/999999/purchases/999999/refund",
        Some(Permission::BillingWrite),
    ),
    (
        "POST",
        "/admin/members/999999/role",
        Some(Permission::MembersWrite),
    ),
    (
        "POST",
        "/admin/members/999999/disable",
        Some(Permission::MembersWrite),
    ),
    (
        "POST",
        "/admin/members/999999/enable",
        Some(Permission::MembersWrite),
    ),
    (
        "POST",
        "/admin/members/999999/end-sessions",
        Some(Permission::MembersWrite),
    ),
    (
        "POST",
        "/admin/members/999999/delete",
        Some(Permission::MembersWrite),
    ),
    ("GET", "/admin/api-keys", Some(Permission::ApiKeysManage)),
    ("POST", "/admin/api-keys", Some(Permission::ApiKeysManage)),
    (
        "POST",
        "/admin/api-keys/999999/revoke",
        Some(Permission::ApiKeysManage),
    ),
    ("GET", "/admin/settings", Some(Permission::SettingsRead)),
    ("POST", "/admin/settings", Some(Permission::SettingsWrite)),
    (
        "POST",
        "/admin/settings/test-email",
        Some(Permission::SettingsWrite),
    ),
    ("GET", "/admin/audit", Some(Permission::AuditRead)),
    ("GET", "/admin/analytics", Some(Permission::AnalyticsRead)),
    (
        "GET",
        "/admin/analytics/export.csv?tab=audience&table=days",
        Some(Permission::AnalyticsRead),
    ),
    ("GET", "/admin/segments", Some(Permission::MembersRead)),
    ("POST", "/admin/segments", Some(Permission::MembersWrite)),
    (
        "GET",
        "/admin/segments/999999",
        Some(Permission::MembersRead),
    ),
    (
        "POST",
        "/admin/segments/preview",
        Some(Permission::MembersRead),
    ),
    (
        "POST",
        "/admin/segments/999999",
        Some(Permission::MembersWrite),
    ),
    (
        "POST",
        "/admin/segments/999999/delete",
        Some(Permission::MembersWrite),
    ),
    ("GET", "/admin/campaigns", Some(Permission::BillingRead)),
    ("POST", "/admin/campaigns", Some(Permission::BillingWrite)),
    (
        "GET",
        "/admin/campaigns/999999",
        Some(Permission::BillingRead),
    ),
    (
        "POST",
        "/admin/campaigns/999999",
        Some(Permission::BillingWrite),
    ),
    ("GET", "/admin/alerts", Some(Permission::SettingsRead)),
    ("POST", "/admin/alerts", Some(Permission::SettingsWrite)),
    (
        "POST",
        "/admin/alerts/check",
        Some(Permission::SettingsWrite),
    ),
    (
        "POST",
        "/admin/alerts/999999/delete",
        Some(Permission::SettingsWrite),
    ),
    ("GET", "/account", None),
    ("POST", "/account/sessions/end-all", None),
    ("POST", "/account/verify-email", None),
];

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
}

/// One request; `cookie`/`csrf` for a session, `key` for an API key.
fn send(
    server: &Server,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    key: Option<&str>,
) -> u16 {
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.url()))
        .header("Content-Type", "application/json");
    if let Some(c) = cookie {
        request = request.header("Cookie", c);
    }
    if let Some(t) = csrf {
        request = request.header("x-csrf-token", t);
    }
    if let Some(k) = key {
        request = request.header("Authorization", format!("Bearer {k}"));
    }
    agent()
        .run(request.body("{}".to_string()).unwrap())
        .unwrap()
        .status()
        .as_u16()
}

/// `(method path, permission)` for every documented API operation; fails on an operation
/// that declares no scope and is not public.
fn api_routes(server: &Server) -> Vec<(String, String, Option<Permission>)> {
    let mut resp = agent()
        .get(format!("{}/api/v1/openapi.json", server.url()))
        .call()
        .unwrap();
    let doc: Value = resp.body_mut().read_json().unwrap();
    let mut routes = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let method = method.to_uppercase();
            let route = format!("{method} {path}");
            let scope = op["security"][0]["api_key"][0].as_str();
            let permission = scope.map(|s| {
                Permission::from_scope(s).unwrap_or_else(|| panic!("{route}: unknown scope {s}"))
            });
            assert!(
                permission.is_some() || PUBLIC_API.contains(&route.as_str()),
                "{route} declares no scope"
            );
            // Ids that exist nowhere: numbers for accounts, invitations and keys.
            let concrete = path
                .replace(
                    "{id}",
                    if path.contains("/assets/") || path.contains("/uploads/") {
                        "nosuchid"
                    } else {
                        "999999"
                    },
                )
                .replace("{kind}", "poster")
                .replace("{number}", "1")
                .replace("{grant}", "999999")
                .replace("{title}", "nosuchid");
            routes.push((method, concrete, permission));
        }
    }
    assert!(routes.len() >= 20, "{routes:?}");
    routes
}

#[test]
fn every_role_and_scope_gets_what_the_permission_table_gives_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    for role in Role::ALL.into_iter().filter(|r| *r != Role::Owner) {
        created(
            &data,
            &format!("{role}@example.com"),
            &["--role", role.as_str()],
        );
    }
    // `settings:owner` is never a key's (`Permission::key_grantable`).
    let keys: BTreeMap<Permission, String> = Permission::ALL
        .iter()
        .filter(|p| p.key_grantable())
        .map(|p| (*p, key_with(&data, p.scope())))
        .collect();
    let server = Server::start(&data, "");
    let routes = api_routes(&server);

    // Signed out: 401 from the API, a redirect to sign in from pages.
    for (method, path, permission) in &routes {
        let status = send(&server, method, path, None, None, None);
        if permission.is_some() {
            assert_eq!(status, 401, "signed out: {method} {path}");
        }
    }
    let mut anon = Browser::new(server.url());
    for (method, path, _) in PAGES {
        let page = if *method == "GET" {
            anon.get(path)
        } else {
            anon.post(path, &[("csrf", "x")])
        };
        assert_eq!(page.status, 303, "signed out: {method} {path}");
        assert!(page.location.unwrap().starts_with("/login"), "{path}");
    }

    // Each role, signed in.
    let mut csrf_of = BTreeMap::new();
    for role in Role::ALL {
        let email = if role == Role::Owner {
            "ann@example.com".to_string()
        } else {
            format!("{role}@example.com")
        };
        let mut browser = Browser::new(server.url());
        assert_eq!(browser.sign_in(&email, PASSWORD).status, 303, "{role}");
        let csrf = browser.get("/account").csrf();
        let cookie = browser.cookie_header();
        for (method, path, permission) in &routes {
            let allowed = permission.is_none_or(|p| role.may(p));
            let status = send(&server, method, path, Some(&cookie), Some(&csrf), None);
            if allowed {
                assert!(
                    status != 401 && status != 403,
                    "{role}: {method} {path} answered {status}"
                );
                if method == "GET" && !path.contains("999999") && !path.contains("nosuchid") {
                    assert_eq!(status, 200, "{role}: {method} {path}");
                }
            } else {
                assert_eq!(status, 403, "{role}: {method} {path}");
            }
        }
        for (method, path, permission) in PAGES {
            let allowed = permission.is_none_or(|p| role.may(p));
            // Sign-out-everywhere last: it ends this session.
            if *path == "/account/sessions/end-all" {
                continue;
            }
            let page = if *method == "GET" {
                browser.get(path)
            } else {
                browser.post(path, &[("csrf", &csrf)])
            };
            if allowed {
                assert!(
                    page.status != 403 && page.status != 401,
                    "{role}: {method} {path} answered {}: {}",
                    page.status,
                    page.body
                );
                assert!(
                    page.location
                        .as_deref()
                        .is_none_or(|l| !l.starts_with("/login")),
                    "{role}: {method} {path} sent to sign in"
                );
                if *method == "GET" && !path.contains("999999") && !path.contains("nosuch") {
                    assert_eq!(page.status, 200, "{role}: {path}");
                }
            } else {
                assert_eq!(page.status, 403, "{role}: {method} {path}");
            }
        }
        csrf_of.insert(role, (browser, csrf));
    }

    // Keys with one scope each: only their scope's routes.
    for (scope_of, key) in &keys {
        for (method, path, permission) in &routes {
            let Some(p) = permission else { continue };
            let status = send(&server, method, path, None, None, Some(key));
            if p == scope_of {
                assert!(
                    status != 401 && status != 403,
                    "key {}: {method} {path} answered {status}",
                    scope_of.scope()
                );
            } else {
                assert_eq!(status, 403, "key {}: {method} {path}", scope_of.scope());
            }
        }
    }

    // CSRF: every state-changing page refuses a post without this session's token.
    let (mut owner, owner_csrf) = csrf_of.remove(&Role::Owner).unwrap();
    let (_, viewer_csrf) = csrf_of.remove(&Role::Viewer).unwrap();
    assert_ne!(owner_csrf, viewer_csrf);
    for (method, path, _) in PAGES.iter().filter(|(m, ..)| *m == "POST") {
        assert_eq!(
            owner.post(path, &[]).status,
            403,
            "no token: {method} {path}"
        );
        assert_eq!(
            owner.post(path, &[("csrf", &viewer_csrf)]).status,
            403,
            "another session's token: {path}"
        );
    }
    // And every section the navigation offers is in the table.
    for section in marquee::http::dashboard::SECTIONS {
        assert!(
            PAGES.iter().any(|(m, p, perm)| *m == "GET"
                && *p == section.href
                && *perm == Some(section.permission)),
            "{} is not in the table",
            section.href
        );
    }
    // Sign out everywhere ends the session (any signed-in person may).
    assert_eq!(
        owner
            .post("/account/sessions/end-all", &[("csrf", &owner_csrf)])
            .status,
        303
    );
    assert_eq!(owner.get("/account").status, 303);
}

/// The key shown once on the API keys page after creating one.
fn shown_key(body: &str) -> String {
    let at = body
        .find("id=\"new-key\"")
        .unwrap_or_else(|| panic!("no key shown: {body}"));
    let before = &body[..at];
    let value = before.rfind("value=\"").unwrap() + "value=\"".len();
    before[value..value + before[value..].find('"').unwrap()].to_string()
}

#[test]
fn a_key_made_in_the_dashboard_reaches_no_further_than_its_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "adam@example.com", &["--role", "admin"]);
    let server = Server::start(&data, "");
    let mut adam = Browser::new(server.url());
    assert_eq!(adam.sign_in("adam@example.com", PASSWORD).status, 303);
    let csrf = adam.get("/admin/api-keys").csrf();
    let made = adam.post(
        "/admin/api-keys",
        &[
            ("csrf", &csrf),
            ("name", "members script"),
            ("scope", "members:read"),
            ("scope", "members:write"),
            ("expires_days", "30"),
        ],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let key = shown_key(&made.body);
    assert!(key.starts_with("mq_"));
    // Shown once: the list shows only its start.
    let listed = adam.get("/admin/api-keys").body;
    assert!(
        !listed.contains(&key) && listed.contains("members script"),
        "{listed}"
    );
    let get = |key: &str, path: &str| send(&server, "GET", path, None, None, Some(key));
    assert_eq!(get(&key, "/api/v1/members"), 200);
    assert_eq!(get(&key, "/api/v1/assets"), 403, "not in its scopes");
    // Its owner demoted to editor: the key loses what the role lost.
    let adam_id = {
        let (_, page) = server.get("/api/v1/members?q=adam");
        page["items"][0]["id"].as_i64().unwrap()
    };
    let mut ann = Browser::new(server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD).status, 303);
    let ann_csrf = ann.get("/admin/members").csrf();
    let demoted = ann.post(
        &format!("/admin/members/{adam_id}/role"),
        &[("csrf", &ann_csrf), ("role", "editor")],
    );
    assert_eq!(demoted.status, 303);
    assert_eq!(get(&key, "/api/v1/members"), 403);
    // Disabled owner: the key stops working.
    let disabled = ann.post(
        &format!("/admin/members/{adam_id}/disable"),
        &[("csrf", &ann_csrf)],
    );
    assert_eq!(disabled.status, 303);
    assert_eq!(get(&key, "/api/v1/members"), 401);
    // A scope its creator lacks cannot be given.
    let mut ed = Browser::new(server.url());
    created(&data, "ed@example.com", &["--role", "support"]);
    assert_eq!(ed.sign_in("ed@example.com", PASSWORD).status, 303);
    assert_eq!(ed.get("/admin/api-keys").status, 403);
    // The owner revokes a key: it stops at once.
    let made = ann.post(
        "/admin/api-keys",
        &[
            ("csrf", &ann_csrf),
            ("name", "ci"),
            ("scope", "assets:read"),
        ],
    );
    let ci = shown_key(&made.body);
    assert_eq!(get(&ci, "/api/v1/assets"), 200);
    let (_, keys) = server.get("/api/v1/api-keys");
    let id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ci")
        .unwrap()["id"]
        .clone();
    let revoked = ann.post(
        &format!("/admin/api-keys/{id}/revoke"),
        &[("csrf", &ann_csrf)],
    );
    assert_eq!(revoked.status, 303);
    assert_eq!(get(&ci, "/api/v1/assets"), 401);
    let no_scope = ann.post("/admin/api-keys", &[("csrf", &ann_csrf), ("name", "none")]);
    assert_eq!(no_scope.status, 400);
    assert!(no_scope.body.contains("at least one scope"));
}
