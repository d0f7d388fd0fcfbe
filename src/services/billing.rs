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
use crate::clock;
use crate::config::{PaywallConfig, StripeConfig};
use crate::db::Db;
use crate::payments::PaymentsError;
use crate::payments::stripe_api::{CheckoutItem, CheckoutRequest, StripeApi};
use crate::payments::stripe_signature;
use crate::payments::sync::{
    self, EventState, META_KIND, META_OFFER, META_PLAN, META_TARGET, META_USER, META_WINDOW,
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

/// Where Checkout sends the viewer back to.
#[derive(Debug, Clone)]
pub struct ReturnUrls {
    /// With `{CHECKOUT_SESSION_ID}` in it, which Stripe fills in.
    pub success: String,
    pub cancel: String,
}

pub struct BillingService {
    db: Db,
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
    pub fn new(db: Db) -> Self {
        BillingService { db }
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

    /// Starts Checkout; returns the address to send the viewer to.
    pub async fn checkout(
        &self,
        stripe: &StripeConfig,
        paywall: &PaywallConfig,
        user_id: i64,
        email: &str,
        purchase: Purchase,
        urls: ReturnUrls,
    ) -> Result<String, PaymentsError> {
        let api = std::sync::Arc::new(StripeApi::new(stripe).ok_or(PaymentsError::NotConfigured)?);
        let customer = self.customer(&api, user_id, email).await?;
        let mut metadata = vec![(META_USER.to_owned(), user_id.to_string())];
        let minute = clock::now() / 60;
        let (item, key, reserved) = match purchase {
            Purchase::Plan {
                plan_id,
                yearly,
                offer_code,
            } => {
                self.plan_item(&api, user_id, &plan_id, yearly, offer_code, &mut metadata)
                    .await?
            }
            Purchase::Title { title_id, kind } => {
                let lookup = title_id.clone();
                let (access, name) = self
                    .db
                    .read(move |c| {
                        let access = store::title_access(c, &lookup)?;
                        let name: Option<String> = c
                            .query_row("SELECT name FROM titles WHERE id = ?1", [&lookup], |r| {
                                r.get(0)
                            })
                            .ok();
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
                    format!("marquee-checkout-{user_id}-{kind}-{title_id}-{minute}"),
                    None,
                )
            }
        };
        let request = CheckoutRequest {
            customer,
            item,
            metadata,
            success_url: urls.success,
            cancel_url: urls.cancel,
            idempotency_key: key,
            // A session with an offer reserved stops taking payment within the hour, so an
            // unpaid one gives its place back (`offers::CHECKOUT_HOLD_SECS`).
            expires_at: reserved.map(|_| clock::now() + 3600),
        };
        let made = blocking(move || api.create_checkout(&request)).await;
        if let Some(offer) = reserved {
            let session = made.as_ref().ok().map(|(id, _)| id.clone());
            self.db
                .write(move |tx| match &session {
                    Some(s) => offers::hold_for_session(tx, offer, user_id, s),
                    None => offers::release(tx, offer, user_id),
                })
                .await
                .map_err(access_to_payments)?;
        }
        Ok(made?.1)
    }

    /// A plan's line item: its Stripe price, the trial (once per person) and the offer —
    /// the typed code's, else the best automatic one for a new member — reserved against
    /// its cap before Stripe is asked. Returns the item, the idempotency key and the offer
    /// reserved.
    async fn plan_item(
        &self,
        api: &std::sync::Arc<StripeApi>,
        user_id: i64,
        plan_id: &str,
        yearly: bool,
        offer_code: Option<String>,
        metadata: &mut Vec<(String, String)>,
    ) -> Result<(CheckoutItem, String, Option<i64>), PaymentsError> {
        let lookup = plan_id.to_owned();
        let now = clock::now();
        let (plan, had_trial, offer) = self
            .db
            .read(move |c| {
                let plan = plans::get(c, &lookup)
                    .map_err(|_| PaymentsError::Invalid(format!("no plan {lookup}")))?;
                let had_trial = sync::trial_used(c, user_id)?;
                let trial = if had_trial { 0 } else { plan.fields.trial_days };
                let offer =
                    checkout_offer(c, &plan, user_id, offer_code.as_deref(), trial, yearly, now)?;
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
            replaces = self
                .reserve_for_checkout(api, offer.id, user_id, now)
                .await?;
            metadata.push((META_OFFER.to_owned(), offer.id.to_string()));
            match offer.fields.kind {
                OfferKind::FreePeriod => trial_days = trial_days.max(offer.fields.value as u32),
                _ => match super::offers::coupon_for(&self.db, api, offer).await {
                    Ok(c) => coupon = Some(c),
                    Err(e) => {
                        let id = offer.id;
                        self.db
                            .write(move |tx| offers::release(tx, id, user_id))
                            .await
                            .map_err(access_to_payments)?;
                        return Err(e);
                    }
                },
            }
        }
        let offer_id = offer.as_ref().map_or(0, |o| o.id);
        let minute = now / 60;
        let key = format!(
            "marquee-checkout-{user_id}-plan-{}-{interval}-t{trial_days}-o{offer_id}-{}-{minute}",
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
            offer.map(|o| o.id),
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
    /// (the webhook may come later; applying twice is harmless). Returns what was bought
    /// (the title or event id, or the plan), for the page to go back to.
    pub async fn returned(
        &self,
        stripe: &StripeConfig,
        user_id: i64,
        session_id: &str,
    ) -> Result<Option<String>, PaymentsError> {
        let api = std::sync::Arc::new(StripeApi::new(stripe).ok_or(PaymentsError::NotConfigured)?);
        let id = session_id.to_owned();
        let api2 = api.clone();
        let session = blocking(move || api2.checkout_session(&id)).await?;
        if session["metadata"][META_USER].as_str() != Some(user_id.to_string().as_str()) {
            return Err(PaymentsError::Invalid(
                "this checkout belongs to another account".into(),
            ));
        }
        self.apply_session(&api, session.clone()).await?;
        Ok(session["metadata"][META_TARGET]
            .as_str()
            .or(session["metadata"][META_PLAN].as_str())
            .map(str::to_owned))
    }

    async fn apply_session(
        &self,
        api: &std::sync::Arc<StripeApi>,
        session: Value,
    ) -> Result<(), PaymentsError> {
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
        let (Some(user), Some(offer), Some(id), true) = (
            meta[META_USER].as_str().and_then(|u| u.parse::<i64>().ok()),
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

/// The offer a plan's checkout carries: the typed code's (refused with the reason when it
/// does not apply), else the best automatic one for a new member. Offers at checkout are
/// for people who do not subscribe yet; a member applies a code on the account page.
fn checkout_offer(
    c: &rusqlite::Connection,
    plan: &plans::Plan,
    user_id: i64,
    code: Option<&str>,
    trial_days: u32,
    yearly: bool,
    now: i64,
) -> Result<Option<Offer>, PaymentsError> {
    let member = offers::is_member(c, user_id, now).map_err(access_to_payments)?;
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
