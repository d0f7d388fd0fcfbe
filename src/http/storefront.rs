//! The viewer's storefront, rendered on the server: the home page of rails, title pages,
//! search (with results as you type), genre and collection pages, the sitemap and
//! robots.txt. Every answer comes from `catalog::browse` and shows live titles only.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::session::Viewer;
use super::shop::{MainAction, Marks};
use super::storefront_cache::{Found, Home, Stamp};
use super::ui::page;
use crate::access::entitlement::Remedy;
use crate::accounts::roles::Permission;
use crate::catalog::browse::{self, Card, PackageFile};
use crate::catalog::collections;
use crate::catalog::credits::{Credit, CreditRole};
use crate::catalog::progress;
use crate::catalog::rails::{self, RailKind};
use crate::catalog::search::{self, Audience};
use crate::catalog::spelling::{self, Vocabulary};
use crate::clock;
use crate::images::ArtKind;
use crate::playback::gate;
use crate::services::shop;
use std::sync::Arc;

/// A card as templates use it: URLs made, the duration as a clock.
#[derive(Debug, Serialize)]
pub struct CardView {
    id: String,
    kind: &'static str,
    name: String,
    year: Option<i64>,
    synopsis: String,
    /// A 16:9 image: the uploaded backdrop, else a frame of the video.
    poster: Option<String>,
    /// Every width of the backdrop, when there is one.
    srcset: Option<String>,
    /// The uploaded 2:3 poster, for title pages.
    tall: Option<String>,
    /// The backdrop at its largest, for the hero banner.
    wide: Option<String>,
    duration: Option<String>,
    href: String,
    /// "S1 E2 · Series name" for episodes.
    subtitle: Option<String>,
    /// A paid title's mark: "Included with Explorer", "Rent 2.99 EUR".
    mark: Option<String>,
    /// On "continue watching": how much of it the viewer has watched, in percent.
    watched: Option<u8>,
}

/// What the band on a title's or watch page says when staff preview a title viewers cannot
/// see now (`browse::Looker::Staff`); `None` for a live title.
pub(super) fn preview_band(t: &crate::catalog::titles::Title, now: i64) -> Option<&'static str> {
    use crate::catalog::titles::PublishState;
    match (t.is_live(now), t.status) {
        (true, _) => None,
        (false, PublishState::Draft) => Some("Draft: only staff see this."),
        (false, PublishState::Published) => Some("Not on the site now: only staff see this."),
    }
}

fn poster_url(p: &Option<PackageFile>) -> Option<String> {
    p.as_ref().map(|p| gate::poster_url(&p.asset_id, &p.file))
}

pub fn clock_text(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn view(c: &Card, marks: &Marks) -> CardView {
    let plays_directly = !matches!(
        c.kind,
        crate::catalog::titles::TitleKind::Series | crate::catalog::titles::TitleKind::Movie
    );
    CardView {
        id: c.id.clone(),
        kind: c.kind.as_str(),
        name: c.name.clone(),
        year: c.year,
        synopsis: c.synopsis.clone(),
        poster: c
            .art(ArtKind::Backdrop)
            .map(|a| a.best(640))
            .or_else(|| poster_url(&c.poster)),
        srcset: c.art(ArtKind::Backdrop).map(|a| a.srcset()),
        tall: c.art(ArtKind::Poster).map(|a| a.best(480)),
        wide: c
            .art(ArtKind::Backdrop)
            .map(|a| a.best(1920))
            .or_else(|| poster_url(&c.poster)),
        duration: c.duration_secs.map(clock_text),
        href: if plays_directly {
            play_href(&c.id)
        } else {
            format!("/title/{}", c.id)
        },
        subtitle: c
            .series
            .as_ref()
            .map(|(series, s, e)| format!("S{s} E{e} · {series}")),
        mark: marks.of(&c.id),
        watched: None,
    }
}

/// A link that means "play this": the watch page starts playback on arrival.
fn play_href(id: &str) -> String {
    format!("/watch/{id}?autoplay=1")
}

fn views(cards: &[Card], marks: &Marks) -> Vec<CardView> {
    cards.iter().map(|c| view(c, marks)).collect()
}

/// A card on a staff preview: a frame of media no live title plays is not on the public
/// path, so it comes from the dashboard.
fn staff_view(c: &Card, marks: &Marks) -> CardView {
    let mut v = view(c, marks);
    if let Some(p) = &c.poster {
        let public = poster_url(&c.poster);
        let staff = Some(super::dashboard::media::staff_poster_url(&p.asset_id));
        if v.poster == public {
            v.poster = staff.clone();
        }
        if v.wide == public {
            v.wide = staff;
        }
    }
    v
}

/// The marks of paid titles among `cards`: their levels and the plans on sale, read now.
async fn marks_for(state: &AppState, req: &HttpRequest, cards: &[Card]) -> Result<Marks, ApiError> {
    let ids: Vec<String> = cards.iter().map(|c| c.id.clone()).collect();
    let (levels, plans) = state
        .db
        .read(move |c| {
            Ok::<_, crate::access::AccessError>((shop::paid_levels(c, ids)?, shop::plan_names(c)?))
        })
        .await?;
    Ok(Marks {
        levels,
        plans,
        can_pay: super::shop::can_pay(state),
        locale: super::shop::locale_of(req),
    })
}

/// `cards` as templates show them, with the marks of the paid ones.
pub(super) async fn card_views(
    state: &AppState,
    req: &HttpRequest,
    cards: &[Card],
) -> Result<Vec<CardView>, ApiError> {
    if cards.is_empty() {
        return Ok(Vec::new());
    }
    let marks = marks_for(state, req, cards).await?;
    Ok(views(cards, &marks))
}

fn value<T: Serialize>(v: &T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(v))
}

#[derive(Serialize)]
struct RailView {
    id: i64,
    name: String,
    hero: bool,
    cards: Vec<CardView>,
}

#[get("/")]
pub async fn home(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Option<Viewer>,
) -> Result<HttpResponse, ApiError> {
    let user = viewer.as_ref().map(|v| v.user().id.0);
    let now = clock::now();
    let stamp = stamp(&state, now).await?;
    let home = match state.storefront.home(&stamp, now) {
        Some(home) => home,
        None => {
            let built = state.db.read(move |c| build_home(c, now)).await?;
            let built = Arc::new(built);
            state.storefront.keep_home(stamp, built.clone());
            built
        }
    };
    // The shared rails' marks were kept with them; the words are made now.
    let plans = state.db.read(shop::plan_names).await?;
    let shared = Marks {
        levels: home.levels.clone(),
        plans,
        can_pay: super::shop::can_pay(&state),
        locale: super::shop::locale_of(&req),
    };
    // Per-viewer rails are filled in for this request only.
    let mut rails = Vec::new();
    for (rail, cards) in &home.rails {
        let (name, cards) = match cards {
            Some(cards) => (rail.name.clone(), views(cards, &shared)),
            None => {
                let Some(user) = user else { continue };
                let rail = rail.clone();
                let (name, cards, watched) = state
                    .db
                    .read(move |c| {
                        let (name, titles) = rails::personal(c, &rail, user, now)?;
                        // "Continue watching" tiles show how far in the viewer is.
                        let watched = match rail.kind {
                            RailKind::ContinueWatching => {
                                let ids: Vec<String> =
                                    titles.iter().map(|t| t.id.clone()).collect();
                                progress::watched_percent(c, user, &ids)?
                            }
                            _ => Default::default(),
                        };
                        Ok::<_, crate::catalog::CatalogError>((
                            name,
                            browse::cards(c, &titles, now)?,
                            watched,
                        ))
                    })
                    .await?;
                let marks = marks_for(&state, &req, &cards).await?;
                let mut views = views(&cards, &marks);
                for card in &mut views {
                    card.watched = watched.get(&card.id).copied();
                }
                (name, views)
            }
        };
        if cards.is_empty() {
            continue;
        }
        rails.push(RailView {
            id: rail.id,
            name,
            hero: rail.kind == RailKind::Hero,
            cards,
        });
    }
    let resp = page(
        &state,
        "home.html",
        StatusCode::OK,
        minijinja::context! { rails => value(&rails), genres => value(&home.genres),
        signed_in => viewer.is_some() },
    )?;
    Ok(super::shop::vary_by_language(per_viewer(
        resp,
        viewer.is_some(),
    )))
}

/// A page with a signed-in viewer's own rows ("continue watching", "Resume") is never
/// kept by a shared cache.
fn per_viewer(resp: HttpResponse, signed_in: bool) -> HttpResponse {
    if signed_in {
        super::account_pages::private(resp, None)
    } else {
        resp
    }
}

/// The catalog's freshness stamp now.
async fn stamp(state: &AppState, now: i64) -> Result<Stamp, ApiError> {
    let (version, until) = state.db.read(move |c| browse::freshness(c, now)).await?;
    Ok(Stamp {
        version,
        at: now,
        until,
    })
}

fn build_home(c: &rusqlite::Connection, now: i64) -> Result<Home, ApiError> {
    let mut out = Vec::new();
    for rail in rails::home(c)? {
        if rail.kind.personal() {
            out.push((rail, None));
            continue;
        }
        let titles = rails::resolve(c, &rail, now)?;
        let cards = browse::cards(c, &titles, now)?;
        out.push((rail, Some(cards)));
    }
    let ids = out
        .iter()
        .flat_map(|(_, cards)| cards.iter().flatten())
        .map(|card| card.id.clone());
    let levels = shop::paid_levels(c, ids)?;
    Ok(Home {
        rails: out,
        genres: browse::live_genres(c, now)?,
        levels,
    })
}

fn not_found(state: &AppState) -> Result<HttpResponse, ApiError> {
    page(
        state,
        "missing.html",
        StatusCode::NOT_FOUND,
        minijinja::context! {},
    )
}

/// The public address pages name in their OpenGraph tags and the sitemap: the configured
/// base URL, else the address this request came to: its Host (HTTP/2: its authority), if
/// that is a plain host name or address, and the scheme of the listener it came in on.
/// Forwarding headers are not read: any client can send them.
pub(super) fn public_base(state: &AppState, req: &HttpRequest) -> String {
    let base = state.settings.settings.current().site.base_url.clone();
    if !base.is_empty() {
        return base.trim_end_matches('/').to_string();
    }
    let scheme = if super::session::over_tls(req) {
        "https"
    } else {
        "http"
    };
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .filter(|h| plain_host(h))
        .unwrap_or_else(|| "localhost".into());
    format!("{scheme}://{host}")
}

/// Whether an answer's links come from the request's Host (no `site.base_url`): such an
/// answer is never for a shared cache, which could key it without the host and hand links
/// to a host someone made up to every visitor.
fn links_from_host(state: &AppState) -> bool {
    state.settings.settings.current().site.base_url.is_empty()
}

/// `example.com`, `example.com:8080`, `192.0.2.1`, `[2001:db8::1]:8443`: nothing else.
fn plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

#[get("/title/{id}")]
pub async fn title(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Option<Viewer>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let now = clock::now();
    let user = viewer.as_ref().map(|v| v.user().id.0);
    let looker = match viewer
        .as_ref()
        .is_some_and(|v| v.user().role.may(Permission::CatalogRead))
    {
        true => browse::Looker::Staff,
        false => browse::Looker::Viewer,
    };
    let found = state
        .db
        .read(move |c| {
            let Some(p) = browse::title_page(c, &id, now, looker)? else {
                return Ok(None);
            };
            let resume = match user {
                Some(user) => progress::resume_point(c, user, &id, now)?,
                None => None,
            };
            let ids = std::iter::once(p.card.clone())
                .chain(p.seasons.iter().flat_map(|s| s.episodes.clone()))
                .chain(p.extras.iter().cloned())
                .map(|card| card.id);
            let levels = shop::paid_levels(c, ids)?;
            let plans = shop::plan_names(c)?;
            Ok::<_, ApiError>(Some((p, resume, levels, plans)))
        })
        .await?;
    let Some((p, resume, levels, plans)) = found else {
        return not_found(&state);
    };
    let can_pay = super::shop::can_pay(&state);
    let locale = super::shop::locale_of(&req);
    let marks = Marks {
        levels,
        plans,
        can_pay,
        locale: locale.clone(),
    };
    let preview = preview_band(&p.title, now);
    let card_view = |c: &Card| match preview {
        Some(_) => staff_view(c, &marks),
        None => view(c, &marks),
    };
    let card_views = |cards: &[Card]| cards.iter().map(card_view).collect::<Vec<_>>();
    #[derive(Serialize)]
    struct SeasonView {
        number: i64,
        name: String,
        episodes: Vec<CardView>,
    }
    let seasons: Vec<SeasonView> = p
        .seasons
        .iter()
        .map(|s| SeasonView {
            number: s.number,
            name: s.name.clone(),
            episodes: card_views(&s.episodes),
        })
        .collect();
    // "Resume" where the signed-in viewer stopped, else "Play" from the start.
    let resume = resume.map(|progress::ResumePoint { title_id: id, at }| {
        let episode = p
            .seasons
            .iter()
            .flat_map(|s| &s.episodes)
            .find(|e| e.id == id)
            .and_then(|e| e.series.as_ref())
            .map(|(_, season, number)| format!("S{season} E{number}"));
        (play_href(&id), clock_text(at.floor()), episode)
    });
    let first = match p.title.kind {
        crate::catalog::titles::TitleKind::Series => p
            .seasons
            .first()
            .and_then(|s| s.episodes.first())
            .map(|e| e.id.clone()),
        _ => Some(p.title.id.clone()),
    };
    let play = first.as_deref().map(play_href);
    // What the main button does for this viewer, when the engine would not let them play.
    let title_page = format!("/title/{}", p.title.id);
    // A preview plays whatever the engine would say of a draft.
    let main = match (&first, preview) {
        (Some(first), None) => {
            main_action(&state, user, first, &title_page, can_pay, &locale, now).await?
        }
        _ => None,
    };
    let (csrf, csrf_cookie) = match main.as_ref().is_some_and(|m| !m.checkout.is_empty()) {
        true => {
            let (token, cookie) = super::shop::checkout_token(&req, viewer.as_ref());
            (Some(token), cookie)
        }
        false => (None, None),
    };
    // The watch page itself resumes: a second button to the same page would say nothing.
    let play = play.filter(|href| resume.as_ref().is_none_or(|(r, _, _)| r != href));
    let resume = resume.map(|(href, at, episode)| minijinja::context! { href, at, episode });
    let base = public_base(&state, &req);
    let resp = page(
        &state,
        "title.html",
        StatusCode::OK,
        minijinja::context! {
            title => value(&p.title), card => value(&card_view(&p.card)),
            genres => value(&p.genres), preview,
            seasons => value(&seasons), extras => value(&card_views(&p.extras)),
            trailer => value(&p.trailer.as_ref().map(card_view)), play, resume,
            main => value(&main), csrf => csrf.clone(),
            credits => value(&credit_lines(&p.people)),
            canonical => format!("{base}/title/{}", p.title.id),
            og_image => p
                .card
                .art(ArtKind::Backdrop)
                .or(p.card.art(ArtKind::Poster))
                .map(|a| a.best(1280))
                .or_else(|| poster_url(&p.card.poster))
                .map(|u| format!("{base}{u}")),
        },
    )?;
    let mut resp = per_viewer(resp, user.is_some());
    // A visitor's checkout form carries their own form token.
    if user.is_none() && csrf.is_some() {
        resp = super::account_pages::private(resp, csrf_cookie);
    } else if user.is_none() && links_from_host(&state) {
        resp.headers_mut().insert(
            actix_web::http::header::CACHE_CONTROL,
            actix_web::http::header::HeaderValue::from_static("private"),
        );
    }
    Ok(super::shop::vary_by_language(resp))
}

/// The title page's main button for this viewer when the engine would not let them play
/// `first` (the title, or a series' first episode); `None`: "Play".
async fn main_action(
    state: &AppState,
    user: Option<i64>,
    first: &str,
    title_page: &str,
    can_pay: bool,
    locale: &crate::money::Locale,
    now: i64,
) -> Result<Option<MainAction>, ApiError> {
    let paywall = state.settings.settings.current().paywall.clone();
    let Some((access, decision)) = state
        .playback
        .decision(first, user, None, &paywall, now)
        .await?
    else {
        return Ok(None);
    };
    let only = match &decision {
        crate::access::entitlement::Decision::Denied { remedies, .. } => {
            remedies.iter().find_map(|r| match r {
                Remedy::Subscribe { plans } => Some(plans.clone()),
                _ => None,
            })
        }
        _ => None,
    };
    let plans = match only {
        Some(only) => {
            state
                .db
                .read(move |c| shop::plans_on_sale(c, user, &only, now))
                .await?
        }
        None => Vec::new(),
    };
    Ok(super::shop::main_action(
        title_page,
        &format!("/watch/{first}"),
        &access,
        &decision,
        &plans,
        can_pay,
        locale,
    ))
}

/// Credits as the title page lists them: one line per role, cast first, in billing order.
#[derive(Serialize)]
struct CreditLine {
    label: &'static str,
    people: Vec<(String, String)>,
}

fn credit_lines(people: &[Credit]) -> Vec<CreditLine> {
    [
        (CreditRole::Cast, "Starring", "Starring"),
        (CreditRole::Director, "Director", "Directors"),
        (CreditRole::Writer, "Writer", "Writers"),
        (CreditRole::Producer, "Producer", "Producers"),
    ]
    .into_iter()
    .filter_map(|(role, one, many)| {
        let people: Vec<(String, String)> = people
            .iter()
            .filter(|c| c.role == role)
            .map(|c| (c.name.clone(), c.character.clone()))
            .collect();
        let label = if people.len() == 1 { one } else { many };
        (!people.is_empty()).then_some(CreditLine { label, people })
    })
    .collect()
}

#[derive(Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    /// `1`: only the results list, for search as you type.
    #[serde(default)]
    partial: Option<String>,
}

const SEARCH_LIMIT: u32 = 40;

#[get("/search")]
pub async fn search_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let q: String = params.q.chars().take(200).collect();
    let now = clock::now();
    let key = search::fts_query(&q).unwrap_or_default();
    let stamp = stamp(&state, now).await?;
    let found = match state.storefront.search(&key, &stamp, now) {
        Some(found) => found,
        None => {
            let query = q.clone();
            let kept_words = state.storefront.vocabulary(&stamp, now);
            let (cards, did_you_mean, built) = state
                .db
                .read(move |c| {
                    let mut titles =
                        search::search(c, &query, Audience::Viewer { now }, SEARCH_LIMIT)?;
                    let (mut did_you_mean, mut built) = (None, None);
                    if titles.is_empty() && search::fts_query(&query).is_some() {
                        let words = match kept_words {
                            Some(words) => words,
                            None => built.insert(Arc::new(Vocabulary::load(c, now)?)).clone(),
                        };
                        if let Some((meant, found)) =
                            spelling::meant(c, &query, &words, now, SEARCH_LIMIT)?
                        {
                            (did_you_mean, titles) = (Some(meant), found);
                        }
                    }
                    Ok::<_, crate::catalog::CatalogError>((
                        browse::cards(c, &titles, now)?,
                        did_you_mean,
                        built,
                    ))
                })
                .await?;
            if let Some(words) = built {
                state.storefront.keep_vocabulary(stamp, words);
            }
            // Result lists never show synopses: not kept in memory.
            let cards: Vec<Card> = cards
                .into_iter()
                .map(|c| Card {
                    synopsis: String::new(),
                    ..c
                })
                .collect();
            let found = Arc::new(Found {
                cards,
                did_you_mean,
            });
            state.storefront.keep_search(key, stamp, found.clone());
            found
        }
    };
    let template = if params.partial.as_deref() == Some("1") {
        "search_results.html"
    } else {
        "search.html"
    };
    let marks = marks_for(&state, &req, &found.cards).await?;
    page(
        &state,
        template,
        StatusCode::OK,
        minijinja::context! {
            q,
            did_you_mean => found.did_you_mean.clone(),
            did_you_mean_query => found.did_you_mean.as_ref().map(|meant| {
                url::form_urlencoded::byte_serialize(meant.as_bytes()).collect::<String>()
            }),
            cards => value(&views(&found.cards, &marks)),
        },
    )
    .map(super::shop::vary_by_language)
}

#[get("/genre/{slug}")]
pub async fn genre(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug.into_inner();
    let now = clock::now();
    let found = state
        .db
        .read(move |c| {
            let Some((name, titles)) = browse::genre(c, &slug, now, 200)? else {
                return Ok::<_, crate::catalog::CatalogError>(None);
            };
            Ok(Some((name, browse::cards(c, &titles, now)?)))
        })
        .await?;
    let Some((name, cards)) = found else {
        return not_found(&state);
    };
    let marks = marks_for(&state, &req, &cards).await?;
    page(
        &state,
        "browse.html",
        StatusCode::OK,
        minijinja::context! { heading => name, cards => value(&views(&cards, &marks)) },
    )
    .map(super::shop::vary_by_language)
}

#[get("/collection/{slug}")]
pub async fn collection(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug.into_inner();
    let now = clock::now();
    let found = state
        .db
        .read(move |c| {
            let Some(col) = collections::find(c, &slug)? else {
                return Ok::<_, crate::catalog::CatalogError>(None);
            };
            let titles = collections::live_items(c, &col.id, now)?;
            // Nothing viewers may see in it: as if it did not exist (its name may announce
            // what is still unreleased).
            if titles.is_empty() {
                return Ok(None);
            }
            Ok(Some((col, browse::cards(c, &titles, now)?)))
        })
        .await?;
    let Some((col, cards)) = found else {
        return not_found(&state);
    };
    let marks = marks_for(&state, &req, &cards).await?;
    page(
        &state,
        "browse.html",
        StatusCode::OK,
        minijinja::context! { heading => col.name, intro => col.description,
        cards => value(&views(&cards, &marks)) },
    )
    .map(super::shop::vary_by_language)
}

/// Artwork, public and cached for good: the key changes whenever the image does.
#[get("/img/{key}/{name}")]
pub async fn image(state: web::Data<AppState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (key, name) = path.into_inner();
    let Some(file) = crate::images::public_file(&state.data.images(), &key, &name) else {
        return HttpResponse::NotFound().finish();
    };
    match web::block(move || std::fs::read(file)).await {
        Ok(Ok(bytes)) => HttpResponse::Ok()
            .content_type(if name.ends_with(".png") {
                "image/png"
            } else {
                "image/jpeg"
            })
            .insert_header(("cache-control", "public, max-age=31536000, immutable"))
            .body(bytes),
        _ => HttpResponse::NotFound().finish(),
    }
}

#[get("/sitemap.xml")]
pub async fn sitemap(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = clock::now();
    let ids = state.db.read(move |c| browse::live_ids(c, now)).await?;
    let base = public_base(&state, &req);
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    xml.push_str(&format!("<url><loc>{}/</loc></url>\n", xml_escape(&base)));
    for (id, updated) in ids {
        let date = time::OffsetDateTime::from_unix_timestamp(updated)
            .map(|t| t.date().to_string())
            .unwrap_or_default();
        xml.push_str(&format!(
            "<url><loc>{}/title/{}</loc><lastmod>{date}</lastmod></url>\n",
            xml_escape(&base),
            xml_escape(&id)
        ));
    }
    xml.push_str("</urlset>\n");
    let resp = HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .insert_header((
            "cache-control",
            match links_from_host(&state) {
                true => "private, max-age=300",
                false => "public, max-age=300",
            },
        ))
        .body(xml);
    Ok(resp)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[get("/robots.txt")]
pub async fn robots(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let base = public_base(&state, &req);
    let mut resp = HttpResponse::Ok();
    if links_from_host(&state) {
        resp.insert_header(("cache-control", "private"));
    }
    resp.content_type("text/plain; charset=utf-8").body(format!(
        "User-agent: *\nDisallow: /admin\nDisallow: /api/\nDisallow: /p/\nDisallow: /account\nAllow: /\nSitemap: {base}/sitemap.xml\n"
    ))
}
