//! A local stand-in for the parts of Stripe's API Marquee calls (Stripe cannot be reached
//! from the tests). It follows Stripe's documented contract: form-encoded requests with
//! bracketed keys and a bearer secret key; `Idempotency-Key` replays the first answer;
//! objects shaped as in API version 2025-03-31.basil (a subscription's period on its items,
//! an invoice's subscription under `parent.subscription_details`); the events list newest
//! first with `created[gte]`, `limit`, `starting_after` and `has_more`; and webhooks signed
//! as Stripe signs them (`Stripe-Signature: t=…,v1=` HMAC-SHA256 of `t.body` keyed with the
//! `whsec_` secret), computed here with `ring`, not with Marquee's code.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub const SECRET_KEY: &str = "sk_test_standin";
pub const WEBHOOK_SECRET: &str = "whsec_standin_secret";

/// A form or a query: its pairs in order.
type Form = Vec<(String, String)>;

/// A request as read: method, target, headers (lower-case names) and body.
struct Request {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

#[derive(Default)]
struct State {
    next: u64,
    customers: HashMap<String, Value>,
    prices: HashMap<String, Value>,
    sessions: HashMap<String, (Value, Vec<(String, String)>)>,
    subscriptions: HashMap<String, Value>,
    coupons: HashMap<String, Value>,
    events: Vec<Value>,
    idempotent: HashMap<String, Value>,
    /// Where the pay page sends the events (`Standin::set_webhook`).
    webhook: Option<String>,
    /// (method, path, form) of every request, in order.
    requests: Vec<(String, String, Form)>,
}

pub struct Standin {
    pub url: String,
    state: Arc<Mutex<State>>,
}

fn bad_request(message: &str) -> (u16, Value) {
    (
        400,
        json!({"error": {"type": "invalid_request_error", "message": message}}),
    )
}

/// A price after a coupon: `percent_off` or `amount_off` taken off.
fn discounted(amount: i64, coupon: &Value) -> i64 {
    match (
        coupon["percent_off"].as_i64(),
        coupon["amount_off"].as_i64(),
    ) {
        (Some(p), _) => amount * (100 - p) / 100,
        (_, Some(off)) => (amount - off).max(0),
        _ => amount,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn field<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `prefix[key]=v` pairs as a JSON object (Stripe's metadata encoding).
fn nested(form: &[(String, String)], prefix: &str) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in form {
        if let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('['))
            && let Some(key) = rest.strip_suffix(']').filter(|k| !k.contains('['))
        {
            out.insert(key.to_owned(), json!(v));
        }
    }
    Value::Object(out)
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_test{:06}", self.next)
    }

    fn event(&mut self, kind: &str, object: Value) -> Value {
        let id = self.id("evt");
        let event = json!({
            "id": id, "object": "event", "api_version": "2025-03-31.basil",
            "created": now(), "livemode": false, "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": kind, "data": {"object": object},
        });
        self.events.push(event.clone());
        event
    }

    /// The session paid: its subscription or payment, and the events that say so.
    fn complete(&mut self, session_id: &str) -> Vec<Value> {
        assert!(
            !self.sessions[session_id].0["customer"].is_null(),
            "a session without a customer asks for an email: pay it with complete_as"
        );
        self.complete_paid(session_id)
    }

    fn complete_paid(&mut self, session_id: &str) -> Vec<Value> {
        let state = self;
        let (mut session, form) = state.sessions.get(session_id).cloned().expect("a session");
        assert_eq!(
            session["status"], "open",
            "only an open session can be paid"
        );
        if session["customer_details"].is_null()
            && let Some(c) = session["customer"].as_str()
        {
            session["customer_details"] = json!({"email": state.customers[c]["email"]});
        }
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        let mut events = Vec::new();
        if session["mode"] == "subscription" {
            let id = state.id("sub");
            let price = state.prices[field(&form, "line_items[0][price]").unwrap()].clone();
            let trial = field(&form, "subscription_data[trial_period_days]")
                .and_then(|d| d.parse::<i64>().ok());
            let period_end = now() + trial.unwrap_or(30) * 86_400;
            let item = state.id("si");
            let discounts = match field(&form, "discounts[0][coupon]") {
                Some(c) => {
                    let coupon = state.coupons[c].clone();
                    let di = state.id("di");
                    json!([{"id": di, "object": "discount", "coupon": coupon}])
                }
                None => json!([]),
            };
            let sub = json!({"id": id, "object": "subscription", "customer": session["customer"],
                "discounts": discounts,
                "status": if trial.is_some() { "trialing" } else { "active" },
                "cancel_at_period_end": false, "trial_end": trial.map(|_| period_end),
                "metadata": nested(&form, "subscription_data[metadata]"),
                "items": {"object": "list", "data": [{"id": item, "object": "subscription_item",
                    "current_period_start": now(), "current_period_end": period_end, "price": price}]}});
            state.subscriptions.insert(id.clone(), sub.clone());
            session["subscription"] = json!(id);
            state.sessions.get_mut(session_id).unwrap().0 = session.clone();
            events.push(state.event("checkout.session.completed", session));
            events.push(state.event("customer.subscription.created", sub));
        } else {
            let pi = state.id("pi");
            session["payment_intent"] = json!(pi);
            state.sessions.get_mut(session_id).unwrap().0 = session.clone();
            events.push(state.event("checkout.session.completed", session));
        }
        events
    }

    /// What Settings → Stripe → Test connection reads: the account (`GET /v1/account`) and
    /// the webhook endpoints (`GET /v1/webhook_endpoints`, a list object), shaped as Stripe
    /// documents them. The one endpoint is where `Standin::set_webhook` pointed the events;
    /// like Stripe, a list never carries an endpoint's signing secret.
    fn connection_route(&self, method: &str, path: &str) -> Option<(u16, Value)> {
        match (method, path) {
            ("GET", "/v1/account") => Some((
                200,
                json!({"id": "acct_standin", "object": "account", "email": "owner@example.com",
                    "business_profile": {"name": "Stand-in Pictures"},
                    "settings": {"dashboard": {"display_name": "Stand-in Pictures"}},
                    "charges_enabled": true, "country": "DE"}),
            )),
            ("GET", "/v1/webhook_endpoints") => {
                let data: Vec<Value> = self
                    .webhook
                    .iter()
                    .map(|url| {
                        json!({"id": "we_standin", "object": "webhook_endpoint", "url": url,
                            "status": "enabled", "enabled_events": ["*"],
                            "api_version": "2025-03-31.basil", "livemode": false})
                    })
                    .collect();
                Some((
                    200,
                    json!({"object": "list", "url": "/v1/webhook_endpoints", "has_more": false, "data": data}),
                ))
            }
            _ => None,
        }
    }

    fn route(
        &mut self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        form: &[(String, String)],
        base: &str,
    ) -> (u16, Value) {
        let not_found = (
            404,
            json!({"error": {"type": "invalid_request_error", "message": format!("No such resource: {path}")}}),
        );
        if let Some(answer) = self.account_route(method, path, query, form, base) {
            return answer;
        }
        if let Some(answer) = self.connection_route(method, path) {
            return answer;
        }
        match (method, path) {
            ("POST", "/v1/customers") => {
                let id = self.id("cus");
                let c = json!({"id": id, "object": "customer", "email": field(form, "email"),
                               "metadata": nested(form, "metadata")});
                self.customers.insert(id, c.clone());
                (200, c)
            }
            ("POST", "/v1/prices") => {
                let id = self.id("price");
                let p = json!({"id": id, "object": "price", "active": true,
                    "currency": field(form, "currency"),
                    "unit_amount": field(form, "unit_amount").and_then(|a| a.parse::<i64>().ok()),
                    "recurring": {"interval": field(form, "recurring[interval]"), "interval_count": 1},
                    "metadata": nested(form, "metadata"), "type": "recurring"});
                self.prices.insert(id, p.clone());
                (200, p)
            }
            ("POST", "/v1/checkout/sessions") => {
                let mode = field(form, "mode").unwrap_or("payment");
                let customer = match guest_session_customer(&self.customers, form, mode) {
                    Ok(c) => c,
                    Err(refusal) => return refusal,
                };
                let id = self.id("cs");
                let mut amount = match mode {
                    "subscription" => field(form, "line_items[0][price]")
                        .and_then(|p| self.prices.get(p))
                        .and_then(|p| p["unit_amount"].as_i64()),
                    _ => field(form, "line_items[0][price_data][unit_amount]")
                        .and_then(|a| a.parse().ok()),
                };
                if let Some(coupon) = field(form, "discounts[0][coupon]") {
                    let Some(c) = self.coupons.get(coupon) else {
                        return bad_request("No such coupon");
                    };
                    amount = amount.map(|a| discounted(a, c));
                }
                let s = json!({"id": id, "object": "checkout.session", "mode": mode,
                    "customer": customer, "customer_details": null,
                    "customer_creation": field(form, "customer_creation"),
                    "status": "open", "payment_status": "unpaid",
                    "url": format!("{base}/pay/{id}"),
                    "success_url": field(form, "success_url"), "cancel_url": field(form, "cancel_url"),
                    "amount_total": amount,
                    // A plan's session is in its price's currency, as at Stripe.
                    "currency": field(form, "line_items[0][price_data][currency]")
                        .or_else(|| field(form, "line_items[0][price]")
                            .and_then(|p| self.prices.get(p))
                            .and_then(|p| p["currency"].as_str()))
                        .unwrap_or("usd"),
                    "metadata": nested(form, "metadata"), "subscription": null, "payment_intent": null,
                    "expires_at": field(form, "expires_at").and_then(|t| t.parse::<i64>().ok())});
                self.sessions.insert(id, (s.clone(), form.to_vec()));
                (200, s)
            }
            ("POST", "/v1/coupons") => {
                let percent = field(form, "percent_off").and_then(|p| p.parse::<i64>().ok());
                let amount = field(form, "amount_off").and_then(|a| a.parse::<i64>().ok());
                let duration = field(form, "duration").unwrap_or("once");
                let months = field(form, "duration_in_months").and_then(|m| m.parse::<i64>().ok());
                if percent.is_some() == amount.is_some()
                    || (amount.is_some() && field(form, "currency").is_none())
                    || (duration == "repeating") != months.is_some()
                    || !matches!(duration, "once" | "repeating" | "forever")
                {
                    return bad_request(
                        "a coupon takes percent_off or amount_off with currency, and duration_in_months only when repeating",
                    );
                }
                let id = self.id("coupon");
                let c = json!({"id": id, "object": "coupon", "name": field(form, "name"),
                    "max_redemptions": field(form, "max_redemptions").and_then(|m| m.parse::<i64>().ok()),
                    "redeem_by": field(form, "redeem_by").and_then(|m| m.parse::<i64>().ok()),
                    "percent_off": percent, "amount_off": amount, "currency": field(form, "currency"),
                    "duration": duration, "duration_in_months": months, "valid": true,
                    "metadata": nested(form, "metadata")});
                self.coupons.insert(id, c.clone());
                (200, c)
            }
            ("POST", p) if p.starts_with("/v1/subscriptions/") => {
                let id = p["/v1/subscriptions/".len()..].to_owned();
                let Some(mut sub) = self.subscriptions.get(&id).cloned() else {
                    return not_found;
                };
                // `discounts` replaces the list: each entry keeps a discount it names or
                // adds one for a coupon.
                if form.iter().any(|(k, _)| k.starts_with("discounts[")) {
                    let mut list = Vec::new();
                    for i in 0.. {
                        let keep = field(form, &format!("discounts[{i}][discount]"));
                        let coupon = field(form, &format!("discounts[{i}][coupon]"));
                        match (keep, coupon) {
                            (Some(d), None) => {
                                let Some(found) = sub["discounts"]
                                    .as_array()
                                    .and_then(|l| l.iter().find(|x| x["id"] == d))
                                    .cloned()
                                else {
                                    return bad_request("No such discount on this subscription");
                                };
                                list.push(found);
                            }
                            (None, Some(c)) => {
                                let Some(c) = self.coupons.get(c).cloned() else {
                                    return bad_request("No such coupon");
                                };
                                let di = self.id("di");
                                list.push(json!({"id": di, "object": "discount", "coupon": c}));
                            }
                            (None, None) => break,
                            _ => {
                                return bad_request(
                                    "a discount names a coupon or a discount, not both",
                                );
                            }
                        }
                    }
                    sub["discounts"] = json!(list);
                }
                if let Some(end) = field(form, "trial_end").and_then(|t| t.parse::<i64>().ok()) {
                    if end <= now() {
                        return bad_request("trial_end must be in the future");
                    }
                    sub["trial_end"] = json!(end);
                    sub["status"] = json!("trialing");
                    sub["items"]["data"][0]["current_period_end"] = json!(end);
                }
                if let Some(price) = field(form, "items[0][price]") {
                    let Some(price) = self.prices.get(price).cloned() else {
                        return bad_request("No such price");
                    };
                    if field(form, "items[0][id]") != sub["items"]["data"][0]["id"].as_str() {
                        return bad_request("items[0][id] must name the subscription's item");
                    }
                    sub["items"]["data"][0]["price"] = price;
                }
                self.subscriptions.insert(id, sub.clone());
                self.event("customer.subscription.updated", sub.clone());
                (200, sub)
            }
            ("POST", "/v1/billing_portal/sessions") => {
                let id = self.id("bps");
                (
                    200,
                    json!({"id": id, "object": "billing_portal.session", "customer": field(form, "customer"),
                             "url": format!("{base}/portal/{id}"), "return_url": field(form, "return_url")}),
                )
            }
            ("POST", "/v1/refunds") => {
                let id = self.id("re");
                (
                    200,
                    json!({"id": id, "object": "refund", "payment_intent": field(form, "payment_intent"), "status": "succeeded"}),
                )
            }
            ("GET", "/v1/events") => {
                let since: i64 = field(query, "created[gte]")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let limit: usize = field(query, "limit")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(10);
                let mut newest_first: Vec<&Value> = self
                    .events
                    .iter()
                    .rev()
                    .filter(|e| e["created"].as_i64().unwrap() >= since)
                    .collect();
                if let Some(after) = field(query, "starting_after") {
                    let at = newest_first
                        .iter()
                        .position(|e| e["id"] == after)
                        .map_or(0, |i| i + 1);
                    newest_first.drain(..at);
                }
                let has_more = newest_first.len() > limit;
                newest_first.truncate(limit);
                (
                    200,
                    json!({"object": "list", "url": "/v1/events", "has_more": has_more, "data": newest_first}),
                )
            }
            ("DELETE", p) if p.starts_with("/v1/subscriptions/") => {
                let id = p["/v1/subscriptions/".len()..].to_owned();
                let Some(sub) = self.subscriptions.get_mut(&id) else {
                    return not_found;
                };
                sub["status"] = json!("canceled");
                let sub = sub.clone();
                self.event("customer.subscription.deleted", sub.clone());
                (200, sub)
            }
            // A customer's subscriptions; without `status`, all but the cancelled ones.
            ("GET", "/v1/subscriptions") => {
                let customer = field(query, "customer");
                let status = field(query, "status");
                let mut data: Vec<&Value> = self
                    .subscriptions
                    .values()
                    .filter(|s| customer.is_none_or(|c| s["customer"] == c))
                    .filter(|s| match status {
                        None => s["status"] != "canceled",
                        Some("all") => true,
                        Some(wanted) => s["status"] == wanted,
                    })
                    .collect();
                data.sort_by(|a, b| b["id"].as_str().cmp(&a["id"].as_str()));
                (
                    200,
                    json!({"object": "list", "url": "/v1/subscriptions", "has_more": false, "data": data}),
                )
            }
            ("GET", p) if p.starts_with("/v1/subscriptions/") => {
                match self.subscriptions.get(&p["/v1/subscriptions/".len()..]) {
                    Some(s) => (200, s.clone()),
                    None => not_found,
                }
            }
            ("POST", p) if p.starts_with("/v1/checkout/sessions/") && p.ends_with("/expire") => {
                let id = p["/v1/checkout/sessions/".len()..p.len() - "/expire".len()].to_owned();
                let Some((session, _)) = self.sessions.get_mut(&id) else {
                    return not_found;
                };
                if session["status"] != "open" {
                    return bad_request(
                        "Only Checkout Sessions with a status in [open] can be expired.",
                    );
                }
                session["status"] = json!("expired");
                let expired = session.clone();
                self.event("checkout.session.expired", expired.clone());
                (200, expired)
            }
            ("GET", p) if p.starts_with("/v1/checkout/sessions/") => {
                match self.sessions.get(&p["/v1/checkout/sessions/".len()..]) {
                    Some((s, _)) => (200, s.clone()),
                    None => not_found,
                }
            }
            _ => not_found,
        }
    }
}

// Checkout without a customer (a guest checkout), as Stripe documents it: Checkout asks for
// the email; on completion `customer_details.email` holds it, and a customer is made with it
// in subscription mode always, in payment mode only with `customer_creation=always`
// (otherwise the session stays without one). `customer_creation` is refused in subscription
// mode, as Stripe refuses it.

/// The customer a new session names: a known one, or none (a guest's).
#[allow(clippy::result_large_err)]
fn guest_session_customer(
    customers: &HashMap<String, Value>,
    form: &[(String, String)],
    mode: &str,
) -> Result<Option<String>, (u16, Value)> {
    if field(form, "customer_creation").is_some() && mode != "payment" {
        return Err(bad_request(
            "customer_creation can only be used in payment mode.",
        ));
    }
    match field(form, "customer") {
        Some(c) if customers.contains_key(c) => Ok(Some(c.to_owned())),
        Some(_) => Err(bad_request("No such customer")),
        None => Ok(None),
    }
}

impl State {
    /// A guest pays a session with `email`: the customer Checkout makes (when it makes one)
    /// and `customer_details.email`; then as `complete`.
    fn complete_as(&mut self, session_id: &str, email: &str) -> Vec<Value> {
        let (session, _) = self.sessions.get(session_id).cloned().expect("a session");
        assert!(
            session["customer"].is_null(),
            "a member's session is paid with complete"
        );
        let makes_customer =
            session["mode"] == "subscription" || session["customer_creation"] == "always";
        let customer = if makes_customer {
            let id = self.id("cus");
            let c = json!({"id": id, "object": "customer", "email": email, "metadata": {}});
            self.customers.insert(id.clone(), c);
            json!(id)
        } else {
            Value::Null
        };
        let entry = self.sessions.get_mut(session_id).unwrap();
        entry.0["customer"] = customer;
        entry.0["customer_details"] = json!({"email": email});
        self.complete_paid(session_id)
    }
}

impl Standin {
    /// A visitor with no account pays the session, typing `email` at Checkout; the events.
    pub fn complete_as(&self, session_id: &str, email: &str) -> Vec<Value> {
        self.state.lock().unwrap().complete_as(session_id, email)
    }

    /// The customers Stripe holds (Checkout makes one for each guest who pays).
    pub fn customer_count(&self) -> usize {
        self.state.lock().unwrap().customers.len()
    }
}

/// What a member's own account asks Stripe (issue 23): their invoices and charges (each
/// with Stripe's page for it: `hosted_invoice_url`, `receipt_url`), newest first, and a
/// subscription set to end at its period's end (`cancel_at_period_end=true`). Invoices
/// and charges are derived from the customer's paid Checkout Sessions: one invoice per
/// subscription started (paid, 0 during a trial; its charge names it), one charge per
/// one-time payment.
impl State {
    fn account_route(
        &mut self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        form: &[(String, String)],
        base: &str,
    ) -> Option<(u16, Value)> {
        match (method, path) {
            ("GET", "/v1/invoices") | ("GET", "/v1/charges") => {
                let Some(customer) = field(query, "customer") else {
                    return Some(bad_request("customer is required here"));
                };
                let invoices = path == "/v1/invoices";
                let mut paid: Vec<&(Value, Vec<(String, String)>)> = self
                    .sessions
                    .values()
                    .filter(|(s, _)| s["customer"] == customer && s["status"] == "complete")
                    .collect();
                paid.sort_by(|a, b| b.0["id"].as_str().cmp(&a.0["id"].as_str()));
                let mut data = Vec::new();
                for (s, form) in paid {
                    let suffix = s["id"].as_str().unwrap().trim_start_matches("cs_");
                    let subscription = s["mode"] == "subscription";
                    let trial = field(form, "subscription_data[trial_period_days]").is_some();
                    let amount = if trial {
                        0
                    } else {
                        s["amount_total"].as_i64().unwrap_or(0)
                    };
                    let currency = if subscription {
                        field(form, "line_items[0][price]")
                            .and_then(|p| self.prices.get(p))
                            .map_or(json!("usd"), |p| p["currency"].clone())
                    } else {
                        s["currency"].clone()
                    };
                    let invoice_id = format!("in_{suffix}");
                    if invoices && subscription {
                        data.push(json!({"id": invoice_id, "object": "invoice", "customer": customer,
                            "status": "paid", "amount_paid": amount, "amount_due": amount,
                            "currency": currency, "created": now(), "number": format!("STANDIN-{suffix}"),
                            "hosted_invoice_url": format!("{base}/invoices/{invoice_id}"),
                            "invoice_pdf": format!("{base}/invoices/{invoice_id}/pdf"),
                            "parent": {"type": "subscription_details",
                                       "subscription_details": {"subscription": s["subscription"]}}}));
                    } else if !invoices && (!subscription || amount > 0) {
                        let charge_id = format!("ch_{suffix}");
                        data.push(json!({"id": charge_id, "object": "charge", "customer": customer,
                            "amount": amount, "currency": currency, "paid": true, "status": "succeeded",
                            "refunded": false, "description": null, "created": now(),
                            "invoice": if subscription { json!(invoice_id) } else { Value::Null },
                            "payment_intent": s["payment_intent"],
                            "receipt_url": format!("{base}/receipts/{charge_id}")}));
                    }
                }
                Some((
                    200,
                    json!({"object": "list", "url": path, "has_more": false, "data": data}),
                ))
            }
            ("POST", p)
                if p.starts_with("/v1/subscriptions/")
                    && field(form, "cancel_at_period_end").is_some() =>
            {
                let id = p["/v1/subscriptions/".len()..].to_owned();
                let Some(sub) = self.subscriptions.get_mut(&id) else {
                    return Some((
                        404,
                        json!({"error": {"type": "invalid_request_error", "message": format!("No such subscription: {id}")}}),
                    ));
                };
                sub["cancel_at_period_end"] =
                    json!(field(form, "cancel_at_period_end") == Some("true"));
                let sub = sub.clone();
                self.event("customer.subscription.updated", sub.clone());
                Some((200, sub))
            }
            _ => None,
        }
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

fn pairs(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

impl Standin {
    pub fn start() -> Standin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let (shared, base) = (state.clone(), url.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (state, base) = (shared.clone(), base.clone());
                std::thread::spawn(move || serve(stream, &state, &base));
            }
        });
        Standin { url, state }
    }

    /// The config table that points Marquee here.
    pub fn config(&self) -> String {
        format!(
            "[stripe]\nsecret_key = \"{SECRET_KEY}\"\nwebhook_secret = \"{WEBHOOK_SECRET}\"\napi_base = \"{}\"\n",
            self.url
        )
    }

    /// A server on `data` whose Stripe is this stand-in.
    pub fn server(&self, data: &std::path::Path) -> crate::support::Server {
        crate::support::Server::start_with(
            data,
            crate::support::Options {
                tables: self.config(),
                ..crate::support::Options::default()
            },
        )
    }

    /// Requests made to `path` (method and form), oldest first.
    pub fn requests_to(&self, path: &str) -> Vec<(String, Vec<(String, String)>)> {
        let state = self.state.lock().unwrap();
        state
            .requests
            .iter()
            .filter(|(_, p, _)| p == path)
            .map(|(m, _, f)| (m.clone(), f.clone()))
            .collect()
    }

    /// The customer pays: the session completes; a subscription starts (trialing when the
    /// session asked for a trial) or a payment is made. Returns the events Stripe would send.
    pub fn complete(&self, session_id: &str) -> Vec<Value> {
        self.state.lock().unwrap().complete(session_id)
    }

    /// The session times out unpaid; returns the `checkout.session.expired` event.
    pub fn expire(&self, session_id: &str) -> Value {
        let mut state = self.state.lock().unwrap();
        let path = format!("/v1/checkout/sessions/{session_id}/expire");
        let (status, _) = state.route("POST", &path, &[], &[], "");
        assert_eq!(status, 200, "{session_id} was not open");
        state.events.last().unwrap().clone()
    }

    /// Where the pay page delivers Stripe's events (a browser test pays there).
    pub fn set_webhook(&self, url: &str) {
        self.state.lock().unwrap().webhook = Some(url.to_owned());
    }

    /// The renewal payment fails: the subscription goes past due.
    pub fn fail_renewal(&self, sub_id: &str) -> Value {
        let mut state = self.state.lock().unwrap();
        let sub = state.subscriptions.get_mut(sub_id).unwrap();
        sub["status"] = json!("past_due");
        let (customer, price) = (
            sub["customer"].clone(),
            sub["items"]["data"][0]["price"].clone(),
        );
        let invoice_id = state.id("in");
        let invoice = json!({"id": invoice_id, "object": "invoice", "status": "open",
            "customer": customer, "created": now(), "amount_due": price["unit_amount"],
            "amount_paid": 0, "currency": price["currency"],
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub_id}}});
        state.event("invoice.payment_failed", invoice)
    }

    /// The subscription as Stripe has it now, changed by `change`; returns the event that
    /// says so (`customer.subscription.updated`, or `.deleted` when cancelled).
    pub fn change_subscription(&self, sub_id: &str, change: impl FnOnce(&mut Value)) -> Value {
        let mut state = self.state.lock().unwrap();
        let sub = state.subscriptions.get_mut(sub_id).unwrap();
        change(sub);
        let sub = sub.clone();
        let kind = if sub["status"] == "canceled" {
            "customer.subscription.deleted"
        } else {
            "customer.subscription.updated"
        };
        state.event(kind, sub)
    }

    pub fn refund(&self, payment_intent: &str) -> Value {
        let mut state = self.state.lock().unwrap();
        let charge = state.id("ch");
        state.event(
            "charge.refunded",
            json!({"id": charge, "object": "charge", "payment_intent": payment_intent,
            "refunded": true, "amount_refunded": 250}),
        )
    }

    /// A price made in Stripe's dashboard, not by Marquee (no `marquee_plan` metadata).
    pub fn dashboard_price(&self, amount: i64, currency: &str, interval: &str) -> Value {
        let mut state = self.state.lock().unwrap();
        let id = state.id("price");
        let p = json!({"id": id, "object": "price", "active": true, "currency": currency,
            "unit_amount": amount, "recurring": {"interval": interval, "interval_count": 1},
            "metadata": {}, "type": "recurring"});
        state.prices.insert(id, p.clone());
        p
    }

    /// A price as Stripe has it (one Marquee made, say).
    pub fn price(&self, id: &str) -> Value {
        self.state.lock().unwrap().prices[id].clone()
    }

    /// The cardholder disputes the payment: `charge.dispute.created`, as Stripe sends it.
    pub fn dispute(&self, payment_intent: &str, amount: i64) -> Value {
        let mut state = self.state.lock().unwrap();
        let (id, charge) = (state.id("dp"), state.id("ch"));
        let dispute = json!({"id": id, "object": "dispute", "amount": amount, "currency": "eur",
            "charge": charge, "payment_intent": payment_intent, "reason": "fraudulent",
            "status": "needs_response", "is_charge_refundable": false, "livemode": false});
        state.event("charge.dispute.created", dispute)
    }

    /// The dispute is decided (`won` or `lost`): `charge.dispute.closed`.
    pub fn close_dispute(&self, created: &Value, status: &str) -> Value {
        let mut state = self.state.lock().unwrap();
        let mut dispute = created["data"]["object"].clone();
        dispute["status"] = json!(status);
        state.event("charge.dispute.closed", dispute)
    }

    /// The subscription as Stripe has it now.
    pub fn subscription(&self, id: &str) -> Value {
        self.state.lock().unwrap().subscriptions[id].clone()
    }

    pub fn subscription_ids(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .subscriptions
            .keys()
            .cloned()
            .collect()
    }

    /// Sends `event` to `url` signed as Stripe signs; the answer's status.
    pub fn deliver(url: &str, event: &Value) -> u16 {
        Self::deliver_signed(url, event, WEBHOOK_SECRET, now())
    }

    pub fn deliver_signed(url: &str, event: &Value, secret: &str, t: i64) -> u16 {
        let body = event.to_string();
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = ring::hmac::sign(&key, format!("{t}.{body}").as_bytes());
        let v1: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .post(url)
            .header("Stripe-Signature", &format!("t={t},v1={v1}"))
            .header("Content-Type", "application/json")
            .send(&body)
            .unwrap()
            .status()
            .as_u16()
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, base: &str) {
    let Some(Request {
        method,
        target,
        headers,
        body,
    }) = read_request(&mut stream)
    else {
        return;
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if let Some(session) = path.strip_prefix("/pay/") {
        let typed = pairs(&String::from_utf8_lossy(&body));
        let email = field(&typed, "email").map(str::to_owned);
        return pay_page(stream, state, &method, session, email.as_deref());
    }
    let (query, form) = (pairs(query), pairs(&String::from_utf8_lossy(&body)));
    let (status, answer) = if headers.get("authorization").map(String::as_str)
        != Some(&format!("Bearer {SECRET_KEY}"))
    {
        (
            401,
            json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}),
        )
    } else if headers.get("stripe-version").map(String::as_str) != Some("2025-03-31.basil") {
        (
            400,
            json!({"error": {"type": "invalid_request_error", "message": "this stand-in speaks 2025-03-31.basil"}}),
        )
    } else {
        let mut state = state.lock().unwrap();
        state
            .requests
            .push((method.clone(), path.to_owned(), form.clone()));
        let key = headers
            .get("idempotency-key")
            .cloned()
            .filter(|_| method == "POST");
        match key.as_ref().and_then(|k| state.idempotent.get(k)).cloned() {
            Some(replayed) => (200, replayed),
            None => {
                let (status, answer) = state.route(&method, path, &query, &form, base);
                if let (Some(k), 200) = (key, status) {
                    state.idempotent.insert(k, answer.clone());
                }
                (status, answer)
            }
        }
    };
    let body = answer.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Checkout's page, as the viewer's browser sees it: GET shows a Pay button (and an email
/// field for a session without a customer); POST pays, sends Stripe's events to the
/// webhook, and sends a member's browser back to the cancel address (a viewer who closes
/// the tab after paying), so only the webhook tells Marquee, and a guest's to the return
/// address.
fn pay_page(
    mut stream: TcpStream,
    state: &Mutex<State>,
    method: &str,
    session: &str,
    email: Option<&str>,
) {
    let known = state.lock().unwrap().sessions.get(session).cloned();
    let Some((s, _)) = known else {
        let _ = write!(
            stream,
            "HTTP/1.1 404 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    };
    if method == "GET" {
        // Without a customer, Checkout asks for the email.
        let ask = if s["customer"].is_null() {
            "<label>Email <input id=email name=email type=email required></label>"
        } else {
            ""
        };
        let html = format!(
            "<!doctype html><title>Pay</title><p>{} {}</p><form method=post>{ask}<button id=pay>Pay</button></form>",
            s["amount_total"], s["currency"]
        );
        let _ = write!(
            stream,
            "HTTP/1.1 200 X\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
            html.len()
        );
        return;
    }
    let guest = s["customer"].is_null();
    let (events, hook) = {
        let mut state = state.lock().unwrap();
        let events = match email {
            Some(email) if s["customer"].is_null() => state.complete_as(session, email),
            _ => state.complete(session),
        };
        (events, state.webhook.clone())
    };
    for event in &events {
        let status = Standin::deliver(hook.as_deref().expect("set_webhook first"), event);
        assert_eq!(status, 200, "the webhook refused {event}");
    }
    // A guest comes back through the return address (to be signed in there); a member as
    // one who closed the tab after paying.
    let back = match guest {
        true => s["success_url"]
            .as_str()
            .unwrap_or("/")
            .replace("{CHECKOUT_SESSION_ID}", session),
        false => s["cancel_url"].as_str().unwrap_or("/").to_owned(),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 303 X\r\nLocation: {back}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}
