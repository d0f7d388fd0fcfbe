//! Offers: a discount (percent or a fixed amount off) or a free period, once, for N months
//! or forever, for new sign-ups, existing members (retention) or both, on some plans or
//! all, with an optional code, a date window and a redemption cap. Edited live in the
//! dashboard. An account takes an offer once; `reserve` counts a redemption against the
//! cap in the caller's transaction, so two members racing for the last one cannot both
//! get it. What an offer does at Stripe (a coupon, a trial) is `services::offers`'.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::AccessError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferKind {
    /// `value` percent off (1–100).
    Percent,
    /// `value` minor units off, in `currency`.
    Fixed,
    /// `value` days without paying.
    FreePeriod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferDuration {
    Once,
    /// For `duration_months` months.
    Repeating,
    Forever,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// People subscribing now (at checkout).
    New,
    /// Members with a current subscription (retention).
    Existing,
    Both,
}

impl Audience {
    fn word(self) -> &'static str {
        match self {
            Audience::New => "new",
            Audience::Existing => "existing",
            Audience::Both => "both",
        }
    }
    fn from_word(s: &str) -> Audience {
        match s {
            "new" => Audience::New,
            "existing" => Audience::Existing,
            _ => Audience::Both,
        }
    }
    fn admits(self, who: Audience) -> bool {
        self == Audience::Both || self == who
    }
}

impl OfferKind {
    fn word(self) -> &'static str {
        match self {
            OfferKind::Percent => "percent",
            OfferKind::Fixed => "fixed",
            OfferKind::FreePeriod => "free_period",
        }
    }
    fn from_word(s: &str) -> OfferKind {
        match s {
            "percent" => OfferKind::Percent,
            "fixed" => OfferKind::Fixed,
            _ => OfferKind::FreePeriod,
        }
    }
}

impl OfferDuration {
    fn word(self) -> &'static str {
        match self {
            OfferDuration::Once => "once",
            OfferDuration::Repeating => "repeating",
            OfferDuration::Forever => "forever",
        }
    }
    fn from_word(s: &str) -> OfferDuration {
        match s {
            "repeating" => OfferDuration::Repeating,
            "forever" => OfferDuration::Forever,
            _ => OfferDuration::Once,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferFields {
    pub name: String,
    /// What a viewer types (letters, digits, dashes; case does not matter). None: the
    /// offer is applied without one: automatically at checkout for new sign-ups, or by
    /// the operator to a member.
    #[serde(default)]
    pub code: Option<String>,
    pub kind: OfferKind,
    pub value: i64,
    /// Fixed discounts only: lower-case ISO 4217.
    #[serde(default)]
    pub currency: Option<String>,
    pub duration: OfferDuration,
    #[serde(default)]
    pub duration_months: Option<u32>,
    pub audience: Audience,
    /// The plans it applies to; empty: every plan.
    #[serde(default)]
    pub plan_ids: Vec<String>,
    #[serde(default)]
    pub starts_at: Option<i64>,
    #[serde(default)]
    pub ends_at: Option<i64>,
    /// Redemptions allowed in all; None: no cap.
    #[serde(default)]
    pub max_redemptions: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offer {
    pub id: i64,
    #[serde(flatten)]
    pub fields: OfferFields,
    pub redemptions: i64,
    pub archived: bool,
    /// Stripe's coupon for this discount, made on first use.
    #[serde(skip)]
    pub stripe_coupon_id: Option<String>,
    pub updated_at: i64,
}

/// An offer's code as stored: trimmed, upper case.
pub fn normalize_code(typed: &str) -> String {
    typed.trim().to_ascii_uppercase()
}

impl OfferFields {
    /// Checks and tidies the fields (a free period is always "once").
    pub fn checked(mut self) -> Result<OfferFields, AccessError> {
        let invalid = |m: &str| Err(AccessError::Invalid(m.into()));
        self.name = self.name.trim().to_owned();
        if self.name.is_empty()
            || self.name.chars().count() > 80
            || self.name.chars().any(char::is_control)
        {
            return invalid("an offer needs a name of 1 to 80 characters");
        }
        self.code = self
            .code
            .as_deref()
            .map(normalize_code)
            .filter(|c| !c.is_empty());
        if let Some(code) = &self.code
            && (!(3..=40).contains(&code.len())
                || !code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return invalid("a code is 3 to 40 letters, digits, dashes or underscores");
        }
        match self.kind {
            OfferKind::Percent if !(1..=100).contains(&self.value) => {
                return invalid("a percent discount is 1 to 100");
            }
            OfferKind::Fixed if !(1..=100_000_000).contains(&self.value) => {
                return invalid("an amount off is 1 to 100000000 minor units (cents)");
            }
            OfferKind::FreePeriod if !(1..=365).contains(&self.value) => {
                return invalid("a free period is 1 to 365 days");
            }
            _ => {}
        }
        match self.kind {
            OfferKind::Fixed => match &self.currency {
                Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_lowercase()) => {}
                _ => return invalid("an amount off needs its currency, like eur or usd"),
            },
            _ => self.currency = None,
        }
        if self.kind == OfferKind::FreePeriod {
            self.duration = OfferDuration::Once;
        }
        match (self.duration, self.duration_months) {
            (OfferDuration::Repeating, Some(m)) if (1..=36).contains(&m) => {}
            (OfferDuration::Repeating, _) => {
                return invalid("a repeating discount lasts 1 to 36 months");
            }
            _ => self.duration_months = None,
        }
        if let (Some(s), Some(e)) = (self.starts_at, self.ends_at)
            && e <= s
        {
            return invalid("the offer must end after it starts");
        }
        if self.max_redemptions.is_some_and(|m| m < 1) {
            return invalid("the redemption cap is at least 1 (leave it empty for none)");
        }
        self.plan_ids.sort();
        self.plan_ids.dedup();
        Ok(self)
    }

    /// "50 % off for 3 months", "€5.00 off the first payment", "30 days free", for the
    /// operator (money as in English).
    pub fn describe(&self) -> String {
        self.describe_in(&crate::money::Locale::default())
    }

    /// `describe`, with money written as `locale` writes it, for a viewer.
    pub fn describe_in(&self, locale: &crate::money::Locale) -> String {
        let what = match self.kind {
            OfferKind::Percent => format!("{} % off", self.value),
            OfferKind::Fixed => format!(
                "{} off",
                crate::money::format(self.value, self.currency.as_deref().unwrap_or(""), locale)
            ),
            OfferKind::FreePeriod => return format!("{} days free", self.value),
        };
        match (self.duration, self.duration_months) {
            (OfferDuration::Once, _) => format!("{what} the first payment"),
            (OfferDuration::Repeating, Some(1)) => format!("{what} for a month"),
            (OfferDuration::Repeating, Some(m)) => format!("{what} for {m} months"),
            (OfferDuration::Repeating, None) => what,
            (OfferDuration::Forever, _) => format!("{what} for as long as you stay"),
        }
    }

    /// What Stripe's coupon for this offer says, as text: a new coupon is made when it
    /// changes (coupons cannot be changed at Stripe).
    pub fn coupon_terms(&self) -> String {
        format!(
            "{:?}-{}-{}-{:?}-{}-{}-{}",
            self.kind,
            self.value,
            self.currency.as_deref().unwrap_or(""),
            self.duration,
            self.duration_months.unwrap_or(0),
            self.max_redemptions.unwrap_or(0),
            self.ends_at.unwrap_or(0)
        )
    }
}

fn code_taken(c: &Connection, code: &Option<String>, except: i64) -> Result<(), AccessError> {
    let Some(code) = code else { return Ok(()) };
    let taken: Option<i64> = c
        .query_row(
            "SELECT id FROM offers WHERE code = ?1 AND id != ?2",
            params![code, except],
            |r| r.get(0),
        )
        .optional()?;
    match taken {
        Some(_) => Err(AccessError::Invalid(format!(
            "another offer already has the code {code}"
        ))),
        None => Ok(()),
    }
}

fn plans_exist(c: &Connection, ids: &[String]) -> Result<(), AccessError> {
    for id in ids {
        super::plans::get(c, id)
            .map_err(|_| AccessError::Invalid(format!("there is no plan {id:?}")))?;
    }
    Ok(())
}

pub fn create(tx: &Connection, fields: OfferFields, now: i64) -> Result<Offer, AccessError> {
    let f = fields.checked()?;
    code_taken(tx, &f.code, 0)?;
    plans_exist(tx, &f.plan_ids)?;
    tx.execute(
        "INSERT INTO offers (name, code, kind, value, currency, duration, duration_months,
                             audience, plan_ids, starts_at, ends_at, max_redemptions,
                             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
        params![
            f.name,
            f.code,
            f.kind.word(),
            f.value,
            f.currency,
            f.duration.word(),
            f.duration_months,
            f.audience.word(),
            serde_json::to_string(&f.plan_ids).expect("strings serialise"),
            f.starts_at,
            f.ends_at,
            f.max_redemptions,
            now
        ],
    )?;
    get(tx, tx.last_insert_rowid())
}

/// Changes an offer. New terms forget the Stripe coupon (a new one is made on next use);
/// discounts already given stay as they were.
pub fn update(
    tx: &Connection,
    id: i64,
    fields: OfferFields,
    archived: bool,
    now: i64,
) -> Result<Offer, AccessError> {
    let f = fields.checked()?;
    let old = get(tx, id)?;
    code_taken(tx, &f.code, id)?;
    plans_exist(tx, &f.plan_ids)?;
    tx.execute(
        "UPDATE offers SET name = ?2, code = ?3, kind = ?4, value = ?5, currency = ?6,
                duration = ?7, duration_months = ?8, audience = ?9, plan_ids = ?10,
                starts_at = ?11, ends_at = ?12, max_redemptions = ?13, updated_at = ?14,
                archived_at = CASE WHEN ?15 THEN coalesce(archived_at, ?14) END,
                stripe_coupon_id = CASE WHEN ?16 THEN stripe_coupon_id END
         WHERE id = ?1",
        params![
            id,
            f.name,
            f.code,
            f.kind.word(),
            f.value,
            f.currency,
            f.duration.word(),
            f.duration_months,
            f.audience.word(),
            serde_json::to_string(&f.plan_ids).expect("strings serialise"),
            f.starts_at,
            f.ends_at,
            f.max_redemptions,
            now,
            archived,
            old.fields.coupon_terms() == f.coupon_terms(),
        ],
    )?;
    get(tx, id)
}

const COLUMNS: &str = "id, name, code, kind, value, currency, duration, duration_months, \
     audience, plan_ids, starts_at, ends_at, max_redemptions, redemptions, archived_at, \
     stripe_coupon_id, updated_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Offer> {
    let plans: String = r.get(9)?;
    Ok(Offer {
        id: r.get(0)?,
        fields: OfferFields {
            name: r.get(1)?,
            code: r.get(2)?,
            kind: OfferKind::from_word(&r.get::<_, String>(3)?),
            value: r.get(4)?,
            currency: r.get(5)?,
            duration: OfferDuration::from_word(&r.get::<_, String>(6)?),
            duration_months: r.get(7)?,
            audience: Audience::from_word(&r.get::<_, String>(8)?),
            plan_ids: serde_json::from_str(&plans).unwrap_or_default(),
            starts_at: r.get(10)?,
            ends_at: r.get(11)?,
            max_redemptions: r.get(12)?,
        },
        redemptions: r.get(13)?,
        archived: r.get::<_, Option<i64>>(14)?.is_some(),
        stripe_coupon_id: r.get(15)?,
        updated_at: r.get(16)?,
    })
}

pub fn get(c: &Connection, id: i64) -> Result<Offer, AccessError> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM offers WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()?
    .ok_or_else(|| AccessError::NotFound(format!("offer {id}")))
}

/// Every offer, archived ones last, newest first.
pub fn list(c: &Connection) -> Result<Vec<Offer>, AccessError> {
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS} FROM offers ORDER BY archived_at IS NOT NULL, id DESC"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Keeps the Stripe coupon made for `terms` (unless the offer's terms changed meanwhile).
pub fn set_coupon(tx: &Connection, id: i64, coupon: &str, terms: &str) -> Result<(), AccessError> {
    if get(tx, id)?.fields.coupon_terms() == terms {
        tx.execute(
            "UPDATE offers SET stripe_coupon_id = ?2 WHERE id = ?1",
            params![id, coupon],
        )?;
    }
    Ok(())
}

/// Whether the offer may be taken now by someone (withdrawn, outside its window or full:
/// not).
pub fn open_now(offer: &Offer, now: i64) -> bool {
    let f = &offer.fields;
    !offer.archived
        && f.starts_at.is_none_or(|s| now >= s)
        && f.ends_at.is_none_or(|e| now < e)
        && f.max_redemptions.is_none_or(|m| offer.redemptions < m)
}

/// Why an offer cannot be taken, in words for the viewer; `None` when it can.
pub fn refusal(
    offer: &Offer,
    plan_id: &str,
    plan_currency: &str,
    who: Audience,
    now: i64,
) -> Option<&'static str> {
    let f = &offer.fields;
    if offer.archived || f.starts_at.is_some_and(|s| now < s) {
        return Some("this offer is not available now");
    }
    if f.ends_at.is_some_and(|e| now >= e) {
        return Some("this offer has ended");
    }
    if f.max_redemptions.is_some_and(|m| offer.redemptions >= m) {
        return Some("this offer has been fully taken");
    }
    if !f.audience.admits(who) {
        return Some(match who {
            Audience::Existing => "this offer is for new members",
            _ => "this offer is for members who already subscribe",
        });
    }
    if !f.plan_ids.is_empty() && !f.plan_ids.iter().any(|p| p == plan_id) {
        return Some("this offer is not for this plan");
    }
    if f.kind == OfferKind::Fixed && f.currency.as_deref() != Some(plan_currency) {
        return Some("this offer is not for this plan");
    }
    None
}

/// The offer a typed code names, or one sentence for every unknown code.
pub fn by_code(c: &Connection, typed: &str) -> Result<Offer, AccessError> {
    let code = normalize_code(typed);
    let id: Option<i64> = c
        .query_row("SELECT id FROM offers WHERE code = ?1", [&code], |r| {
            r.get(0)
        })
        .optional()?;
    match id {
        Some(id) => get(c, id),
        None => Err(AccessError::UnknownOffer),
    }
}

/// Whether the account took the offer (a checkout still unpaid does not count: its
/// account may start it again).
pub fn taken_by(c: &Connection, offer_id: i64, user_id: i64) -> Result<bool, AccessError> {
    Ok(c.query_row(
        "SELECT count(*) FROM offer_redemptions WHERE offer_id = ?1 AND user_id = ?2
           AND NOT (applied_to = 'checkout' AND reference LIKE 'pending%')",
        params![offer_id, user_id],
        |r| r.get::<_, i64>(0),
    )? > 0)
}

/// The best code-less offer a new member gets on this plan at checkout without typing
/// anything: the one worth most over a year, counting free days beyond the trial the
/// member gets anyway (`trial_days`) at a month's price per 30 days.
pub fn automatic(
    c: &Connection,
    plan: &super::plans::Plan,
    user_id: i64,
    trial_days: u32,
    yearly: bool,
    now: i64,
) -> Result<Option<Offer>, AccessError> {
    let monthly = plan
        .fields
        .monthly_amount
        .or(plan.fields.yearly_amount.map(|y| y / 12))
        .unwrap_or(0);
    let mut best: Option<(i64, Offer)> = None;
    for offer in list(c)? {
        if offer.fields.code.is_some()
            || refusal(&offer, &plan.id, &plan.fields.currency, Audience::New, now).is_some()
            || yearly_refusal(&offer, yearly).is_some()
            || taken_by(c, offer.id, user_id)?
        {
            continue;
        }
        let f = &offer.fields;
        let months = match f.duration {
            OfferDuration::Once => 1,
            OfferDuration::Repeating => i64::from(f.duration_months.unwrap_or(1)),
            OfferDuration::Forever => 12,
        };
        let worth = match f.kind {
            OfferKind::Percent => monthly * f.value / 100 * months,
            OfferKind::Fixed => f.value.min(monthly) * months,
            OfferKind::FreePeriod => monthly * (f.value - i64::from(trial_days)).max(0) / 30,
        };
        if worth > 0 && best.as_ref().is_none_or(|(w, _)| worth > *w) {
            best = Some((worth, offer));
        }
    }
    Ok(best.map(|(_, o)| o))
}

/// A discount for some months is refused on yearly billing: Stripe would take it off the
/// whole first year's invoice, which is not what "for 3 months" says.
pub fn yearly_refusal(offer: &Offer, yearly: bool) -> Option<&'static str> {
    (yearly && offer.fields.duration == OfferDuration::Repeating)
        .then_some("this offer is for monthly billing")
}

/// Whether the account has a current subscription (an offer's "existing member").
pub fn is_member(c: &Connection, user_id: i64, now: i64) -> Result<bool, AccessError> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM subscriptions
                        WHERE user_id = ?1 AND status != 'ended' AND period_end > ?2)",
        params![user_id, now],
        |r| r.get(0),
    )?)
}

/// Records that `user_id` took the offer, counting it against the cap, in the caller's
/// transaction. Refused when the account took it before or the cap is reached, unless
/// `over_cap` (a checkout that was under the cap when it started has been paid with it).
pub fn reserve(
    tx: &Connection,
    offer_id: i64,
    user_id: i64,
    applied_to: &str,
    reference: &str,
    over_cap: bool,
    now: i64,
) -> Result<(), AccessError> {
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO offer_redemptions (offer_id, user_id, applied_to, reference, redeemed_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![offer_id, user_id, applied_to, reference, now],
    )?;
    if inserted == 0 {
        return Err(AccessError::Invalid(
            "you have taken this offer already".into(),
        ));
    }
    let counted = tx.execute(
        "UPDATE offers SET redemptions = redemptions + 1
         WHERE id = ?1 AND (?2 OR max_redemptions IS NULL OR redemptions < max_redemptions)",
        params![offer_id, over_cap],
    )?;
    if counted == 0 {
        return Err(AccessError::Invalid(
            "this offer has been fully taken".into(),
        ));
    }
    Ok(())
}

/// Gives a reservation back (what it was for failed at Stripe).
pub fn release(tx: &Connection, offer_id: i64, user_id: i64) -> Result<(), AccessError> {
    let removed = tx.execute(
        "DELETE FROM offer_redemptions WHERE offer_id = ?1 AND user_id = ?2",
        params![offer_id, user_id],
    )?;
    if removed > 0 {
        tx.execute(
            "UPDATE offers SET redemptions = max(redemptions - 1, 0) WHERE id = ?1",
            [offer_id],
        )?;
    }
    Ok(())
}

/// A checkout's reservation before its Checkout Session exists.
const PENDING: &str = "pending";
/// How long a checkout's reservation is held (a Checkout Session lives an hour).
pub const CHECKOUT_HOLD_SECS: i64 = 2 * 3600;

/// Reserves the offer for a checkout, counting it against the cap. An account's earlier
/// checkout with the same offer that was never paid hands its reservation on: its session
/// is returned, for the caller to expire at Stripe first, so only one can be paid.
pub fn reserve_checkout(
    tx: &Connection,
    offer_id: i64,
    user_id: i64,
    now: i64,
) -> Result<Option<String>, AccessError> {
    // Checkouts abandoned long ago give their places back.
    let stale: Vec<i64> = {
        let mut stmt = tx.prepare(
            "SELECT user_id FROM offer_redemptions WHERE offer_id = ?1 AND applied_to = 'checkout'
               AND reference LIKE 'pending%' AND redeemed_at < ?2",
        )?;
        let rows = stmt.query_map(params![offer_id, now - CHECKOUT_HOLD_SECS], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for user in stale {
        release(tx, offer_id, user)?;
    }
    let held: Option<(String, Option<String>)> = tx
        .query_row(
            "SELECT applied_to, reference FROM offer_redemptions WHERE offer_id = ?1 AND user_id = ?2",
            params![offer_id, user_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let starting = "a checkout with this offer is already starting; try again in a moment";
    match held {
        // Another checkout of this account is between its reservation and its session.
        Some((kind, Some(reference))) if kind == "checkout" && reference == PENDING => {
            let since: i64 = tx.query_row(
                "SELECT redeemed_at FROM offer_redemptions WHERE offer_id = ?1 AND user_id = ?2",
                params![offer_id, user_id],
                |r| r.get(0),
            )?;
            if now - since < STARTING_SECS {
                return Err(AccessError::Invalid(starting.into()));
            }
            // That one never finished (a crash): this checkout takes the place over.
            tx.execute(
                "UPDATE offer_redemptions SET redeemed_at = ?3 WHERE offer_id = ?1 AND user_id = ?2",
                params![offer_id, user_id, now],
            )?;
            Ok(None)
        }
        // An earlier checkout's session: the caller settles it (expires it, or finds it
        // paid) and then calls `restart_hold`.
        Some((kind, Some(reference))) if kind == "checkout" && reference.starts_with(PENDING) => {
            Ok(reference.strip_prefix("pending:").map(str::to_owned))
        }
        Some(_) => Err(AccessError::Invalid(
            "you have taken this offer already".into(),
        )),
        None => {
            reserve(tx, offer_id, user_id, "checkout", PENDING, false, now)?;
            Ok(None)
        }
    }
}

/// How long a checkout may take between its reservation and its session before another
/// checkout of the account may take the place over.
const STARTING_SECS: i64 = 120;

/// The earlier session was expired: the place now waits for this checkout's session.
/// False when another checkout of the account took it meanwhile.
pub fn restart_hold(
    tx: &Connection,
    offer_id: i64,
    user_id: i64,
    earlier: &str,
    now: i64,
) -> Result<bool, AccessError> {
    Ok(tx.execute(
        "UPDATE offer_redemptions SET reference = ?3, redeemed_at = ?4
         WHERE offer_id = ?1 AND user_id = ?2 AND reference = ?5",
        params![
            offer_id,
            user_id,
            PENDING,
            now,
            format!("{PENDING}:{earlier}")
        ],
    )? > 0)
}

/// The Checkout Session made for a reservation.
pub fn hold_for_session(
    tx: &Connection,
    offer_id: i64,
    user_id: i64,
    session: &str,
) -> Result<(), AccessError> {
    tx.execute(
        "UPDATE offer_redemptions SET reference = ?3
         WHERE offer_id = ?1 AND user_id = ?2 AND reference = ?4",
        params![offer_id, user_id, format!("{PENDING}:{session}"), PENDING],
    )?;
    Ok(())
}

/// A checkout that carried the offer was paid: its reservation becomes the redemption.
/// Without one (a reservation given up meanwhile) the paid discount is recorded past the
/// cap, since it was given; a second paid checkout of the same account is reported.
pub fn checkout_paid(
    tx: &Connection,
    offer_id: i64,
    user_id: i64,
    session: &str,
    now: i64,
) -> Result<bool, AccessError> {
    let held = tx.execute(
        "UPDATE offer_redemptions SET reference = ?3
         WHERE offer_id = ?1 AND user_id = ?2 AND (reference = ?4 OR reference = ?3)",
        params![offer_id, user_id, session, format!("{PENDING}:{session}")],
    )?;
    if held > 0 {
        return Ok(true);
    }
    Ok(reserve(tx, offer_id, user_id, "checkout", session, true, now).is_ok())
}

/// A checkout that was never paid (its session expired): its reservation goes back.
pub fn checkout_expired(tx: &Connection, session: &str) -> Result<(), AccessError> {
    let held: Option<(i64, i64)> = tx
        .query_row(
            "SELECT offer_id, user_id FROM offer_redemptions WHERE reference = ?1",
            [format!("{PENDING}:{session}")],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((offer, user)) = held {
        release(tx, offer, user)?;
    }
    Ok(())
}

/// A member's redeemed offers for the support page: (offer name, what it gives, when).
pub fn taken_offers(
    c: &Connection,
    user_id: i64,
) -> Result<Vec<(String, String, i64)>, AccessError> {
    let mut stmt = c.prepare(
        "SELECT r.offer_id, r.redeemed_at FROM offer_redemptions r WHERE r.user_id = ?1
         ORDER BY r.redeemed_at DESC",
    )?;
    let rows: Vec<(i64, i64)> = stmt
        .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(id, at)| {
            let o = get(c, id)?;
            Ok((o.fields.name.clone(), o.fields.describe(), at))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::test_db;

    fn fields(code: Option<&str>, audience: Audience) -> OfferFields {
        OfferFields {
            name: "Spring".into(),
            code: code.map(str::to_owned),
            kind: OfferKind::Percent,
            value: 50,
            currency: None,
            duration: OfferDuration::Repeating,
            duration_months: Some(3),
            audience,
            plan_ids: vec![],
            starts_at: Some(100),
            ends_at: Some(200),
            max_redemptions: Some(1),
        }
    }

    #[test]
    fn fields_are_checked_and_described() {
        let f = fields(Some(" spring-50 "), Audience::New)
            .checked()
            .unwrap();
        assert_eq!(f.code.as_deref(), Some("SPRING-50"));
        assert_eq!(f.describe(), "50 % off for 3 months");
        let mut bad = fields(Some("x y"), Audience::New);
        assert!(bad.clone().checked().is_err(), "a space in a code");
        bad.code = None;
        bad.value = 101;
        assert!(bad.clone().checked().is_err(), "over 100 %");
        bad.value = 10;
        bad.duration_months = None;
        assert!(bad.clone().checked().is_err(), "repeating without months");
        bad.duration_months = Some(2);
        bad.kind = OfferKind::Fixed;
        assert!(bad.clone().checked().is_err(), "fixed without a currency");
        bad.currency = Some("eur".into());
        assert_eq!(
            bad.clone().checked().unwrap().describe(),
            "€0.10 off for 2 months"
        );
        bad.kind = OfferKind::FreePeriod;
        let free = bad.checked().unwrap();
        assert_eq!(
            (free.duration, free.currency.clone()),
            (OfferDuration::Once, None)
        );
        assert_eq!(free.describe(), "10 days free");
    }

    #[test]
    fn window_audience_plan_and_cap_decide_and_the_cap_holds_under_a_race() {
        let (_tmp, db) = test_db::catalog();
        let offer = db
            .write_blocking(|tx| create(tx, fields(Some("spring"), Audience::New), 1))
            .unwrap();
        let o = test_db::read(&db, |c| by_code(c, "SPRING ").unwrap());
        assert_eq!(o.id, offer.id);
        assert_eq!(
            refusal(&o, "club", "eur", Audience::New, 99),
            Some("this offer is not available now")
        );
        assert_eq!(
            refusal(&o, "club", "eur", Audience::New, 200),
            Some("this offer has ended")
        );
        assert_eq!(
            refusal(&o, "club", "eur", Audience::Existing, 150),
            Some("this offer is for new members")
        );
        assert_eq!(refusal(&o, "club", "eur", Audience::New, 150), None);
        // The code is taken by this offer; a second offer cannot have it in any case.
        let dup = db.write_blocking(|tx| create(tx, fields(Some("SPRING"), Audience::Both), 1));
        assert!(matches!(dup, Err(AccessError::Invalid(_))));
        // Cap 1: the first account gets it, the second is refused, nothing double counted.
        db.write_blocking(|tx| reserve(tx, offer.id, 1, "subscription", "sub_1", false, 150))
            .unwrap();
        let second =
            db.write_blocking(|tx| reserve(tx, offer.id, 2, "subscription", "sub_2", false, 150));
        assert!(matches!(second, Err(AccessError::Invalid(m)) if m.contains("fully taken")));
        let again =
            db.write_blocking(|tx| reserve(tx, offer.id, 1, "subscription", "sub_1", false, 150));
        assert!(matches!(again, Err(AccessError::Invalid(m)) if m.contains("already")));
        let o = test_db::read(&db, |c| get(c, offer.id).unwrap());
        assert_eq!(o.redemptions, 1);
        assert_eq!(
            refusal(&o, "club", "eur", Audience::New, 150),
            Some("this offer has been fully taken")
        );
        // A paid checkout records past the cap; a release gives one back.
        db.write_blocking(|tx| reserve(tx, offer.id, 2, "checkout", "cs_2", true, 150))
            .unwrap();
        db.write_blocking(|tx| release(tx, offer.id, 1)).unwrap();
        let o = test_db::read(&db, |c| get(c, offer.id).unwrap());
        assert_eq!(o.redemptions, 1);
        assert!(!test_db::read(&db, |c| taken_by(c, offer.id, 1).unwrap()));
    }

    #[test]
    fn the_best_automatic_offer_is_found_and_terms_changes_forget_the_coupon() {
        let (_tmp, db) = test_db::catalog();
        let mut ten = fields(None, Audience::Both);
        ten.value = 10;
        ten.max_redemptions = None;
        let mut week = ten.clone();
        week.kind = OfferKind::FreePeriod;
        week.value = 14; // 14/30 of 5.00: worth more than 10 %
        let coded = fields(Some("CODED"), Audience::New);
        let (a, b) = db
            .write_blocking(|tx| {
                let a = create(tx, ten.clone(), 1)?;
                let b = create(tx, week.clone(), 1)?;
                create(tx, coded.clone(), 1)?;
                Ok::<_, AccessError>((a, b))
            })
            .unwrap();
        let plan = test_db::read(&db, |c| crate::access::plans::get(c, "club").unwrap());
        let best = test_db::read(&db, |c| {
            automatic(c, &plan, 1, 0, false, 150).unwrap().unwrap()
        });
        // A 14-day free offer is worth nothing beyond a 14-day trial: the 10 % wins then.
        let with_trial = test_db::read(&db, |c| {
            automatic(c, &plan, 1, 14, false, 150).unwrap().unwrap()
        });
        assert_eq!(with_trial.id, a.id);
        assert_eq!(best.id, b.id);
        db.write_blocking(|tx| set_coupon(tx, a.id, "co_1", &a.fields.coupon_terms()))
            .unwrap();
        let renamed = OfferFields {
            name: "Ten".into(),
            ..ten.clone()
        };
        let kept = db
            .write_blocking(|tx| update(tx, a.id, renamed, false, 5))
            .unwrap();
        assert_eq!(
            kept.stripe_coupon_id.as_deref(),
            Some("co_1"),
            "a new name keeps the coupon"
        );
        let deeper = OfferFields { value: 20, ..ten };
        let changed = db
            .write_blocking(|tx| update(tx, a.id, deeper, true, 6))
            .unwrap();
        assert_eq!(
            changed.stripe_coupon_id, None,
            "new terms need a new coupon"
        );
        assert!(changed.archived);
    }

    #[test]
    fn one_account_holds_one_checkout_place_and_a_paid_session_keeps_it() {
        let (_tmp, db) = test_db::catalog();
        let mut open = fields(None, Audience::New);
        open.max_redemptions = Some(5);
        open.starts_at = None;
        open.ends_at = None;
        let offer = db.write_blocking(|tx| create(tx, open, 1)).unwrap().id;
        let reserve = |now: i64| db.write_blocking(|tx| reserve_checkout(tx, offer, 1, now));
        assert_eq!(reserve(1000).unwrap(), None);
        // A second checkout while the first has no session yet: refused, not a second place.
        assert!(matches!(reserve(1001), Err(AccessError::Invalid(m)) if m.contains("starting")));
        db.write_blocking(|tx| hold_for_session(tx, offer, 1, "cs_1"))
            .unwrap();
        // The next checkout gets the earlier session to settle; two at once: one wins.
        assert_eq!(reserve(1010).unwrap().as_deref(), Some("cs_1"));
        assert_eq!(reserve(1010).unwrap().as_deref(), Some("cs_1"));
        assert!(
            db.write_blocking(|tx| restart_hold(tx, offer, 1, "cs_1", 1010))
                .unwrap()
        );
        assert!(
            !db.write_blocking(|tx| restart_hold(tx, offer, 1, "cs_1", 1010))
                .unwrap()
        );
        // A checkout that died before its session: its place is taken over after a while.
        assert!(reserve(1020).is_err());
        assert_eq!(reserve(1010 + STARTING_SECS).unwrap(), None);
        db.write_blocking(|tx| hold_for_session(tx, offer, 1, "cs_2"))
            .unwrap();
        // cs_2 was paid before Marquee heard: the place is the redemption, counted once.
        assert_eq!(reserve(2000).unwrap().as_deref(), Some("cs_2"));
        assert!(
            db.write_blocking(|tx| checkout_paid(tx, offer, 1, "cs_2", 2000))
                .unwrap()
        );
        assert!(test_db::read(&db, |c| taken_by(c, offer, 1).unwrap()));
        assert!(matches!(reserve(2001), Err(AccessError::Invalid(m)) if m.contains("taken")));
        // Nothing sweeps a paid one away, however long after.
        db.write_blocking(|tx| reserve_checkout(tx, offer, 2, 99_999))
            .unwrap();
        assert!(test_db::read(&db, |c| taken_by(c, offer, 1).unwrap()));
        assert_eq!(
            test_db::read(&db, |c| get(c, offer).unwrap()).redemptions,
            2
        );
    }
}
