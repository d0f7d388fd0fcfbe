//! Buying through Stripe, end to end: a Checkout Session for a plan (with its trial, once
//! per person) or for a rental, a purchase or a ticket; the return from Checkout, fulfilled
//! at once from the session as Stripe has it; the Customer Portal; webhooks, checked,
//! recorded by event id and acted on once; and reconciliation, which lists the events
//! missed while the server was down. Stripe calls are blocking and run on the blocking
//! pool; every database step is one short transaction.

use serde_json::Value;

use crate::access::level::AccessLevel;
use crate::access::offers::{self, Audience, Offer, OfferKind};
use crate::access::{plans, store};
use crate::accounts::AccountsError;
use crate::accounts::email::Email;
use crate::accounts::roles::Role;
use crate::accounts::secret::Secret;
use crate::accounts::users::{self, NewUser, UserId};
use crate::accounts::{profile, recovery};
use crate::audit;
use crate::clock;
use crate::config::{PaywallConfig, StripeConfig};
use crate::db::Db;
use crate::mail::Letter;
use crate::payments::PaymentsError;
use crate::payments::guest;
use crate::payments::stripe_api::{CheckoutItem, CheckoutRequest, StripeApi};
use crate::payments::stripe_signature;
use crate::payments::sync::{
    self, EventState, META_GUEST, META_KIND, META_OFFER, META_PLAN, META_TARGET, META_USER,
    META_WINDOW,
};
use crate::services::offers::access_to_payments;

/// What a viewer buys.
#[derive(Debug, Clone)]
pub enum Purchase {
    Plan {
        plan_id: String,
        yearly: bool,
        /// An offer code typed at checkout; without one, the best automatic offer for new
        /// members applies.
        offer_code: Option<String>,
    },
    /// `kind`: rent, buy or ticket.
    Title { title_id: String, kind: String },
}

/// Who is buying.
#[derive(Debug, Clone)]
pub enum Buyer {
    /// A signed-in member.
    Member { user_id: i64, email: String },
    /// A visitor with no account: Checkout asks for the email, and the account is the one
    /// it gives once paid (`fulfil_guest`). `browser_hash`: the SHA-256 of the checkout
    /// cookie of the browser that starts it, so only that browser's return may sign in.
    Guest { browser_hash: String },
}

impl Buyer {
    fn user_id(&self) -> Option<i64> {
        match self {
            Buyer::Member { user_id, .. } => Some(*user_id),
            Buyer::Guest { .. } => None,
        }
    }

    /// Who, in an idempotency key: the member, or the browser.
    fn key_part(&self) -> String {
        match self {
            Buyer::Member { user_id, .. } => user_id.to_string(),
            Buyer::Guest { browser_hash } => {
                format!("g{}", browser_hash.chars().take(24).collect::<String>())
            }
        }
    }
}

/// What the return from Checkout found.
#[derive(Debug, Clone)]
pub enum Returned {
    /// A member's own checkout, fulfilled: what was bought (the title or event id, or the
    /// plan).
    Member(Option<String>),
    /// A member's checkout, and no one is signed in: sign in first.
    SignInFirst,
    /// A guest checkout not paid (yet): still open, or its payment still processing.
    NotPaid,
    /// A guest checkout, paid and fulfilled.
    Guest(GuestReturn),
}

/// A paid guest checkout as its return sees it.
#[derive(Debug, Clone)]
pub struct GuestReturn {
    /// The account its purchase went to (`None`: deleted since).
    pub user: Option<crate::accounts::users::User>,
    /// The account was made by this checkout.
    pub account_made: bool,
    /// This browser started the checkout.
    pub this_browser: bool,
    /// This return signs the buyer in: an account this checkout made, the browser that
    /// started it, the first time.
    pub sign_in: bool,
    /// The email had had its free trial: the subscription was cancelled, nothing charged.
    pub trial_refused: bool,
}

/// Where Checkout sends the viewer back to.
#[derive(Debug, Clone)]
pub struct ReturnUrls {
    /// With `{CHECKOUT_SESSION_ID}` in it, which Stripe fills in.
    pub success: String,
    pub cancel: String,
}

pub struct BillingService {
    db: Db,
    /// The welcome email of an account made at checkout.
    mail: std::sync::Arc<crate::mail::Mailer>,
    /// The funnel's "started a checkout" of a buyer known only once they paid.
    funnel: std::sync::Arc<crate::analytics::intake::Intake>,
}

/// The plan's Stripe price for its current amount, made once and kept.
pub(crate) async fn plan_price(
    db: &Db,
    api: &std::sync::Arc<StripeApi>,
    plan: &plans::Plan,
    interval: &'static str,
    amount: i64,
) -> Result<String, PaymentsError> {
    let column = if interval == "year" {
        "stripe_yearly_price"
    } else {
        "stripe_monthly_price"
    };
    let id = plan.id.clone();
    let kept: Option<String> = db
        .read(move |c| {
            Ok::<_, PaymentsError>(c.query_row(
                &format!("SELECT {column} FROM plans WHERE id = ?1"),
                [&id],
                |r| r.get(0),
            )?)
        })
        .await?;
    if let Some(price) = kept {
        return Ok(price);
    }
    let (api2, plan2) = (api.clone(), plan.clone());
    let price = blocking(move || {
        api2.create_price(
            &plan2.id,
            &plan2.fields.name,
            interval,
            amount,
            &plan2.fields.currency,
        )
    })
    .await?;
    let (id, stored, currency, amount_column) = (
        plan.id.clone(),
        price.clone(),
        plan.fields.currency.clone(),
        if interval == "year" {
            "yearly_amount"
        } else {
            "monthly_amount"
        },
    );
    // Kept only while the plan still has this amount (an edit meanwhile wins); remembered
    // as this plan's price for good, since subscriptions go on paying it.
    let now = clock::now();
    db.write(move |tx| {
        sync::remember_price(tx, &stored, &id, interval, amount, &currency, now)?;
        tx.execute(
            &format!("UPDATE plans SET {column} = ?2 WHERE id = ?1 AND {amount_column} = ?3"),
            rusqlite::params![id, stored, amount],
        )?;
        Ok::<_, PaymentsError>(())
    })
    .await?;
    Ok(price)
}

/// Runs a (blocking) Stripe call on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PaymentsError> + Send + 'static,
) -> Result<T, PaymentsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| PaymentsError::Stripe("the Stripe call was cut short".into()))?
}

impl BillingService {
    pub fn new(
        db: Db,
        mail: std::sync::Arc<crate::mail::Mailer>,
        funnel: std::sync::Arc<crate::analytics::intake::Intake>,
    ) -> Self {
        BillingService { db, mail, funnel }
    }

    async fn customer(
        &self,
        api: &std::sync::Arc<StripeApi>,
        user_id: i64,
        email: &str,
    ) -> Result<String, PaymentsError> {
        if let Some(c) = self.db.read(move |c| sync::customer_of(c, user_id)).await? {
            return Ok(c);
        }
        let (api, email) = (api.clone(), email.to_owned());
        let made = blocking(move || api.create_customer(&email, user_id)).await?;
        let id = made.clone();
        self.db
            .write(move |tx| sync::set_customer(tx, user_id, &id))
            .await?;
        Ok(made)
    }

    /// Starts Checkout; returns the address to send the viewer to. A guest's session is
    /// recorded with the browser that started it.
    /// Counts a checkout started with no account against the client's address (each asks
    /// Stripe for a session, and Stripe limits the rate): the seconds to wait when it is
    /// over its share.
    pub async fn count_guest_checkout(
        &self,
        client: std::net::IpAddr,
        policy: &crate::accounts::throttle::ThrottlePolicy,
    ) -> Result<Option<i64>, PaymentsError> {
        use crate::accounts::throttle::{self, ThrottleKey};
        let (key, policy, now) = ([ThrottleKey::GuestCheckout(client)], *policy, clock::now());
        self.db
            .write(move |tx| throttle::count_request(tx, &key, &policy, now))
            .await
            .map_err(accounts_to_payments)
    }

    pub async fn checkout(
        &self,
        stripe: &StripeConfig,
        paywall: &PaywallConfig,
        buyer: &Buyer,
        purchase: Purchase,
        urls: ReturnUrls,
    ) -> Result<String, PaymentsError> {
        let api = std::sync::Arc::new(StripeApi::new(stripe).ok_or(PaymentsError::NotConfigured)?);
        let (customer, mut metadata) = match buyer {
            Buyer::Member { user_id, email } => (
                Some(self.customer(&api, *user_id, email).await?),
                vec![(META_USER.to_owned(), user_id.to_string())],
            ),
            Buyer::Guest { .. } => (None, vec![(META_GUEST.to_owned(), "1".to_owned())]),
        };
        let who = buyer.key_part();
        let minute = clock::now() / 60;
        let (item, key, reserved) = match purchase {
            Purchase::Plan {
                plan_id,
                yearly,
                offer_code,
            } => {
                self.plan_item(&api, buyer, &plan_id, yearly, offer_code, &mut metadata)
                    .await?
            }
            Purchase::Title { title_id, kind } => {
                let lookup = title_id.clone();
                let (access, name) = self
                    .db
                    .read(move |c| {
                        // Only a title viewers can see is for sale: a draft's name must not
                        // reach a Checkout page through its id.
                        let name =
                            crate::catalog::browse::live_title(c, &lookup, crate::clock::now())
                                .map_err(|e| crate::access::AccessError::Invalid(e.to_string()))?
                                .map(|t| t.name);
                        let access = match name {
                            Some(_) => store::title_access(c, &lookup)?,
                            None => None,
                        };
                        Ok::<_, crate::access::AccessError>((access, name))
                    })
                    .await
                    .map_err(|e| PaymentsError::Invalid(e.to_string()))?;
                let access =
                    access.ok_or_else(|| PaymentsError::Invalid("no such title".into()))?;
                let (price, target) = match (&access.level, kind.as_str()) {
                    (AccessLevel::Purchase { rent: Some(p), .. }, "rent")
                    | (AccessLevel::Purchase { buy: Some(p), .. }, "buy") => {
                        (p.clone(), access.title_id.clone())
                    }
                    (
                        AccessLevel::PayPerView {
                            event_id, price, ..
                        },
                        "ticket",
                    ) => (price.clone(), event_id.clone()),
                    _ => {
                        return Err(PaymentsError::Invalid(format!(
                            "this title cannot be bought as {kind:?}"
                        )));
                    }
                };
                metadata.push((META_KIND.to_owned(), kind.clone()));
                metadata.push((META_TARGET.to_owned(), target));
                if kind == "rent" {
                    let window = i64::from(paywall.rental_hours) * 3600;
                    metadata.push((META_WINDOW.to_owned(), window.to_string()));
                }
                (
                    CheckoutItem::Payment {
                        name: name.unwrap_or(title_id.clone()),
                        amount: price.amount,
                        currency: price.currency,
                    },
                    format!("marquee-checkout-{who}-{kind}-{title_id}-{minute}"),
                    None,
                )
            }
        };
        let request = CheckoutRequest {
            customer,
            item,
            success_url: urls.success,
            cancel_url: urls.cancel,
            idempotency_key: key,
            // A session with an offer stops taking payment within the hour, so an unpaid
            // one gives its place back (`offers::CHECKOUT_HOLD_SECS`), and a guest's
            // cannot be paid with an offer long after it ended.
            expires_at: metadata
                .iter()
                .any(|(k, _)| k == META_OFFER)
                .then(|| clock::now() + 3600),
            metadata,
        };
        let made = blocking(move || api.create_checkout(&request)).await;
        if let (Some(offer), Some(user_id)) = (reserved, buyer.user_id()) {
            let session = made.as_ref().ok().map(|(id, _)| id.clone());
            self.db
                .write(move |tx| match &session {
                    Some(s) => offers::hold_for_session(tx, offer, user_id, s),
                    None => offers::release(tx, offer, user_id),
                })
                .await
                .map_err(access_to_payments)?;
        }
        let (session, url) = made?;
        if let Buyer::Guest { browser_hash } = buyer {
            let (hash, now) = (browser_hash.clone(), clock::now());
            self.db
                .write(move |tx| guest::started(tx, &session, &hash, now))
                .await?;
        }
        Ok(url)
    }

    /// A plan's line item: its Stripe price, the trial (once per person) and the offer —
    /// the typed code's, else the best automatic one for a new member — reserved against
    /// its cap before Stripe is asked. Returns the item, the idempotency key and the offer
    /// reserved.
    async fn plan_item(
        &self,
        api: &std::sync::Arc<StripeApi>,
        buyer: &Buyer,
        plan_id: &str,
        yearly: bool,
        offer_code: Option<String>,
        metadata: &mut Vec<(String, String)>,
    ) -> Result<(CheckoutItem, String, Option<i64>), PaymentsError> {
        let lookup = plan_id.to_owned();
        let now = clock::now();
        let member = buyer.user_id();
        // A guest is offered what a new member is: the trial (once their email is known,
        // one it had already is refused, `fulfil_guest`) and the offers for new members.
        let (plan, had_trial, offer) = self
            .db
            .read(move |c| {
                let plan = plans::get(c, &lookup)
                    .map_err(|_| PaymentsError::Invalid(format!("no plan {lookup}")))?;
                let had_trial = match member {
                    Some(user_id) => sync::trial_used(c, user_id)?,
                    None => false,
                };
                let trial = if had_trial { 0 } else { plan.fields.trial_days };
                let offer =
                    checkout_offer(c, &plan, member, offer_code.as_deref(), trial, yearly, now)?;
                Ok::<_, PaymentsError>((plan, had_trial, offer))
            })
            .await?;
        if plan.archived || !plan.fields.public {
            return Err(PaymentsError::Invalid("this plan is not on sale".into()));
        }
        let (interval, amount) = match (
            yearly,
            plan.fields.monthly_amount,
            plan.fields.yearly_amount,
        ) {
            (false, Some(m), _) => ("month", m),
            (true, _, Some(y)) => ("year", y),
            _ => return Err(PaymentsError::Invalid("this plan has no such price".into())),
        };
        let price = plan_price(&self.db, api, &plan, interval, amount).await?;
        metadata.push((META_PLAN.to_owned(), plan.id.clone()));
        let mut trial_days = if had_trial { 0 } else { plan.fields.trial_days };
        let mut coupon = None;
        // The session this checkout replaces, if any: part of the idempotency key, so a new
        // checkout is a new session while a double click still gives one.
        let mut replaces = None;
        if let Some(offer) = &offer {
            // A member's place under the offer's cap is held from now; a guest's is counted
            // when the checkout is paid (the cap was checked just now, and the coupon's own
            // `max_redemptions` backs it at Stripe).
            if let Some(user_id) = member {
                replaces = self
                    .reserve_for_checkout(api, offer.id, user_id, now)
                    .await?;
            }
            metadata.push((META_OFFER.to_owned(), offer.id.to_string()));
            match offer.fields.kind {
                OfferKind::FreePeriod => trial_days = trial_days.max(offer.fields.value as u32),
                _ => match super::offers::coupon_for(&self.db, api, offer).await {
                    Ok(c) => coupon = Some(c),
                    Err(e) => {
                        if let Some(user_id) = member {
                            let id = offer.id;
                            self.db
                                .write(move |tx| offers::release(tx, id, user_id))
                                .await
                                .map_err(access_to_payments)?;
                        }
                        return Err(e);
                    }
                },
            }
        }
        let offer_id = offer.as_ref().map_or(0, |o| o.id);
        let minute = now / 60;
        let key = format!(
            "marquee-checkout-{}-plan-{}-{interval}-t{trial_days}-o{offer_id}-{}-{minute}",
            buyer.key_part(),
            plan.id,
            replaces.as_deref().unwrap_or("first")
        );
        Ok((
            CheckoutItem::Subscription {
                price,
                trial_days,
                coupon,
            },
            key,
            offer.map(|o| o.id).filter(|_| member.is_some()),
        ))
    }

    /// Reserves an offer for this account's checkout. An earlier checkout of the account
    /// with the same offer is expired at Stripe first, so only one can be paid with it; one
    /// already paid means the offer is taken.
    async fn reserve_for_checkout(
        &self,
        api: &std::sync::Arc<StripeApi>,
        offer_id: i64,
        user_id: i64,
        now: i64,
    ) -> Result<Option<String>, PaymentsError> {
        let earlier = self
            .db
            .write(move |tx| offers::reserve_checkout(tx, offer_id, user_id, now))
            .await
            .map_err(access_to_payments)?;
        let Some(session) = earlier else {
            return Ok(None);
        };
        // Until the earlier session is settled its place stays with it: an error here
        // leaves both as they are.
        let (api2, lookup) = (api.clone(), session.clone());
        let found = blocking(move || api2.checkout_session(&lookup)).await?;
        match found["status"].as_str() {
            Some("complete") => {
                // Paid before Marquee heard of it: the redemption is that session's.
                let paid = session.clone();
                self.db
                    .write(move |tx| offers::checkout_paid(tx, offer_id, user_id, &paid, now))
                    .await
                    .map_err(access_to_payments)?;
                return Err(PaymentsError::Invalid(
                    "you have taken this offer already".into(),
                ));
            }
            Some("open") => {
                let (api2, id) = (api.clone(), session.clone());
                blocking(move || api2.expire_checkout(&id)).await?;
            }
            _ => {}
        }
        let earlier = session.clone();
        let moved = self
            .db
            .write(move |tx| offers::restart_hold(tx, offer_id, user_id, &earlier, now))
            .await
            .map_err(access_to_payments)?;
        if !moved {
            return Err(PaymentsError::Invalid(
                "a checkout with this offer is already starting; try again in a moment".into(),
            ));
        }
        Ok(Some(session))
    }

    /// The viewer is back from Checkout: the session, read from Stripe, is fulfilled now
    /// (the webhook may come later; applying twice is harmless). A member's own checkout
    /// gives what was bought (the title or event id, or the plan), for the page to go back
    /// to; a guest's gives the account it went to and whether this return signs in
    /// (`browser_hash`: the hash of this browser's checkout cookie, if it has one).
    pub async fn returned(
        &self,
        stripe: &StripeConfig,
        signed_in: Option<i64>,
        session_id: &str,
        browser_hash: Option<String>,
    ) -> Result<Returned, PaymentsError> {
        let api = std::sync::Arc::new(StripeApi::new(stripe).ok_or(PaymentsError::NotConfigured)?);
        let id = session_id.to_owned();
        let api2 = api.clone();
        let session = blocking(move || api2.checkout_session(&id)).await?;
        if session["metadata"][META_GUEST].as_str() == Some("1")
            && session["metadata"][META_USER].is_null()
        {
            if !guest_paid(&session) {
                return Ok(Returned::NotPaid);
            }
            self.apply_session(&api, session).await?;
            return self.guest_return(session_id, browser_hash).await;
        }
        let Some(user_id) = signed_in else {
            return Ok(Returned::SignInFirst);
        };
        if session["metadata"][META_USER].as_str() != Some(user_id.to_string().as_str()) {
            return Err(PaymentsError::Invalid(
                "this checkout belongs to another account".into(),
            ));
        }
        self.apply_session(&api, session.clone()).await?;
        Ok(Returned::Member(
            session["metadata"][META_TARGET]
                .as_str()
                .or(session["metadata"][META_PLAN].as_str())
                .map(str::to_owned),
        ))
    }

    /// A fulfilled guest checkout as this browser's return sees it; the sign-in it gives
    /// is taken here, once.
    async fn guest_return(
        &self,
        session_id: &str,
        browser_hash: Option<String>,
    ) -> Result<Returned, PaymentsError> {
        let (id, now) = (session_id.to_owned(), clock::now());
        self.db
            .write(move |tx| {
                let Some(found) = guest::get(tx, &id)? else {
                    return Ok(Returned::NotPaid);
                };
                if found.fulfilled_at.is_none() {
                    return Ok(Returned::NotPaid);
                }
                let (this_browser, sign_in) = match &browser_hash {
                    Some(hash) => (
                        guest::started_by(tx, &id, hash)?,
                        guest::take_sign_in(tx, &id, hash, now)?,
                    ),
                    None => (false, false),
                };
                let user = match found.user_id {
                    Some(u) => users::get(tx, UserId(u)).map_err(accounts_to_payments)?,
                    None => None,
                };
                Ok(Returned::Guest(GuestReturn {
                    sign_in: sign_in && user.as_ref().is_some_and(|u| !u.disabled),
                    user,
                    account_made: found.account_made,
                    this_browser,
                    trial_refused: found.trial_refused,
                }))
            })
            .await
    }

    /// A paid guest checkout gets its account, once: the existing account of the email the
    /// buyer gave at Stripe (`customer_details.email`), else a new viewer account — the
    /// address unconfirmed, since it is only what the buyer typed, with a welcome email
    /// whose link sets a password (and proves the address). The Stripe customer Checkout
    /// made becomes that account's. A trial for an email that has had one is refused: the
    /// subscription is cancelled at Stripe before anything is charged, and left unrecorded.
    /// Returns nothing more to do when another call did it first.
    async fn fulfil_guest(
        &self,
        api: &std::sync::Arc<StripeApi>,
        session: &Value,
    ) -> Result<(), PaymentsError> {
        let id = session["id"]
            .as_str()
            .ok_or_else(|| PaymentsError::Invalid("a checkout session without an id".into()))?
            .to_owned();
        let lookup = id.clone();
        let known = self.db.read(move |c| guest::get(c, &lookup)).await?;
        if let Some(done) = known.filter(|g| g.fulfilled_at.is_some()) {
            // Until Stripe has cancelled a refused trial, each delivery asks again.
            if done.trial_refused {
                self.cancel_refused_trial(api, session).await?;
            }
            return Ok(());
        }
        let typed = session["customer_details"]["email"]
            .as_str()
            .ok_or_else(|| {
                PaymentsError::Invalid("a paid guest checkout without the buyer's email".into())
            })?;
        let email = Email::parse(typed).map_err(|e| {
            PaymentsError::Invalid(format!("a guest checkout's email is not usable: {e}"))
        })?;
        let customer = session["customer"]
            .as_str()
            .or(session["customer"]["id"].as_str())
            .ok_or_else(|| {
                PaymentsError::Invalid("a paid guest checkout without a customer".into())
            })?
            .to_owned();
        // A subscription in its trial: the trial is the email's one, or refused.
        let trialing = match session["subscription"]
            .as_str()
            .or(session["subscription"]["id"].as_str())
        {
            Some(sub) if session["mode"] == "subscription" => {
                let (api2, sub) = (api.clone(), sub.to_owned());
                let object = blocking(move || api2.subscription(&sub)).await?;
                object["status"] == "trialing" && object["trial_end"].is_i64()
            }
            _ => false,
        };
        let plan = session["metadata"][META_PLAN]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let now = clock::now();
        let decided = self
            .db
            .write(move |tx| {
                if guest::get(tx, &id)?.is_some_and(|g| g.fulfilled_at.is_some()) {
                    return Ok(None);
                }
                let (user, made) =
                    match users::find_by_email(tx, &email.key).map_err(accounts_to_payments)? {
                        Some(user) => (user, false),
                        None => (made_at_checkout(tx, &email, now)?, true),
                    };
                // An account nobody proved the address of (made by an earlier guest
                // checkout, or while the server had no email) may be held by someone
                // other than the address's owner: the purchase is the owner's, so that
                // account's sessions end and any password goes; the owner gets in by the
                // welcome link.
                let unclaimed = !made && profile::is_unclaimed(&user);
                if unclaimed {
                    profile::unclaim(tx, &user, now).map_err(accounts_to_payments)?;
                }
                let trial_refused = trialing && sync::trial_used(tx, user.id.0)?;
                if trialing && !trial_refused {
                    // Recorded now, so two checkouts with one email cannot both have it.
                    tx.execute(
                        "INSERT OR IGNORE INTO trials_used (email_key, user_id, plan_id, used_at)
                         VALUES (?1, ?2, ?3, ?4)",
                        rusqlite::params![Email::key_of(&user.email), user.id.0, plan, now],
                    )?;
                }
                if !trial_refused {
                    sync::claim_guest_customer(tx, user.id.0, &customer)?;
                }
                guest::fulfilled(tx, &id, user.id.0, made, trial_refused, now)?;
                let welcome = match made || unclaimed {
                    true => Some(
                        recovery::issue_welcome(tx, &user, now).map_err(accounts_to_payments)?,
                    ),
                    false => None,
                };
                Ok::<_, PaymentsError>(Some((user, welcome, trial_refused)))
            })
            .await?;
        let Some((user, welcome, trial_refused)) = decided else {
            return Ok(());
        };
        tracing::info!(
            member = user.id.0,
            account_made = welcome.is_some(),
            trial_refused,
            "a checkout without an account was paid"
        );
        // A guest's checkout had no account to count against when it started: it counts
        // now, at the time Stripe made the session, for the account it went to.
        let what = session["metadata"][META_PLAN]
            .as_str()
            .or(session["metadata"][META_TARGET].as_str())
            .unwrap_or_default();
        let started_at = session["created"].as_i64().unwrap_or(now);
        self.funnel
            .checkout_started(user.id.0, what, started_at.saturating_mul(1000));
        self.tell_buyer(&user, welcome);
        if trial_refused {
            self.cancel_refused_trial(api, session).await?;
        }
        Ok(())
    }

    /// The welcome email of an account made at checkout (with its link to choose a
    /// password), or a note to an existing account that a purchase was added to it.
    fn tell_buyer(&self, user: &crate::accounts::users::User, welcome: Option<Secret>) {
        let (what, letter) = match welcome {
            Some(secret) => {
                let link = self.mail.link(&format!("/reset/{}", secret.encode()));
                let letter = Letter {
                    to: user.email.clone(),
                    subject: "Welcome: choose your password".into(),
                    body: format!(
                        "Thank you for your purchase. What you bought is on the account of \
                         this email address.\r\n\r\nOpen this link to \
                         choose your password (it works once, within {} days):\r\n\r\n\
                         {link}\r\n\r\nYou can also sign in with a link sent to this \
                         address from the sign-in page.\r\n\r\nIf you did not buy \
                         anything, someone typed your address by mistake: choosing a \
                         password makes the account yours and signs everyone else out of \
                         it.\r\n",
                        recovery::WELCOME_TTL_SECS / 86_400
                    ),
                };
                ("welcome email", letter)
            }
            None => (
                "purchase added email",
                Letter {
                    to: user.email.clone(),
                    subject: "A purchase was added to your account".into(),
                    body: "A payment made with this email address was added to your account. \
                       Sign in to watch.\r\n\r\nNo one was signed in to your account by \
                       it.\r\n"
                        .into(),
                },
            ),
        };
        self.mail.send_later(letter, what);
    }

    /// Cancels the subscription of a guest checkout whose trial was refused (nothing was
    /// charged: it was in its trial), unless Stripe has it cancelled already.
    async fn cancel_refused_trial(
        &self,
        api: &std::sync::Arc<StripeApi>,
        session: &Value,
    ) -> Result<(), PaymentsError> {
        let Some(sub) = session["subscription"]
            .as_str()
            .or(session["subscription"]["id"].as_str())
            .map(str::to_owned)
        else {
            return Ok(());
        };
        let (api2, lookup) = (api.clone(), sub.clone());
        let object = blocking(move || api2.subscription(&lookup)).await?;
        if object["status"] == "canceled" {
            return Ok(());
        }
        let api2 = api.clone();
        blocking(move || api2.cancel_subscription(&sub)).await?;
        tracing::info!(session = %session["id"], "a trial was refused: the email had had one; the subscription was cancelled at Stripe");
        Ok(())
    }

    async fn apply_session(
        &self,
        api: &std::sync::Arc<StripeApi>,
        session: Value,
    ) -> Result<(), PaymentsError> {
        // A guest's account first: what the session bought is attached to it.
        if session["metadata"][META_GUEST].as_str() == Some("1")
            && session["metadata"][META_USER].is_null()
            && guest_paid(&session)
        {
            self.fulfil_guest(api, &session).await?;
        }
        if let (Some(user), Some(customer)) = (
            session["metadata"][META_USER]
                .as_str()
                .and_then(|u| u.parse::<i64>().ok()),
            session["customer"].as_str().map(str::to_owned),
        ) {
            let exists = self
                .db
                .read(move |c| {
                    Ok::<_, PaymentsError>(
                        c.query_row("SELECT count(*) FROM users WHERE id = ?1", [user], |r| {
                            r.get::<_, i64>(0)
                        })? > 0,
                    )
                })
                .await?;
            if exists {
                self.db
                    .write(move |tx| sync::claim_customer(tx, user, &customer))
                    .await?;
            }
        }
        match session["mode"].as_str() {
            Some("subscription") => {
                if let Some(sub) = session["subscription"].as_str() {
                    self.refresh_subscription(api, sub).await?;
                }
                self.record_checkout_offer(&session).await?;
            }
            Some("payment") => {
                let now = clock::now();
                self.db
                    .write(move |tx| sync::apply_payment(tx, &session, now))
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// A completed checkout that carried an offer counts as its redemption (once per
    /// account; past the cap too, since it has been paid with the discount).
    async fn record_checkout_offer(&self, session: &Value) -> Result<(), PaymentsError> {
        let meta = &session["metadata"];
        let found = session.clone();
        let buyer = self
            .db
            .read(move |c| sync::buyer_of_session(c, &found))
            .await?;
        let (Some(user), Some(offer), Some(id), true) = (
            buyer,
            meta[META_OFFER]
                .as_str()
                .and_then(|o| o.parse::<i64>().ok()),
            session["id"].as_str().map(str::to_owned),
            session["status"] == "complete",
        ) else {
            return Ok(());
        };
        let now = clock::now();
        let counted = self
            .db
            .write(move |tx| {
                let known: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM offers WHERE id = ?1)
                        AND EXISTS (SELECT 1 FROM users WHERE id = ?2)",
                    rusqlite::params![offer, user],
                    |r| r.get(0),
                )?;
                if !known {
                    return Ok(true);
                }
                offers::checkout_paid(tx, offer, user, &id, now).map_err(access_to_payments)
            })
            .await?;
        if !counted {
            tracing::warn!(
                user,
                offer,
                "a checkout was paid with an offer this account had taken already"
            );
        }
        Ok(())
    }

    /// Reads the subscription from Stripe and writes it as it is now.
    async fn refresh_subscription(
        &self,
        api: &std::sync::Arc<StripeApi>,
        id: &str,
    ) -> Result<(), PaymentsError> {
        let (api, id) = (api.clone(), id.to_owned());
        let object = blocking(move || api.subscription(&id)).await?;
        let sub = sync::parse_subscription(&object)?;
        let now = clock::now();
        let applied = self
            .db
            .write(move |tx| sync::apply_subscription(tx, &sub, now))
            .await?;
        if applied.is_none() {
            tracing::info!(subscription = %object["id"], "a Stripe subscription that is not Marquee's; left alone");
        }
        Ok(())
    }

    /// The Customer Portal for a viewer who has bought through Stripe.
    pub async fn portal(
        &self,
        stripe: &StripeConfig,
        user_id: i64,
        return_url: String,
    ) -> Result<String, PaymentsError> {
        let api = StripeApi::new(stripe).ok_or(PaymentsError::NotConfigured)?;
        let customer = self
            .db
            .read(move |c| sync::customer_of(c, user_id))
            .await?
            .ok_or_else(|| {
                PaymentsError::Invalid("you have not bought anything through Stripe yet".into())
            })?;
        blocking(move || api.portal(&customer, &return_url)).await
    }

    /// A webhook delivery: checked on the raw body, recorded by event id, acted on once.
    pub async fn webhook(
        &self,
        stripe: &StripeConfig,
        signature: &str,
        body: &[u8],
    ) -> Result<(), PaymentsError> {
        if stripe.webhook_secret.is_empty() {
            return Err(PaymentsError::NotConfigured);
        }
        stripe_signature::verify(
            signature,
            body,
            &stripe.webhook_secret,
            stripe_signature::TOLERANCE_SECS,
            clock::now(),
        )?;
        let event: Value = serde_json::from_slice(body)
            .map_err(|e| PaymentsError::Invalid(format!("the event is not JSON: {e}")))?;
        let api = std::sync::Arc::new(StripeApi::new(stripe).ok_or(PaymentsError::NotConfigured)?);
        self.handle(&api, event).await
    }

    async fn handle(
        &self,
        api: &std::sync::Arc<StripeApi>,
        event: Value,
    ) -> Result<(), PaymentsError> {
        let (Some(id), Some(kind)) = (
            event["id"].as_str().map(str::to_owned),
            event["type"].as_str().map(str::to_owned),
        ) else {
            return Err(PaymentsError::Invalid(
                "an event without an id or a type".into(),
            ));
        };
        if !id.starts_with("evt_") || id.len() > 255 {
            return Err(PaymentsError::Invalid("not an event id".into()));
        }
        let created = event["created"].as_i64().unwrap_or(0);
        let now = clock::now();
        let (rid, rkind) = (id.clone(), kind.clone());
        let state = self
            .db
            .write(move |tx| sync::record_event(tx, &rid, &rkind, created, now))
            .await?;
        if state == EventState::Done {
            return Ok(());
        }
        let outcome = self.act(api, &kind, &event["data"]["object"]).await;
        let error = outcome.as_ref().err().map(|e| e.to_string());
        let now = clock::now();
        let fid = id.clone();
        self.db
            .write(move |tx| sync::finish_event(tx, &fid, error.as_deref(), now))
            .await?;
        match &outcome {
            Ok(()) => tracing::info!(event = %id, kind = %kind, "Stripe event applied"),
            Err(e) => {
                tracing::warn!(event = %id, kind = %kind, error = %e, "Stripe event not applied; it will be tried again")
            }
        }
        outcome
    }

    async fn act(
        &self,
        api: &std::sync::Arc<StripeApi>,
        kind: &str,
        object: &Value,
    ) -> Result<(), PaymentsError> {
        match kind {
            "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
                self.apply_session(api, object.clone()).await
            }
            // Never paid: an offer it held goes back.
            "checkout.session.expired" => {
                let Some(id) = object["id"].as_str().map(str::to_owned) else {
                    return Ok(());
                };
                self.db
                    .write(move |tx| offers::checkout_expired(tx, &id))
                    .await
                    .map_err(access_to_payments)
            }
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted"
            | "customer.subscription.trial_will_end"
            | "customer.subscription.paused"
            | "customer.subscription.resumed" => match object["id"].as_str() {
                Some(id) => self.refresh_subscription(api, id).await,
                None => Err(PaymentsError::Invalid(
                    "a subscription event without an id".into(),
                )),
            },
            "invoice.paid" | "invoice.payment_failed" | "invoice.payment_succeeded" => {
                match sync::invoice_subscription(object) {
                    Some(id) => {
                        self.refresh_subscription(api, &id).await?;
                        let invoice = object.clone();
                        self.db
                            .write(move |tx| sync::record_invoice(tx, &invoice))
                            .await
                    }
                    None => Ok(()), // a one-off invoice: nothing of ours
                }
            }
            "charge.refunded" => {
                let Some(pi) = object["payment_intent"].as_str().map(str::to_owned) else {
                    return Ok(());
                };
                if object["refunded"] != Value::Bool(true) {
                    return Ok(()); // a partial refund keeps what was bought
                }
                let now = clock::now();
                self.db
                    .write(move |tx| sync::refund_payment(tx, &pi, now))
                    .await?;
                Ok(())
            }
            // A chargeback: recorded as it goes; lost, it ends what the payment bought.
            "charge.dispute.created"
            | "charge.dispute.updated"
            | "charge.dispute.closed"
            | "charge.dispute.funds_withdrawn"
            | "charge.dispute.funds_reinstated" => {
                let dispute = sync::parse_dispute(object)?;
                let now = clock::now();
                let recorded = dispute.clone();
                let outcome = self
                    .db
                    .write(move |tx| sync::apply_dispute(tx, &recorded, now))
                    .await?;
                let payment = dispute.payment_intent.as_deref().unwrap_or("none");
                match outcome {
                    sync::DisputeOutcome::Recorded if dispute.status != "won" => {
                        tracing::warn!(dispute = %dispute.id, payment, status = %dispute.status, "a payment is disputed");
                    }
                    sync::DisputeOutcome::Recorded => {}
                    sync::DisputeOutcome::PurchaseEnded => {
                        tracing::warn!(dispute = %dispute.id, payment, "a dispute was lost: what the payment bought has ended");
                    }
                    sync::DisputeOutcome::LostRecorded => {
                        tracing::warn!(dispute = %dispute.id, payment, "a dispute was lost on a payment that bought no rental, purchase or ticket (a subscription's invoice?): recorded; the subscription follows Stripe, cancel it there if it should end");
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Lists the events since the last one applied (three days back on a first run) and
    /// applies those not yet applied: what a webhook missed while the server was down.
    pub async fn reconcile(&self, stripe: &StripeConfig) -> Result<usize, PaymentsError> {
        let api = std::sync::Arc::new(StripeApi::new(stripe).ok_or(PaymentsError::NotConfigured)?);
        let since = self
            .db
            .read(sync::resume_point)
            .await?
            .map_or(clock::now() - 3 * 86_400, |t| t - 300);
        let api2 = api.clone();
        let events = blocking(move || api2.events_since(since)).await?;
        let mut applied = 0;
        for event in events {
            if self.handle(&api, event).await.is_ok() {
                applied += 1;
            }
        }
        Ok(applied)
    }
}

/// A guest checkout gets its account once it is paid: complete, and paid (a payment that
/// settles later, a bank debit, completes unpaid and is paid at
/// `checkout.session.async_payment_succeeded`) or owing nothing yet (a trial).
fn guest_paid(session: &Value) -> bool {
    session["status"] == "complete"
        && matches!(
            session["payment_status"].as_str(),
            Some("paid" | "no_payment_required")
        )
}

/// The viewer account a guest checkout makes for its email (no password: the welcome
/// email's link sets one), with its audit entry; `member.created` is queued by
/// `users::create`.
fn made_at_checkout(
    tx: &rusqlite::Connection,
    email: &Email,
    now: i64,
) -> Result<crate::accounts::users::User, PaymentsError> {
    let id = users::create(
        tx,
        &NewUser {
            email,
            display_name: "",
            role: Role::Viewer,
            password_hash: None,
        },
        now,
    )
    .map_err(accounts_to_payments)?;
    users::mark_self_made(tx, id).map_err(accounts_to_payments)?;
    audit::record(
        tx,
        &audit::Actor::User {
            id: id.0,
            label: email.address.clone(),
        },
        "member.created",
        &format!("member:{}", id.0),
        serde_json::json!({"email": email.address, "role": "viewer", "via": "checkout"}),
        now,
    )
    .map_err(|e| PaymentsError::Invalid(format!("audit log: {e}")))?;
    users::get(tx, id)
        .map_err(accounts_to_payments)?
        .ok_or_else(|| PaymentsError::Invalid("the account just made is gone".into()))
}

fn accounts_to_payments(e: AccountsError) -> PaymentsError {
    match e {
        AccountsError::Db(db) => PaymentsError::Db(db),
        other => PaymentsError::Invalid(other.to_string()),
    }
}

/// The offer a plan's checkout carries: the typed code's (refused with the reason when it
/// does not apply), else the best automatic one for a new member. Offers at checkout are
/// for people who do not subscribe yet; a member applies a code on the account page.
fn checkout_offer(
    c: &rusqlite::Connection,
    plan: &plans::Plan,
    user_id: Option<i64>,
    code: Option<&str>,
    trial_days: u32,
    yearly: bool,
    now: i64,
) -> Result<Option<Offer>, PaymentsError> {
    let member = match user_id {
        Some(u) => offers::is_member(c, u, now).map_err(access_to_payments)?,
        None => false,
    };
    // No account has id 0: a guest has taken no offer yet.
    let user_id = user_id.unwrap_or(0);
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        if member {
            return Ok(None);
        }
        return offers::automatic(c, plan, user_id, trial_days, yearly, now)
            .map_err(access_to_payments);
    };
    let offer = offers::by_code(c, code).map_err(access_to_payments)?;
    if member {
        return Err(PaymentsError::Invalid(
            "you already subscribe: apply the code on your account page".into(),
        ));
    }
    if let Some(why) = offers::refusal(&offer, &plan.id, &plan.fields.currency, Audience::New, now)
        .or(offers::yearly_refusal(&offer, yearly))
    {
        return Err(PaymentsError::Invalid(why.into()));
    }
    Ok(Some(offer))
}

/// Runs reconciliation at start and then hourly while Stripe is configured.
pub async fn reconcile_loop(
    billing: std::sync::Arc<BillingService>,
    settings: std::sync::Arc<crate::services::SettingsService>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let stripe = settings.settings.current().stripe.clone();
        if stripe.enabled() {
            match billing.reconcile(&stripe).await {
                Ok(n) => tracing::info!(events = n, "Stripe reconciliation done"),
                Err(e) => {
                    tracing::warn!(error = %e, "Stripe reconciliation failed; trying again in an hour")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
