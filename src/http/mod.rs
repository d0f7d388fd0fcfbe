//! The HTTP layer: thin handlers that parse, call one domain function, and render.

pub mod account_pages;
pub mod api_keys;
pub mod assets;
pub mod auth;
pub mod beacons;
pub mod billing;
pub mod campaign_links;
pub mod client_errors;
pub mod csp;
pub mod dashboard;
pub mod error;
pub mod error_pages;
pub mod fast_origin;
pub mod frame;
pub mod h2_gate;
pub mod h2_ledger;
pub mod invite_pages;
pub mod listener;
pub mod members_api;
pub mod my_account;
pub mod offers_api;
pub mod openapi;
pub mod ops;
pub mod origin;
pub mod paywall_api;
pub mod rails_api;
pub mod recovery_pages;
pub mod redirect;
pub mod request_gate;
pub mod session;
pub mod settings_api;
pub mod shop;
pub mod sign_in_link;
pub mod signup_pages;
pub mod small_body;
pub mod stall;
pub mod storefront;
pub mod storefront_cache;
pub mod titles_api;
pub mod tls_listener;
pub mod ui;
pub mod ui_files;
pub mod uploads;
pub mod watch;
pub mod webhooks_api;
pub mod words;

use actix_web::{HttpRequest, HttpResponse, ResponseError, get, web};

use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::DataDir;
use crate::db::Db;
use crate::jobs::control::RunningJobs;
use crate::jobs::runner::JobEnv;
use crate::playback::Origin;
use crate::services::AssetService;

pub struct AppState {
    pub db: Db,
    pub data: DataDir,
    pub origin: Arc<Origin>,
    pub assets: AssetService,
    pub titles: crate::services::TitleService,
    /// "May this viewer play this title now", and the pass to play it with.
    pub playback: crate::services::PlaybackService,
    /// Access levels, plans, codes and comps.
    pub paywall: crate::services::PaywallService,
    /// Stripe: checkout, the portal, webhooks, reconciliation.
    pub billing: Arc<crate::services::BillingService>,
    /// Wakes the encryption of premium media (`services::encryption`).
    pub encryption_wake: Arc<Notify>,
    /// The home page and search results in memory (`storefront_cache`).
    pub storefront: storefront_cache::StorefrontCache,
    pub ui: ui_files::UiFiles,
    /// The disk floor (`ingest.min_free_mb`) that readiness and the status check.
    pub ingest: crate::config::IngestConfig,
    /// `metrics.token`: when set, `/metrics` needs it.
    pub metrics_token: Option<String>,
    /// Session lifetimes and sign-in throttling (`[accounts]`).
    pub accounts: crate::accounts::Policies,
    /// Resumable uploads (`http::uploads`).
    pub uploads: Arc<crate::uploads::Uploads>,
    /// How long an upload's body may stall (`http.send_timeout_secs`); also for HTTP/2,
    /// which the connection-level gate does not read.
    pub upload_stall: std::time::Duration,
    /// Outgoing email (`[smtp]`); off unless configured.
    pub mail: Arc<crate::mail::Mailer>,
    /// Wakes the webhook delivery loop (`services::webhooks`) for an event just queued.
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// The settings the dashboard changes, and what applies them (`with_settings`).
    pub settings: Arc<crate::services::SettingsService>,
    /// Player beacons into `events.db` (`analytics`).
    pub beacons: Arc<crate::analytics::intake::Intake>,
    /// Reads of `events.db`'s rollups, for the dashboards.
    pub events: Arc<crate::analytics::report::EventsReader>,
    /// Wakes the campaign sender (a campaign was saved).
    pub campaign_wake: Arc<Notify>,
    /// Wakes the alert checker ("Check now").
    pub alerts_wake: Arc<Notify>,
    /// Which proxies' forwarding headers name the client (`http.trusted_proxies`).
    pub proxies: Arc<crate::client_addr::TrustedProxies>,
}

impl AppState {
    /// `ui_dir`: serve the web UI from this folder instead of the copy in the binary.
    pub fn new(
        jobs: JobEnv,
        running: Arc<RunningJobs>,
        wake_jobs: Arc<Notify>,
        ui_dir: Option<std::path::PathBuf>,
    ) -> std::io::Result<Self> {
        let origin = Arc::new(Origin::open(&jobs.data.library(), jobs.db.clone())?);
        let recorder = crate::analytics::recorder::Recorder::open(&jobs.data.events_db_path())
            .map_err(std::io::Error::other)?;
        let beacons = Arc::new(crate::analytics::intake::Intake::new(recorder));
        beacons.set_disk_floor(jobs.data.root.clone(), jobs.ingest.min_free_mb);
        let _ = origin.analytics.set(beacons.clone());
        let events = Arc::new(
            crate::analytics::report::EventsReader::open(&jobs.data.events_db_path())
                .map_err(std::io::Error::other)?,
        );
        let encryption_wake = Arc::new(Notify::new());
        let uploads = crate::uploads::Uploads::new(
            jobs.db.clone(),
            jobs.data.clone(),
            crate::uploads::UploadLimits::new(&Default::default(), &jobs.ingest),
            jobs.new_titles.clone(),
            wake_jobs.clone(),
            crate::clock::now,
        );
        let uploads = Arc::new(uploads);
        let mail = Arc::new(crate::mail::Mailer::off());
        let settings = crate::services::SettingsService::new(
            crate::settings::Settings::fixed(crate::config::Config::default()),
            jobs.db.clone(),
            mail.clone(),
            uploads.clone(),
            jobs.transcode.clone(),
            jobs.new_titles.clone(),
        );
        Ok(AppState {
            settings: Arc::new(settings),
            uploads,
            upload_stall: crate::config::HttpConfig::default().send_timeout(),
            ingest: jobs.ingest.clone(),
            metrics_token: None,
            accounts: crate::accounts::Policies::default(),
            db: jobs.db.clone(),
            data: jobs.data.clone(),
            storefront: Default::default(),
            titles: crate::services::TitleService::new(
                jobs.db.clone(),
                origin.clone(),
                encryption_wake.clone(),
                jobs.data.images(),
            ),
            playback: crate::services::PlaybackService::new(jobs.db.clone(), origin.clone()),
            paywall: crate::services::PaywallService::new(
                jobs.db.clone(),
                origin.clone(),
                encryption_wake.clone(),
            ),
            encryption_wake,
            billing: Arc::new(crate::services::BillingService::new(
                jobs.db.clone(),
                mail.clone(),
                beacons.clone(),
            )),
            assets: AssetService::new(jobs, running, origin.clone(), wake_jobs),
            origin,
            ui: ui_files::UiFiles::new(ui_dir),
            mail,
            webhook_wake: Arc::new(tokio::sync::Notify::new()),
            beacons,
            events,
            campaign_wake: Arc::new(Notify::new()),
            alerts_wake: Arc::new(Notify::new()),
            proxies: Default::default(),
        })
    }
}

impl AppState {
    pub fn with_metrics_token(mut self, token: Option<String>) -> Self {
        self.metrics_token = token;
        self
    }

    pub fn with_mail(mut self, mailer: crate::mail::Mailer) -> Self {
        self.mail = Arc::new(mailer);
        // Billing emails the welcome of an account made at checkout.
        self.billing = Arc::new(crate::services::BillingService::new(
            self.db.clone(),
            self.mail.clone(),
            self.beacons.clone(),
        ));
        self
    }

    /// The running settings, applied to the mailer, uploads and transcoding; call it
    /// after `with_mail` and `with_uploads`, whose handles it keeps.
    pub fn with_settings(
        mut self,
        settings: crate::settings::Settings,
        transcode: Arc<arc_swap::ArcSwap<crate::config::TranscodeConfig>>,
        new_titles: crate::catalog::title_sidecar::NewTitlePolicy,
    ) -> Result<Self, crate::settings::SettingsError> {
        let service = crate::services::SettingsService::new(
            settings,
            self.db.clone(),
            self.mail.clone(),
            self.uploads.clone(),
            transcode,
            new_titles,
        );
        service.apply()?;
        self.settings = Arc::new(service);
        Ok(self)
    }

    /// `http.trusted_proxies`: whose forwarding header names the client.
    pub fn with_proxies(mut self, proxies: crate::client_addr::TrustedProxies) -> Self {
        self.proxies = Arc::new(proxies);
        self
    }

    /// The address of the client behind `req` (see `crate::client_addr`); `None` only
    /// for a request with no peer (a test request).
    pub fn client_of(&self, req: &HttpRequest) -> Option<std::net::IpAddr> {
        let peer = req.peer_addr()?.ip();
        let values = req
            .headers()
            .get_all(self.proxies.header())
            .map(|v| v.as_bytes());
        Some(self.proxies.client(peer, values))
    }

    pub fn with_accounts(mut self, policies: crate::accounts::Policies) -> Self {
        self.accounts = policies;
        self
    }

    /// The configured budget of playback events across all senders (`[analytics]`).
    pub fn with_analytics(self, config: &crate::config::Config) -> Self {
        self.beacons
            .set_budget(crate::analytics::intake::EventBudget::of(&config.analytics));
        self
    }

    /// The configured upload limits and body stall time (`AppState::new` has the defaults).
    pub fn with_uploads(mut self, config: &crate::config::Config) -> Self {
        let limits = crate::uploads::UploadLimits::new(&config.uploads, &config.ingest);
        self.uploads.set_limits(limits);
        self.upload_stall = config.http.send_timeout();
        self
    }
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Every route; used by `serve` and by tests alike.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz)
        .service(assets::list)
        .service(assets::get_one)
        .service(assets::update)
        .service(assets::remove)
        .service(assets::retry)
        .service(paywall_api::put_title_level)
        .service(paywall_api::get_title_level)
        .service(paywall_api::put_season_level)
        .service(paywall_api::put_collection_level)
        .service(paywall_api::list_plans)
        .service(paywall_api::create_plan)
        .service(paywall_api::update_plan)
        .service(paywall_api::create_batch)
        .service(paywall_api::list_batches)
        .service(paywall_api::batch_csv)
        .service(paywall_api::comp)
        .service(paywall_api::list_grants)
        .service(paywall_api::revoke)
        .service(paywall_api::why)
        .service(offers_api::list_offers)
        .service(offers_api::create_offer)
        .service(offers_api::update_offer)
        .service(offers_api::give_offer)
        .service(offers_api::migrate_plan)
        .service(titles_api::list)
        .service(titles_api::create)
        .service(titles_api::get_one)
        .service(titles_api::update)
        .service(titles_api::publish)
        .service(titles_api::unpublish)
        .service(titles_api::remove)
        .service(titles_api::put_artwork)
        .service(titles_api::delete_artwork)
        .service(storefront::image)
        .service(webhooks_api::list)
        .service(webhooks_api::create)
        .service(webhooks_api::update)
        .service(webhooks_api::remove)
        .service(webhooks_api::deliveries)
        .service(webhooks_api::test)
        .service(rails_api::list)
        .service(rails_api::create)
        .service(rails_api::reorder)
        .service(rails_api::update)
        .service(rails_api::remove)
        .service(rails_api::collections_list)
        .service(rails_api::collection_get)
        .service(rails_api::collection_create)
        .service(rails_api::collection_update)
        .service(rails_api::collection_delete)
        .service(uploads::capabilities)
        .service(uploads::capabilities_of_one)
        .service(uploads::create)
        .service(uploads::status)
        .service(uploads::append)
        .service(uploads::terminate)
        .service(uploads::get_one)
        .service(members_api::list)
        .service(members_api::get_one)
        .service(members_api::update)
        .service(members_api::remove)
        .service(members_api::invite)
        .service(members_api::pending)
        .service(members_api::revoke)
        .service(settings_api::list)
        .service(settings_api::update)
        .service(settings_api::entries)
        .service(api_keys::list)
        .service(api_keys::create)
        .service(api_keys::revoke)
        .service(openapi::openapi_json)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(ops::status)
        .service(account_pages::login_form)
        .service(account_pages::login)
        .service(sign_in_link::ask_for_link)
        .service(sign_in_link::open_link)
        .service(sign_in_link::confirm_link)
        .service(signup_pages::signup_form)
        .service(signup_pages::submit)
        .service(signup_pages::register)
        .service(signup_pages::join)
        .service(signup_pages::open_link)
        .service(signup_pages::confirm_link)
        .service(account_pages::logout)
        .service(invite_pages::accept_form)
        .service(recovery_pages::ask_form)
        .service(recovery_pages::ask)
        .service(recovery_pages::reset_form)
        .service(recovery_pages::reset)
        .service(recovery_pages::send_verification)
        .service(recovery_pages::verify_form)
        .service(recovery_pages::verify)
        .service(invite_pages::accept)
        .service(account_pages::setup_form)
        .service(account_pages::setup_submit)
        .configure(dashboard::routes)
        .service(account_pages::account)
        .service(account_pages::sign_out_everywhere)
        .service(my_account::change_name)
        .service(my_account::change_email)
        .service(my_account::confirm_email_form)
        .service(my_account::confirm_email)
        .service(my_account::change_password)
        .service(my_account::receipts)
        .service(my_account::download_data)
        .service(my_account::delete_form)
        .service(my_account::delete)
        .service(my_account::deleted)
        .service(my_account::delete_link_form)
        .service(my_account::delete_with_link)
        .service(my_account::my_list_page)
        .service(my_account::my_list_change)
        .service(storefront::home)
        .service(storefront::title)
        .service(storefront::search_page)
        .service(storefront::genre)
        .service(storefront::collection)
        .service(storefront::sitemap)
        .service(storefront::robots)
        .service(shop::plans_page)
        .service(shop::pricing)
        .service(watch::watch)
        .service(watch::renew_pass)
        .service(watch::redeem)
        .service(watch::heartbeat)
        .service(watch::stop)
        .service(billing::checkout)
        .service(billing::returned)
        .service(beacons::beacon)
        .service(campaign_links::banner)
        .service(campaign_links::opened)
        .service(campaign_links::unsubscribe_form)
        .service(campaign_links::unsubscribe)
        .service(campaign_links::show)
        .service(campaign_links::redeem)
        .service(billing::portal)
        .service(billing::redeem_offer)
        .service(billing::webhook)
        .service(watch::save_progress)
        .service(ui::static_file)
        .route("/p/{tail:.*}", web::route().to(origin::serve))
        .default_service(web::to(fallback));
}

/// Whatever no route took. Under `/api/` the answer is a JSON error like every other API
/// answer: `method_not_allowed` (with `Allow`) for a documented path asked with another
/// method, `not_found` otherwise; anywhere else a 404 that `error_pages` makes a page.
async fn fallback(req: HttpRequest) -> Result<HttpResponse, session::PageError> {
    let path = req.path();
    if !path.starts_with("/api/") {
        return Err(session::PageError::NotFound(
            "There is nothing at this address. It may have moved, or the link may be mistyped."
                .into(),
        ));
    }
    Ok(match openapi::methods_for(path) {
        Some(allowed) => {
            let mut response = error::ApiError::new(
                error::ErrorCode::MethodNotAllowed,
                format!("{path} takes {allowed}"),
            )
            .error_response();
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allowed) {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::ALLOW, value);
            }
            response
        }
        None => error::ApiError::not_found(format!("no such API route: {path}")).error_response(),
    })
}

/// Malformed query strings: JSON errors instead of actix's plain text (`error_pages` makes
/// a page of one for a browser). Outside the API the parser's words go to the log and the
/// answer is a sentence.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, req| {
        if req.path().starts_with("/api/") {
            error::ApiError::bad_request(err.to_string()).into()
        } else {
            tracing::debug!(error = %err, path = req.path(), "a query that does not parse");
            error::ApiError::bad_request(session::NOT_UNDERSTOOD).into()
        }
    })
}

/// An API path whose id does not parse (`/api/v1/rails/99999999999999999999`) names
/// nothing: a JSON 404 like any other missing thing; pages keep actix's answer.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, req| {
        if req.path().starts_with("/api/") {
            error::ApiError::not_found(format!("no such thing: {err}")).into()
        } else {
            actix_web::error::ErrorNotFound(err.to_string())
        }
    })
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, _| error::ApiError::bad_request(err.to_string()).into())
}
