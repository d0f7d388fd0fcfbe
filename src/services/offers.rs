//! Offers and price migrations at work, for the dashboard, the API and the viewer's account
//! page: offers edited with their audit entries; an offer given to a member who already
//! subscribes (retention: a coupon on their Stripe subscription, or free days); and moving
//! a plan's subscribers to its current price. A new member's offer is applied at Checkout
//! (`services::billing`). The offer's redemption is counted before Stripe is asked and given
//! back if Stripe refuses, so the cap holds when members race for the last one.

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::billing::{blocking, plan_price};
use super::paywall::{PaywallService, PaywallServiceError};
use crate::access::offers::{self, Audience, Offer, OfferFields, OfferKind};
use crate::access::{AccessError, holdings, plans};
use crate::audit::{self, Actor};
use crate::clock;
use crate::config::StripeConfig;
use crate::db::Db;
use crate::payments::stripe_api::{CouponOff, CouponSpec, StripeApi};
use crate::payments::{PaymentsError, sync};

/// How many subscriptions one migration click moves (each may be a Stripe call).
pub const MIGRATION_BATCH: i64 = 200;

/// Stripe's coupon for the offer's current terms, made once and kept.
pub(crate) async fn coupon_for(
    db: &Db,
    api: &Arc<StripeApi>,
    offer: &Offer,
) -> Result<String, PaymentsError> {
    if let Some(c) = &offer.stripe_coupon_id {
        return Ok(c.clone());
    }
    let f = offer.fields.clone();
    let off = match f.kind {
        OfferKind::Percent => CouponOff::Percent(f.value),
        OfferKind::Fixed => CouponOff::Amount {
            amount: f.value,
            currency: f.currency.clone().unwrap_or_default(),
        },
        OfferKind::FreePeriod => {
            return Err(PaymentsError::Invalid(
                "a free period is not a coupon".into(),
            ));
        }
    };
    let spec = CouponSpec {
        name: f.name.clone(),
        off,
        duration: match f.duration {
            offers::OfferDuration::Once => "once",
            offers::OfferDuration::Repeating => "repeating",
            offers::OfferDuration::Forever => "forever",
        },
        months: f.duration_months,
        max_redemptions: f.max_redemptions,
        redeem_by: f.ends_at,
        offer_id: offer.id,
    };
    let terms = f.coupon_terms();
    // The key names the terms: the same terms again give the same coupon.
    let key = format!(
        "marquee-coupon-{}-{}",
        offer.id,
        blake3::hash(terms.as_bytes()).to_hex()
    );
    let api = api.clone();
    let coupon = blocking(move || api.create_coupon(&spec, &key)).await?;
    let (kept, id) = (coupon.clone(), offer.id);
    db.write(move |tx| offers::set_coupon(tx, id, &kept, &terms))
        .await
        .map_err(access_to_payments)?;
    Ok(coupon)
}

/// An access error met while buying: a refusal stays a sentence for the viewer, storage
/// stays storage.
pub(crate) fn access_to_payments(e: AccessError) -> PaymentsError {
    match e {
        AccessError::Db(db) => PaymentsError::Db(db),
        AccessError::UnknownOffer => PaymentsError::UnknownOffer,
        other => PaymentsError::Invalid(other.to_string()),
    }
}

/// What a migration did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct MigrationReport {
    pub migrated: u32,
    /// Stripe refused these (named in the log); they keep their price.
    pub failed: u32,
    /// Still on an old price after this batch (click again).
    pub remaining: u32,
}

impl PaywallService {
    pub async fn create_offer(
        &self,
        actor: &Actor,
        fields: OfferFields,
    ) -> Result<Offer, PaywallServiceError> {
        let (actor, now) = (actor.clone(), clock::now());
        self.db
            .write(move |tx| {
                let offer = offers::create(tx, fields, now)?;
                audit::record(
                    tx,
                    &actor,
                    "offer.create",
                    &format!("offer:{}", offer.id),
                    json!(offer.fields),
                    now,
                )?;
                Ok(offer)
            })
            .await
    }

    pub async fn update_offer(
        &self,
        actor: &Actor,
        id: i64,
        fields: OfferFields,
        archived: bool,
    ) -> Result<Offer, PaywallServiceError> {
        let (actor, now) = (actor.clone(), clock::now());
        self.db
            .write(move |tx| {
                let offer = offers::update(tx, id, fields, archived, now)?;
                audit::record(
                    tx,
                    &actor,
                    "offer.update",
                    &format!("offer:{id}"),
                    json!({"fields": offer.fields, "archived": archived}),
                    now,
                )?;
                Ok(offer)
            })
            .await
    }

    /// A member types an offer's code on their account page.
    pub async fn redeem_offer_code(
        &self,
        stripe: &StripeConfig,
        actor: &Actor,
        user_id: i64,
        code: &str,
    ) -> Result<Offer, PaywallServiceError> {
        let code = code.to_owned();
        let offer = self.db.read(move |c| offers::by_code(c, &code)).await?;
        self.give_offer(stripe, actor, user_id, offer).await
    }

    /// The operator (or a campaign) gives a member an offer.
    pub async fn apply_offer(
        &self,
        stripe: &StripeConfig,
        actor: &Actor,
        user_id: i64,
        offer_id: i64,
    ) -> Result<Offer, PaywallServiceError> {
        let offer = self.db.read(move |c| offers::get(c, offer_id)).await?;
        self.give_offer(stripe, actor, user_id, offer).await
    }

    /// Puts an offer on a member's current subscription: a coupon (or free days, as a
    /// trial until the new end) on a Stripe one; free days on one made in the dashboard.
    async fn give_offer(
        &self,
        stripe: &StripeConfig,
        actor: &Actor,
        user_id: i64,
        offer: Offer,
    ) -> Result<Offer, PaywallServiceError> {
        let now = clock::now();
        let offer_id = offer.id;
        let current = self
            .db
            .read(move |c| {
                let subs = holdings::subscriptions(c, user_id)?;
                Ok::<_, AccessError>(
                    subs.into_iter()
                        .find(|s| s.status != "ended" && s.period_end > now),
                )
            })
            .await?
            .ok_or_else(|| {
                AccessError::Invalid(
                    "this offer is for members with a current subscription; choose a plan first"
                        .into(),
                )
            })?;
        if let Some(why) = offers::refusal(
            &offer,
            &current.plan_id,
            &current.currency,
            Audience::Existing,
            now,
        ) {
            return Err(AccessError::Invalid(why.into()).into());
        }
        let stripe_id = current.stripe_subscription_id.clone();
        if stripe_id.is_none() && offer.fields.kind != OfferKind::FreePeriod {
            return Err(AccessError::Invalid(
                "this subscription is not paid through Stripe, so there is no price to take \
                 a discount off; a free period extends it"
                    .into(),
            )
            .into());
        }
        let reference = stripe_id
            .clone()
            .unwrap_or_else(|| format!("subscription:{}", current.id));
        let (sub_id, days) = (current.id, offer.fields.value);
        let manual = stripe_id.is_none();
        let (audit_actor, described) = (actor.clone(), offer.fields.describe());
        // Counted (and audited) before Stripe is asked, so two members cannot both take
        // the last one.
        self.db
            .write(move |tx| {
                offers::reserve(
                    tx,
                    offer_id,
                    user_id,
                    "subscription",
                    &reference,
                    false,
                    now,
                )?;
                if manual {
                    holdings::extend_manual(tx, user_id, sub_id, days, now)?;
                }
                audit::record(
                    tx,
                    &audit_actor,
                    "offer.apply",
                    &format!("member:{user_id}"),
                    json!({"offer": offer_id, "subscription": sub_id, "gives": described}),
                    now,
                )?;
                Ok::<_, PaywallServiceError>(())
            })
            .await?;
        if let Some(stripe_id) = stripe_id
            && let Err(e) = self
                .offer_at_stripe(stripe, &offer, &stripe_id, current.period_end, now)
                .await
        {
            // Stripe did not take the change: the offer is the member's to take again.
            // (A change it took is kept even if reading it back fails: the webhook brings
            // the subscription's new state.)
            self.db
                .write(move |tx| offers::release(tx, offer_id, user_id))
                .await?;
            return Err(e);
        }
        Ok(offer)
    }

    /// Applies the offer to a Stripe subscription; an error only when Stripe did not take
    /// the change.
    async fn offer_at_stripe(
        &self,
        stripe: &StripeConfig,
        offer: &Offer,
        stripe_id: &str,
        period_end: i64,
        now: i64,
    ) -> Result<(), PaywallServiceError> {
        let api = Arc::new(StripeApi::new(stripe).ok_or(PaymentsError::NotConfigured)?);
        let form: Vec<(String, String)> = match offer.fields.kind {
            OfferKind::FreePeriod => vec![
                (
                    "trial_end".into(),
                    (period_end.max(now) + offer.fields.value * 86_400).to_string(),
                ),
                ("proration_behavior".into(), "none".into()),
            ],
            _ => {
                // `discounts` replaces the list: the discounts it has are sent back with
                // the new one, so a retention coupon never takes a sign-up discount away.
                let (api2, id) = (api.clone(), stripe_id.to_owned());
                let current = blocking(move || api2.subscription(&id)).await?;
                let mut form: Vec<(String, String)> = current["discounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str().or(d["id"].as_str()).map(str::to_owned))
                    .enumerate()
                    .map(|(i, d)| (format!("discounts[{i}][discount]"), d))
                    .collect();
                let coupon = coupon_for(&self.db, &api, offer).await?;
                form.push((format!("discounts[{}][coupon]", form.len()), coupon));
                form
            }
        };
        let key = format!("marquee-offer-{}-{stripe_id}", offer.id);
        let id = stripe_id.to_owned();
        let object = blocking(move || api.update_subscription(&id, &form, &key)).await?;
        let applied = match sync::parse_subscription(&object) {
            Ok(state) => self
                .db
                .write(move |tx| sync::apply_subscription(tx, &state, now))
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = applied {
            tracing::warn!(subscription = %stripe_id, error = %e, "an offer was applied at Stripe but not read back; the webhook will bring it");
        }
        Ok(())
    }

    /// Moves up to `MIGRATION_BATCH` of a plan's current subscribers who pay an old price
    /// to the plan's price now: in Stripe from their next invoice (no proration), directly
    /// for dashboard-made ones.
    pub async fn migrate_plan_price(
        &self,
        stripe: &StripeConfig,
        actor: &Actor,
        plan_id: &str,
    ) -> Result<MigrationReport, PaywallServiceError> {
        let Ok(_running) = self.migrating.try_lock() else {
            return Err(AccessError::Invalid(
                "a price migration is running; try again when it has finished".into(),
            )
            .into());
        };
        let lookup = plan_id.to_owned();
        let now = clock::now();
        let (plan, stale) = self
            .db
            .read(move |c| {
                Ok::<_, AccessError>((
                    plans::get(c, &lookup)?,
                    holdings::on_old_price(c, &lookup, now)?,
                ))
            })
            .await?;
        let total = stale.len() as u32;
        let mut report = MigrationReport::default();
        let api = StripeApi::new(stripe).map(Arc::new);
        for sub in stale.into_iter().take(MIGRATION_BATCH as usize) {
            let amount = if sub.interval == "year" {
                plan.fields.yearly_amount
            } else {
                plan.fields.monthly_amount
            };
            let Some(amount) = amount else { continue };
            let now = clock::now();
            let moved = match (&sub.stripe_subscription_id, &api) {
                (Some(sid), Some(api)) => {
                    self.migrate_at_stripe(api, &plan, sid, &sub.interval, amount, now)
                        .await
                }
                (Some(_), None) => Err(PaymentsError::NotConfigured.into()),
                (None, _) => {
                    let id = sub.id;
                    self.db
                        .write(move |tx| holdings::set_manual_amount(tx, id, amount, now))
                        .await
                        .map_err(PaywallServiceError::from)
                }
            };
            if let Err(e) = &moved {
                tracing::warn!(subscription = sub.id, error = %e, "a subscription kept its old price: the migration failed");
                report.failed += 1;
            } else {
                report.migrated += 1;
            }
            let (actor, plan_id, ok) = (actor.clone(), plan.id.clone(), moved.is_ok());
            self.db
                .write(move |tx| {
                    holdings::migration_tried(tx, sub.id, ok, now)?;
                    if ok {
                        audit::record(
                            tx,
                            &actor,
                            "plan.migrate",
                            &format!("member:{}", sub.user_id),
                            json!({"subscription": sub.id, "plan": plan_id, "amount": amount}),
                            now,
                        )?;
                    }
                    Ok::<_, PaywallServiceError>(())
                })
                .await?;
        }
        report.remaining = total - report.migrated;
        Ok(report)
    }

    async fn migrate_at_stripe(
        &self,
        api: &Arc<StripeApi>,
        plan: &plans::Plan,
        stripe_id: &str,
        interval: &str,
        amount: i64,
        now: i64,
    ) -> Result<(), PaywallServiceError> {
        let interval: &'static str = if interval == "year" { "year" } else { "month" };
        let price = plan_price(&self.db, api, plan, interval, amount).await?;
        let (api2, id) = (api.clone(), stripe_id.to_owned());
        let object = blocking(move || api2.subscription(&id)).await?;
        let item = object["items"]["data"][0]["id"]
            .as_str()
            .ok_or_else(|| PaymentsError::Stripe("the subscription has no item".into()))?
            .to_owned();
        let form = vec![
            ("items[0][id]".to_owned(), item),
            ("items[0][price]".to_owned(), price.clone()),
            ("proration_behavior".to_owned(), "none".to_owned()),
        ];
        let (api2, id) = (api.clone(), stripe_id.to_owned());
        let key = format!("marquee-migrate-{stripe_id}-{price}");
        let object = blocking(move || api2.update_subscription(&id, &form, &key)).await?;
        let state = sync::parse_subscription(&object)?;
        self.db
            .write(move |tx| sync::apply_subscription(tx, &state, now))
            .await?;
        Ok(())
    }
}
