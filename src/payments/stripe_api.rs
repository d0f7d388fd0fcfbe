//! The few Stripe API calls Marquee makes, as Stripe documents them: form-encoded POSTs
//! with bracketed keys, a bearer secret key, an `Idempotency-Key` on every create (so a
//! retried request never charges or creates twice), JSON answers, and a pinned API version
//! so the shapes read here do not change under us. Blocking (ureq): callers run these on
//! the blocking pool. A few endpoints do not justify the minutes of build time a generated
//! client of the whole API costs on a small machine.

use std::time::Duration;

use serde_json::Value;

use super::PaymentsError;
use crate::config::StripeConfig;

/// The API version every request asks for: subscription periods are on the items, an
/// invoice's subscription is under `parent.subscription_details`.
pub const API_VERSION: &str = "2025-03-31.basil";
const TIMEOUT: Duration = Duration::from_secs(20);

pub struct StripeApi {
    base: String,
    key: String,
    agent: ureq::Agent,
}

/// What a new Checkout Session is for.
#[derive(Debug, Clone)]
pub enum CheckoutItem {
    /// A subscription to a Stripe price, with a trial when `trial_days` > 0 and an offer's
    /// coupon when there is one.
    Subscription {
        price: String,
        trial_days: u32,
        coupon: Option<String>,
    },
    /// A one-time payment of `amount` for `name`.
    Payment {
        name: String,
        amount: i64,
        currency: String,
    },
}

/// What a coupon takes off.
#[derive(Debug, Clone)]
pub enum CouponOff {
    Percent(i64),
    Amount { amount: i64, currency: String },
}

/// A coupon as Stripe takes it.
#[derive(Debug, Clone)]
pub struct CouponSpec {
    pub name: String,
    pub off: CouponOff,
    /// once, repeating or forever.
    pub duration: &'static str,
    pub months: Option<u32>,
    pub max_redemptions: Option<i64>,
    pub redeem_by: Option<i64>,
    pub offer_id: i64,
}

#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    /// The member's customer; `None` for a visitor with no account: Checkout asks for
    /// the email and makes the customer (`customer_details.email` once completed).
    pub customer: Option<String>,
    pub item: CheckoutItem,
    /// Copied onto the session (and the subscription), so every event names the account
    /// and what was bought.
    pub metadata: Vec<(String, String)>,
    pub success_url: String,
    pub cancel_url: String,
    /// The same request again (a double click) makes no second session.
    pub idempotency_key: String,
    /// When the session stops taking payment (Stripe: 30 minutes to 24 hours from now).
    pub expires_at: Option<i64>,
}

impl StripeApi {
    /// `None` while Stripe is not configured.
    pub fn new(config: &StripeConfig) -> Option<StripeApi> {
        if !config.enabled() {
            return None;
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(TIMEOUT))
            .user_agent("Marquee/1")
            .build()
            .new_agent();
        Some(StripeApi {
            base: config.api_base.trim_end_matches('/').to_owned(),
            key: config.secret_key.clone(),
            agent,
        })
    }

    fn answer(
        &self,
        what: &str,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, PaymentsError> {
        let mut resp = resp.map_err(|e| PaymentsError::Unavailable(format!("{what}: {e}")))?;
        let status = resp.status().as_u16();
        // Stripe failing on its side may answer with no JSON at all.
        if status >= 500 {
            return Err(PaymentsError::Unavailable(format!(
                "{what}: Stripe answered {status}"
            )));
        }
        let body: Value = resp
            .body_mut()
            .with_config()
            .limit(4 * 1024 * 1024)
            .read_json()
            .map_err(|e| PaymentsError::Stripe(format!("{what}: unreadable answer: {e}")))?;
        if !(200..300).contains(&status) {
            let message = body["error"]["message"].as_str().unwrap_or("no message");
            return Err(PaymentsError::Stripe(format!(
                "{what}: Stripe answered {status}: {message}"
            )));
        }
        Ok(body)
    }

    fn post(
        &self,
        what: &str,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<Value, PaymentsError> {
        let resp = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.key))
            .header("Stripe-Version", API_VERSION)
            .header("Idempotency-Key", idempotency_key)
            .send_form(form.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.answer(what, resp)
    }

    fn get(
        &self,
        what: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, PaymentsError> {
        let mut req = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.key))
            .header("Stripe-Version", API_VERSION);
        for (k, v) in query {
            req = req.query(*k, v);
        }
        self.answer(what, req.call())
    }

    fn id_of(what: &str, v: &Value) -> Result<String, PaymentsError> {
        v["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| PaymentsError::Stripe(format!("{what}: no id in the answer")))
    }

    /// A Customer for a Marquee account.
    pub fn create_customer(&self, email: &str, user_id: i64) -> Result<String, PaymentsError> {
        let form = [
            ("email".to_owned(), email.to_owned()),
            ("metadata[marquee_user]".to_owned(), user_id.to_string()),
        ];
        let made = self.post(
            "creating a customer",
            "/v1/customers",
            &form,
            &format!("marquee-customer-{user_id}"),
        )?;
        Self::id_of("creating a customer", &made)
    }

    /// A recurring Price for a plan at its current amount.
    pub fn create_price(
        &self,
        plan_id: &str,
        plan_name: &str,
        interval: &str,
        amount: i64,
        currency: &str,
    ) -> Result<String, PaymentsError> {
        let form = [
            ("currency".to_owned(), currency.to_owned()),
            ("unit_amount".to_owned(), amount.to_string()),
            ("recurring[interval]".to_owned(), interval.to_owned()),
            ("product_data[name]".to_owned(), plan_name.to_owned()),
            ("metadata[marquee_plan]".to_owned(), plan_id.to_owned()),
        ];
        let made = self.post(
            "creating a price",
            "/v1/prices",
            &form,
            &format!("marquee-price-{plan_id}-{interval}-{amount}-{currency}"),
        )?;
        Self::id_of("creating a price", &made)
    }

    /// A Checkout Session; returns its id and the address to send the viewer to.
    pub fn create_checkout(
        &self,
        req: &CheckoutRequest,
    ) -> Result<(String, String), PaymentsError> {
        let mut form: Vec<(String, String)> = vec![
            ("success_url".into(), req.success_url.clone()),
            ("cancel_url".into(), req.cancel_url.clone()),
            ("line_items[0][quantity]".into(), "1".into()),
        ];
        match &req.item {
            CheckoutItem::Subscription {
                price,
                trial_days,
                coupon,
            } => {
                form.push(("mode".into(), "subscription".into()));
                form.push(("line_items[0][price]".into(), price.clone()));
                if let Some(coupon) = coupon {
                    form.push(("discounts[0][coupon]".into(), coupon.clone()));
                }
                if *trial_days > 0 {
                    form.push((
                        "subscription_data[trial_period_days]".into(),
                        trial_days.to_string(),
                    ));
                }
                for (k, v) in &req.metadata {
                    form.push((format!("subscription_data[metadata][{k}]"), v.clone()));
                }
            }
            CheckoutItem::Payment {
                name,
                amount,
                currency,
            } => {
                form.push(("mode".into(), "payment".into()));
                // A guest's payment makes a customer too (subscriptions always do), so
                // the purchase has one to belong to.
                if req.customer.is_none() {
                    form.push(("customer_creation".into(), "always".into()));
                }
                form.push((
                    "line_items[0][price_data][currency]".into(),
                    currency.clone(),
                ));
                form.push((
                    "line_items[0][price_data][unit_amount]".into(),
                    amount.to_string(),
                ));
                form.push((
                    "line_items[0][price_data][product_data][name]".into(),
                    name.clone(),
                ));
                for (k, v) in &req.metadata {
                    form.push((format!("payment_intent_data[metadata][{k}]"), v.clone()));
                }
            }
        }
        for (k, v) in &req.metadata {
            form.push((format!("metadata[{k}]"), v.clone()));
        }
        if let Some(customer) = &req.customer {
            form.push(("customer".into(), customer.clone()));
        }
        if let Some(t) = req.expires_at {
            form.push(("expires_at".into(), t.to_string()));
        }
        let made = self.post(
            "starting checkout",
            "/v1/checkout/sessions",
            &form,
            &req.idempotency_key,
        )?;
        let url = made["url"]
            .as_str()
            .ok_or_else(|| PaymentsError::Stripe("starting checkout: no url".into()))?;
        Ok((Self::id_of("starting checkout", &made)?, url.to_owned()))
    }

    pub fn checkout_session(&self, id: &str) -> Result<Value, PaymentsError> {
        check_id(id, "cs_")?;
        self.get(
            "reading a checkout session",
            &format!("/v1/checkout/sessions/{id}"),
            &[],
        )
    }

    /// A Customer Portal session (card updates, cancellation); returns its address.
    pub fn portal(&self, customer: &str, return_url: &str) -> Result<String, PaymentsError> {
        let form = [
            ("customer".to_owned(), customer.to_owned()),
            ("return_url".to_owned(), return_url.to_owned()),
        ];
        let key = format!("marquee-portal-{customer}-{}", crate::clock::now());
        let made = self.post(
            "opening the billing portal",
            "/v1/billing_portal/sessions",
            &form,
            &key,
        )?;
        made["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| PaymentsError::Stripe("opening the billing portal: no url".into()))
    }

    pub fn subscription(&self, id: &str) -> Result<Value, PaymentsError> {
        check_id(id, "sub_")?;
        self.get(
            "reading a subscription",
            &format!("/v1/subscriptions/{id}"),
            &[],
        )
    }

    /// Changes a subscription (`form`: Stripe's update parameters); returns it as Stripe has
    /// it after. `key` makes a retried change the same change.
    pub fn update_subscription(
        &self,
        id: &str,
        form: &[(String, String)],
        key: &str,
    ) -> Result<Value, PaymentsError> {
        check_id(id, "sub_")?;
        self.post(
            "changing a subscription",
            &format!("/v1/subscriptions/{id}"),
            form,
            key,
        )
    }

    /// A coupon for an offer's discount. `key` names the offer's terms, so asking again
    /// for the same terms gives the same coupon.
    pub fn create_coupon(&self, coupon: &CouponSpec, key: &str) -> Result<String, PaymentsError> {
        let mut form = vec![
            (
                "name".to_owned(),
                coupon.name.chars().take(40).collect::<String>(),
            ),
            ("duration".to_owned(), coupon.duration.to_owned()),
            (
                "metadata[marquee_offer]".to_owned(),
                coupon.offer_id.to_string(),
            ),
        ];
        match &coupon.off {
            CouponOff::Percent(p) => form.push(("percent_off".into(), p.to_string())),
            CouponOff::Amount { amount, currency } => {
                form.push(("amount_off".into(), amount.to_string()));
                form.push(("currency".into(), currency.clone()));
            }
        }
        if let Some(m) = coupon.months {
            form.push(("duration_in_months".into(), m.to_string()));
        }
        // Stripe's own limits back Marquee's: a session opened before the offer ended or
        // filled cannot be paid with it after.
        if let Some(m) = coupon.max_redemptions {
            form.push(("max_redemptions".into(), m.to_string()));
        }
        if let Some(t) = coupon.redeem_by {
            form.push(("redeem_by".into(), t.to_string()));
        }
        let made = self.post("creating a coupon", "/v1/coupons", &form, key)?;
        Self::id_of("creating a coupon", &made)
    }

    /// Ends an open Checkout Session, so it can no longer be paid.
    pub fn expire_checkout(&self, id: &str) -> Result<Value, PaymentsError> {
        check_id(id, "cs_")?;
        self.post(
            "expiring a checkout session",
            &format!("/v1/checkout/sessions/{id}/expire"),
            &[],
            &format!("marquee-expire-{id}"),
        )
    }

    /// Cancels a subscription now; returns it as Stripe has it after.
    pub fn cancel_subscription(&self, id: &str) -> Result<Value, PaymentsError> {
        check_id(id, "sub_")?;
        let resp = self
            .agent
            .delete(format!("{}/v1/subscriptions/{id}", self.base))
            .header("Authorization", &format!("Bearer {}", self.key))
            .header("Stripe-Version", API_VERSION)
            .call();
        self.answer("cancelling a subscription", resp)
    }

    /// The first page (up to 100, newest first) of a list Stripe filters by customer.
    fn list_of_customer(
        &self,
        what: &str,
        path: &str,
        customer: &str,
    ) -> Result<Vec<Value>, PaymentsError> {
        check_id(customer, "cus_")?;
        let page = self.get(
            what,
            path,
            &[
                ("customer", customer.to_owned()),
                ("limit", "100".to_owned()),
            ],
        )?;
        Ok(page["data"].as_array().cloned().unwrap_or_default())
    }

    /// A customer's subscriptions that are not cancelled (Stripe's default for the list),
    /// up to 100: a member has one or two.
    pub fn subscriptions_of(&self, customer: &str) -> Result<Vec<Value>, PaymentsError> {
        self.list_of_customer(
            "listing a customer's subscriptions",
            "/v1/subscriptions",
            customer,
        )
    }

    /// Sets a subscription to end at its period's end: no further renewal is charged.
    pub fn cancel_at_period_end(&self, id: &str) -> Result<Value, PaymentsError> {
        let form = [("cancel_at_period_end".to_owned(), "true".to_owned())];
        self.update_subscription(id, &form, &format!("marquee-cancel-at-end-{id}"))
    }

    /// A customer's invoices, newest first, up to 100 (the member's receipts page).
    pub fn invoices_of(&self, customer: &str) -> Result<Vec<Value>, PaymentsError> {
        self.list_of_customer("listing a customer's invoices", "/v1/invoices", customer)
    }

    /// A customer's charges (each with its `receipt_url`), newest first, up to 100.
    pub fn charges_of(&self, customer: &str) -> Result<Vec<Value>, PaymentsError> {
        self.list_of_customer("listing a customer's charges", "/v1/charges", customer)
    }

    /// Events created at or after `since`, oldest first, all pages.
    pub fn events_since(&self, since: i64) -> Result<Vec<Value>, PaymentsError> {
        let mut found: Vec<Value> = Vec::new();
        let mut after: Option<String> = None;
        // Stripe lists newest first; at most 50 pages of 100 per run.
        for _ in 0..50 {
            let mut query = vec![
                ("created[gte]", since.to_string()),
                ("limit", "100".to_owned()),
            ];
            if let Some(a) = &after {
                query.push(("starting_after", a.clone()));
            }
            let page = self.get("listing events", "/v1/events", &query)?;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            after = data
                .last()
                .and_then(|e| e["id"].as_str())
                .map(str::to_owned);
            found.extend(data);
            if page["has_more"] != Value::Bool(true) || after.is_none() {
                break;
            }
        }
        found.reverse();
        Ok(found)
    }

    /// Refunds a payment in full.
    pub fn refund(&self, payment_intent: &str) -> Result<(), PaymentsError> {
        check_id(payment_intent, "pi_")?;
        let form = [("payment_intent".to_owned(), payment_intent.to_owned())];
        self.post(
            "refunding",
            "/v1/refunds",
            &form,
            &format!("marquee-refund-{payment_intent}"),
        )?;
        Ok(())
    }
}

/// What one read made to test the connection came back with, kept apart by kind so the
/// test can say which it was (`services::stripe_connection`).
#[derive(Debug, Clone)]
pub enum Probe {
    /// Stripe answered 2xx with this object.
    Answered(Value),
    /// Stripe answered with an error: its HTTP status and its message.
    Refused { status: u16, message: String },
    /// No answer: Stripe could not be reached, or what came back was not Stripe's JSON.
    Unreachable(String),
}

impl StripeApi {
    fn probe(&self, path: &str, query: &[(&str, &str)]) -> Probe {
        let mut req = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.key))
            .header("Stripe-Version", API_VERSION);
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        let mut resp = match req.call() {
            Ok(resp) => resp,
            Err(e) => return Probe::Unreachable(e.to_string()),
        };
        let status = resp.status().as_u16();
        let body: Value = match resp
            .body_mut()
            .with_config()
            .limit(4 * 1024 * 1024)
            .read_json()
        {
            Ok(body) => body,
            Err(e) => return Probe::Unreachable(format!("unreadable answer ({status}): {e}")),
        };
        if (200..300).contains(&status) {
            Probe::Answered(body)
        } else {
            let message = body["error"]["message"].as_str().unwrap_or("no message");
            Probe::Refused {
                status,
                message: message.to_owned(),
            }
        }
    }

    /// The account the key belongs to (`GET /v1/account`): proves the key works.
    pub fn account(&self) -> Probe {
        self.probe("/v1/account", &[])
    }

    /// The account's webhook endpoints (`GET /v1/webhook_endpoints`, first 100): where
    /// Stripe sends events. Their signing secrets are never in a list.
    pub fn webhook_endpoints(&self) -> Probe {
        self.probe("/v1/webhook_endpoints", &[("limit", "100")])
    }
}

/// An id from an event or a URL goes into a request path only if it looks like one.
fn check_id(id: &str, prefix: &str) -> Result<(), PaymentsError> {
    if id.starts_with(prefix)
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(PaymentsError::Invalid(format!(
            "{id:?} is not a {prefix}… id"
        )))
    }
}
