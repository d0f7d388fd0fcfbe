//! Access levels: public, registered (any signed-in account), subscribers (any active plan
//! or only named plans), purchase (rent and/or buy at a price), or a pay-per-view event (a
//! ticket valid for a window: a premiere and its replay period).

use serde::{Deserialize, Serialize};

/// An amount in the currency's minor unit (cents), as Stripe counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub amount: i64,
    /// ISO 4217, lower case as Stripe writes it: `eur`, `usd`.
    pub currency: String,
}

impl Price {
    fn check(&self, what: &str) -> Result<(), String> {
        if self.amount <= 0 || self.amount > 100_000_000 {
            return Err(format!(
                "{what}: the amount must be 1 to 100000000 minor units"
            ));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(format!(
                "{what}: {:?} is not a three-letter currency code like \"eur\"",
                self.currency
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AccessLevel {
    Public,
    /// Any signed-in account.
    Registered,
    /// Any active plan when `plans` is empty, else only those plans.
    Subscribers {
        #[serde(default)]
        plans: Vec<String>,
    },
    /// Rent (playable for the rental window from the first play) and/or buy (for good).
    Purchase {
        rent: Option<Price>,
        buy: Option<Price>,
    },
    /// A ticket for an event, playable from `starts_at` until `ends_at` (Unix seconds).
    PayPerView {
        event_id: String,
        price: Price,
        starts_at: i64,
        ends_at: i64,
    },
}

impl AccessLevel {
    /// Checks the level's own values; an error is a sentence for the editor.
    pub fn check(&self) -> Result<(), String> {
        match self {
            AccessLevel::Public | AccessLevel::Registered => Ok(()),
            AccessLevel::Subscribers { plans } => {
                if plans.iter().any(|p| p.trim().is_empty()) {
                    return Err("a plan id cannot be empty".into());
                }
                Ok(())
            }
            AccessLevel::Purchase { rent, buy } => {
                if rent.is_none() && buy.is_none() {
                    return Err("a purchase needs a rental price, a purchase price or both".into());
                }
                if let Some(p) = rent {
                    p.check("the rental price")?;
                }
                if let Some(p) = buy {
                    p.check("the purchase price")?;
                }
                Ok(())
            }
            AccessLevel::PayPerView {
                event_id,
                price,
                starts_at,
                ends_at,
            } => {
                if event_id.trim().is_empty() {
                    return Err("a pay-per-view event needs an id".into());
                }
                price.check("the ticket price")?;
                if ends_at <= starts_at {
                    return Err("the event must end after it starts".into());
                }
                Ok(())
            }
        }
    }
}
