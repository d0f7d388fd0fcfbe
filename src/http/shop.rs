//! The shop in front of the paywall: the pricing page (`GET /plans`; `/pricing` redirects
//! to it), and what the storefront and the watch page show of prices: plan cards with the
//! trial and the automatic offer, the marks of paid titles on tiles and title pages
//! ("Included with Explorer", "Rent €2.99"), and the title page's main button, which
//! says what pressing it does for this viewer. With Stripe not set up nothing is offered
//! as if it could be paid: "Not on sale online yet" instead of buy buttons.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::session::{Viewer, form_token};
use super::ui::page;
use crate::access::entitlement::{Decision, Remedy, TitleAccess};
use crate::access::level::{AccessLevel, Price};
use crate::money::Locale;
use crate::services::shop::{self, PlanOnSale};

/// What a viewer reads where a price cannot be paid online (Stripe not set up).
pub(super) const NOT_ON_SALE: &str = "Not on sale online yet";

/// An amount for people, in the viewer's locale: `€2.99`, `2,99 €`; never minor units.
pub(super) fn price(amount: i64, currency: &str, locale: &Locale) -> String {
    crate::money::format(amount, currency, locale)
}

fn price_of(p: &Price, locale: &Locale) -> String {
    price(p.amount, &p.currency, locale)
}

/// The locale prices are written in for this request: the browser's `Accept-Language`.
pub(super) fn locale_of(req: &HttpRequest) -> Locale {
    Locale::from_accept_language(
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|h| h.to_str().ok()),
    )
}

/// A page whose prices follow `Accept-Language` says so to caches.
pub(super) fn vary_by_language(mut resp: HttpResponse) -> HttpResponse {
    resp.headers_mut().append(
        header::VARY,
        header::HeaderValue::from_static("Accept-Language"),
    );
    resp
}

/// Whether a visitor can pay online now: Stripe has a secret key.
pub(super) fn can_pay(state: &AppState) -> bool {
    state.settings.settings.current().stripe.enabled()
}

/// The token a checkout form carries: the session's CSRF token for a signed-in viewer,
/// else the pre-session double-submit token, with its cookie when the browser has none
/// yet (a page that sets it is never for a shared cache).
pub(super) fn checkout_token(
    req: &HttpRequest,
    viewer: Option<&Viewer>,
) -> (String, Option<actix_web::cookie::Cookie<'static>>) {
    match viewer {
        Some(v) => (v.csrf_token().to_owned(), None),
        None => form_token(req),
    }
}

/// A plan as the pricing page and the paywall show it.
#[derive(Debug, Serialize)]
pub(super) struct PlanCard {
    pub id: String,
    pub name: String,
    pub description: String,
    /// What the plan includes, one line each, as the operator wrote its description.
    pub includes: Vec<String>,
    /// The monthly and yearly prices, when the plan has them.
    pub monthly: Option<String>,
    pub yearly: Option<String>,
    /// Both in one line: "€7.99 a month or €79.90 a year".
    pub prices: String,
    /// Days free for this viewer (0 once they had a trial).
    pub trial_days: u32,
    pub offer: Option<String>,
    /// The button's words: "Start free trial" or "Subscribe".
    pub action: &'static str,
}

pub(super) fn plan_card(p: &PlanOnSale, locale: &Locale) -> PlanCard {
    let f = &p.plan.fields;
    let monthly = f.monthly_amount.map(|m| price(m, &f.currency, locale));
    let yearly = f.yearly_amount.map(|y| price(y, &f.currency, locale));
    let prices = [
        monthly.as_ref().map(|m| format!("{m} a month")),
        yearly.as_ref().map(|y| format!("{y} a year")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" or ");
    PlanCard {
        id: p.plan.id.clone(),
        name: f.name.clone(),
        description: f.description.clone(),
        includes: f
            .description
            .lines()
            .map(|l| l.trim().trim_start_matches(['-', '*', '•']).trim())
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        monthly,
        yearly,
        prices,
        trial_days: p.trial_days,
        offer: p.offer.as_ref().map(|o| o.describe_in(locale)),
        action: if p.trial_days > 0 {
            "Start free trial"
        } else {
            "Subscribe"
        },
    }
}

/// "Explorer", "Explorer or Family", "Explorer, Family or Kids".
fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// What a paid title's tile and page say about it, about the title alone (never the
/// viewer): "Included with Explorer", "Rent €2.99 · Buy €9.99", "Ticket €5.00",
/// "Free with an account". `plans`: the plans on sale (id, name).
pub(super) fn mark(
    level: &AccessLevel,
    plans: &[(String, String)],
    can_pay: bool,
    locale: &Locale,
) -> String {
    match level {
        AccessLevel::Public => String::new(),
        AccessLevel::Registered => "Free with an account".into(),
        AccessLevel::Subscribers { plans: only } => {
            let names: Vec<&str> = plans
                .iter()
                .filter(|(id, _)| only.is_empty() || only.contains(id))
                .map(|(_, name)| name.as_str())
                .collect();
            match names.is_empty() {
                true => "For subscribers".into(),
                false => format!("Included with {}", one_of(&names)),
            }
        }
        AccessLevel::Purchase { .. } | AccessLevel::PayPerView { .. } if !can_pay => {
            NOT_ON_SALE.into()
        }
        AccessLevel::Purchase { rent, buy } => [
            rent.as_ref()
                .map(|p| format!("Rent {}", price_of(p, locale))),
            buy.as_ref().map(|p| format!("Buy {}", price_of(p, locale))),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · "),
        AccessLevel::PayPerView { price, .. } => format!("Ticket {}", price_of(price, locale)),
    }
}

/// The marks of the paid titles among some cards: their levels (from `shop::paid_levels`,
/// which the storefront may keep with its shared rails) and the plans on sale now.
pub(super) struct Marks {
    pub levels: HashMap<String, AccessLevel>,
    pub plans: Vec<(String, String)>,
    pub can_pay: bool,
    pub locale: Locale,
}

impl Marks {
    pub fn of(&self, id: &str) -> Option<String> {
        self.levels
            .get(id)
            .map(|level| mark(level, &self.plans, self.can_pay, &self.locale))
            .filter(|m| !m.is_empty())
    }
}

/// The title page's main button for this viewer, when it is not simply "Play".
#[derive(Debug, Serialize, Default)]
pub(super) struct MainAction {
    /// What pressing it does: "Start free trial", "Rent for €2.99", "Sign in to watch".
    pub words: String,
    /// A link to follow…
    pub href: Option<String>,
    /// …or a checkout form's hidden fields (besides `csrf`).
    pub checkout: Vec<(String, String)>,
    /// A sentence shown instead of (or beside) a button: "Not on sale online yet".
    pub note: Option<String>,
    /// A link to where an access code can be typed.
    pub code: Option<String>,
    /// Beside a buy button for a visitor: signing in, for someone who already pays.
    pub sign_in: Option<String>,
}

/// What the title page's main button does for a viewer the engine refused: buy the one
/// thing that lets them in (or open the paywall that lists the choices), sign in, fix a
/// payment; with nothing payable online, a sentence and the way to a code instead.
/// `plans`: the plans on sale among those the title's level names.
pub(super) fn main_action(
    title_page: &str,
    watch: &str,
    access: &TitleAccess,
    decision: &Decision,
    plans: &[PlanOnSale],
    can_pay: bool,
    locale: &Locale,
) -> Option<MainAction> {
    let Decision::Denied { reason, remedies } = decision else {
        return None;
    };
    let title = access.asked_about().to_owned();
    let checkout = |kind: &str| {
        vec![
            ("back".to_owned(), title_page.to_owned()),
            ("title".to_owned(), title.clone()),
            ("kind".to_owned(), kind.to_owned()),
        ]
    };
    let paid = remedies.iter().any(|r| {
        matches!(
            r,
            Remedy::Subscribe { .. }
                | Remedy::Rent { .. }
                | Remedy::Buy { .. }
                | Remedy::Ticket { .. }
        )
    });
    if can_pay {
        for remedy in remedies {
            let action = match remedy {
                Remedy::Subscribe { .. } if plans.len() == 1 => {
                    let p = &plans[0];
                    let interval = match p.plan.fields.monthly_amount {
                        Some(_) => "month",
                        None => "year",
                    };
                    MainAction {
                        words: plan_card(p, locale).action.to_owned(),
                        checkout: vec![
                            ("back".to_owned(), title_page.to_owned()),
                            ("plan".to_owned(), p.plan.id.clone()),
                            ("interval".to_owned(), interval.to_owned()),
                        ],
                        ..MainAction::default()
                    }
                }
                // Several plans: the paywall lists them.
                Remedy::Subscribe { .. } if !plans.is_empty() => MainAction {
                    words: match plans.iter().any(|p| p.trial_days > 0) {
                        true => "Start free trial".into(),
                        false => "Subscribe".into(),
                    },
                    href: Some(format!("{watch}#paywall")),
                    ..MainAction::default()
                },
                Remedy::Rent { price } => MainAction {
                    words: format!("Rent for {}", price_of(price, locale)),
                    checkout: checkout("rent"),
                    ..MainAction::default()
                },
                Remedy::Buy { price } => MainAction {
                    words: format!("Buy for {}", price_of(price, locale)),
                    checkout: checkout("buy"),
                    ..MainAction::default()
                },
                Remedy::Ticket { price } => MainAction {
                    words: format!("Buy ticket for {}", price_of(price, locale)),
                    checkout: checkout("ticket"),
                    ..MainAction::default()
                },
                _ => continue,
            };
            let sign_in = remedies
                .iter()
                .any(|r| matches!(r, Remedy::SignIn))
                .then(|| format!("/login?next={title_page}"));
            return Some(MainAction { sign_in, ..action });
        }
    }
    let note = (paid && !can_pay).then(|| NOT_ON_SALE.to_owned());
    let code = remedies
        .iter()
        .any(|r| matches!(r, Remedy::Code))
        .then(|| format!("{watch}#paywall"));
    let first = remedies.iter().find_map(|r| match r {
        Remedy::SignIn => Some(MainAction {
            words: "Sign in to watch".into(),
            href: Some(format!("/login?next={title_page}")),
            ..MainAction::default()
        }),
        Remedy::UpdatePayment => Some(MainAction {
            words: "Update your payment".into(),
            href: Some("/account".into()),
            ..MainAction::default()
        }),
        Remedy::StopAnotherStream => Some(MainAction {
            words: "Play".into(),
            href: Some(watch.to_owned()),
            ..MainAction::default()
        }),
        _ => None,
    });
    Some(match first {
        Some(action) => MainAction { note, ..action },
        // Not out yet, over, or nothing to buy online: say so in words.
        None => MainAction {
            note: Some(note.unwrap_or_else(|| reason.sentence().to_owned())),
            code,
            ..MainAction::default()
        },
    })
}

/// `/pricing`: the pricing page's other common address.
#[get("/pricing")]
pub async fn pricing() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, "/plans"))
        .finish()
}

/// The pricing page: every plan on sale with its prices (a monthly/yearly switch made of
/// two radio buttons and CSS, so it works without scripts), the trial and automatic offer
/// this viewer would get, what the plan includes, and a button straight into checkout.
#[get("/plans")]
pub async fn plans_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Option<Viewer>,
) -> Result<HttpResponse, ApiError> {
    let user = viewer.as_ref().map(|v| v.user().id.0);
    let now = crate::clock::now();
    let on_sale = state
        .db
        .read(move |c| shop::plans_on_sale(c, user, &[], now))
        .await?;
    let locale = locale_of(&req);
    let cards: Vec<PlanCard> = on_sale.iter().map(|p| plan_card(p, &locale)).collect();
    let both = cards
        .iter()
        .any(|p| p.monthly.is_some() && p.yearly.is_some());
    let can_pay = can_pay(&state);
    let (csrf, cookie) = match can_pay && !cards.is_empty() {
        true => {
            let (token, cookie) = checkout_token(&req, viewer.as_ref());
            (Some(token), cookie)
        }
        false => (None, None),
    };
    let resp = page(
        &state,
        "plans.html",
        StatusCode::OK,
        minijinja::context! {
            plans => minijinja::Value::from(minijinja::value::Serde(&cards)),
            both, can_pay, csrf => csrf.clone(), not_on_sale => NOT_ON_SALE,
        },
    )?;
    // The trial and offer shown are this viewer's, and the form carries their token.
    Ok(vary_by_language(match (&viewer, &csrf) {
        (None, None) => resp,
        _ => super::account_pages::private(resp, cookie),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(amount: i64) -> Price {
        Price {
            amount,
            currency: "eur".into(),
        }
    }

    #[test]
    fn marks_name_plans_and_prices_in_words() {
        let plans = vec![
            ("explorer".to_owned(), "Explorer".to_owned()),
            ("family".to_owned(), "Family".to_owned()),
        ];
        let subs = |only: &[&str]| AccessLevel::Subscribers {
            plans: only.iter().map(|s| s.to_string()).collect(),
        };
        let en = Locale::default();
        let de = Locale::parse("de-DE").unwrap();
        assert_eq!(
            mark(&subs(&["explorer"]), &plans, true, &en),
            "Included with Explorer"
        );
        assert_eq!(
            mark(&subs(&[]), &plans, false, &en),
            "Included with Explorer or Family"
        );
        assert_eq!(mark(&subs(&["gone"]), &plans, true, &en), "For subscribers");
        let rent = AccessLevel::Purchase {
            rent: Some(eur(299)),
            buy: Some(eur(999)),
        };
        assert_eq!(mark(&rent, &plans, true, &en), "Rent €2.99 · Buy €9.99");
        assert_eq!(
            mark(&rent, &plans, true, &de),
            "Rent 2,99\u{a0}€ · Buy 9,99\u{a0}€"
        );
        assert_eq!(mark(&rent, &plans, false, &en), NOT_ON_SALE);
        assert_eq!(
            mark(&AccessLevel::Registered, &plans, false, &en),
            "Free with an account"
        );
        assert_eq!(one_of(&["A", "B", "C"]), "A, B or C");
    }
}
