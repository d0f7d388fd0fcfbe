//! Subscription plans, edited live in the dashboard: prices per month and per year, trial
//! days, how many players may run at once, and whether the storefront offers the plan. A
//! price change applies to new buyers; subscriptions keep the amount they started with.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::AccessError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanFields {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// ISO 4217, lower case.
    pub currency: String,
    /// Minor units (cents); at least one of the two.
    pub monthly_amount: Option<i64>,
    pub yearly_amount: Option<i64>,
    #[serde(default)]
    pub trial_days: u32,
    pub stream_limit: u32,
    /// Offered on the storefront (hidden plans: codes, comps and migrations only).
    pub public: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub id: String,
    #[serde(flatten)]
    pub fields: PlanFields,
    pub archived: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PlanFields {
    pub fn check(&self) -> Result<(), AccessError> {
        let invalid = |m: &str| Err(AccessError::Invalid(m.into()));
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
            return invalid("a plan needs a name of 1 to 80 characters");
        }
        if self.description.chars().count() > 2000 {
            return invalid("the description is at most 2000 characters");
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return invalid("the currency is a three-letter code like eur or usd");
        }
        if self.monthly_amount.is_none() && self.yearly_amount.is_none() {
            return invalid("a plan needs a monthly price, a yearly price or both");
        }
        for amount in [self.monthly_amount, self.yearly_amount]
            .into_iter()
            .flatten()
        {
            if !(1..=100_000_000).contains(&amount) {
                return invalid("a price is 1 to 100000000 minor units (cents)");
            }
        }
        if self.trial_days > 365 {
            return invalid("a trial is at most 365 days");
        }
        if !(1..=100).contains(&self.stream_limit) {
            return invalid("the stream limit is 1 to 100");
        }
        Ok(())
    }
}

/// A plan's id from its name: lower-case letters, digits and dashes, made unique.
fn new_id(c: &Connection, name: &str) -> Result<String, AccessError> {
    let mut base: String = name
        .to_lowercase()
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
        .collect();
    base = base
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    base.truncate(40);
    if base.is_empty() {
        base = "plan".into();
    }
    let mut id = base.clone();
    let mut n = 2;
    while c
        .query_row("SELECT 1 FROM plans WHERE id = ?1", [&id], |_| Ok(()))
        .optional()?
        .is_some()
    {
        id = format!("{base}-{n}");
        n += 1;
    }
    Ok(id)
}

pub fn create(tx: &Connection, fields: &PlanFields, now: i64) -> Result<Plan, AccessError> {
    fields.check()?;
    let id = new_id(tx, &fields.name)?;
    tx.execute(
        "INSERT INTO plans (id, name, description, currency, monthly_amount, yearly_amount,
                            trial_days, stream_limit, public, position, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
                 (SELECT coalesce(max(position), 0) + 1 FROM plans), ?10, ?10)",
        params![
            id,
            fields.name.trim(),
            fields.description,
            fields.currency,
            fields.monthly_amount,
            fields.yearly_amount,
            fields.trial_days,
            fields.stream_limit,
            fields.public,
            now
        ],
    )?;
    get(tx, &id)
}

/// Changes a plan. A changed price forgets the Stripe price made for the old one (a new
/// one is made for the next checkout); subscriptions keep what they pay.
pub fn update(
    tx: &Connection,
    id: &str,
    fields: &PlanFields,
    now: i64,
) -> Result<Plan, AccessError> {
    fields.check()?;
    let old = get(tx, id)?;
    let changed = tx.execute(
        "UPDATE plans SET name = ?2, description = ?3, currency = ?4, monthly_amount = ?5,
                yearly_amount = ?6, trial_days = ?7, stream_limit = ?8, public = ?9,
                updated_at = ?10,
                stripe_monthly_price = CASE WHEN ?11 THEN stripe_monthly_price END,
                stripe_yearly_price = CASE WHEN ?12 THEN stripe_yearly_price END
         WHERE id = ?1",
        params![
            id,
            fields.name.trim(),
            fields.description,
            fields.currency,
            fields.monthly_amount,
            fields.yearly_amount,
            fields.trial_days,
            fields.stream_limit,
            fields.public,
            now,
            old.fields.monthly_amount == fields.monthly_amount
                && old.fields.currency == fields.currency,
            old.fields.yearly_amount == fields.yearly_amount
                && old.fields.currency == fields.currency,
        ],
    )?;
    if changed == 0 {
        return Err(AccessError::NotFound(format!("plan {id}")));
    }
    get(tx, id)
}

/// Takes a plan off sale; its subscribers keep it.
pub fn archive(tx: &Connection, id: &str, archived: bool, now: i64) -> Result<(), AccessError> {
    let changed = tx.execute(
        "UPDATE plans SET archived_at = CASE WHEN ?2 THEN ?3 END, updated_at = ?3 WHERE id = ?1",
        params![id, archived, now],
    )?;
    if changed == 0 {
        return Err(AccessError::NotFound(format!("plan {id}")));
    }
    Ok(())
}

const COLUMNS: &str = "id, name, description, currency, monthly_amount, yearly_amount, \
     trial_days, stream_limit, public, archived_at, created_at, updated_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Plan> {
    Ok(Plan {
        id: r.get(0)?,
        fields: PlanFields {
            name: r.get(1)?,
            description: r.get(2)?,
            currency: r.get(3)?,
            monthly_amount: r.get(4)?,
            yearly_amount: r.get(5)?,
            trial_days: r.get(6)?,
            stream_limit: r.get(7)?,
            public: r.get(8)?,
        },
        archived: r.get::<_, Option<i64>>(9)?.is_some(),
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

pub fn get(c: &Connection, id: &str) -> Result<Plan, AccessError> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM plans WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()?
    .ok_or_else(|| AccessError::NotFound(format!("plan {id}")))
}

/// Every plan in the dashboard's order.
pub fn list(c: &Connection) -> Result<Vec<Plan>, AccessError> {
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS} FROM plans ORDER BY archived_at IS NOT NULL, position, id"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The plans a viewer may buy now: public, not archived, and among `only` when it names
/// any.
pub fn on_sale(c: &Connection, only: &[String]) -> Result<Vec<Plan>, AccessError> {
    Ok(list(c)?
        .into_iter()
        .filter(|p| p.fields.public && !p.archived)
        .filter(|p| only.is_empty() || only.contains(&p.id))
        .collect())
}
