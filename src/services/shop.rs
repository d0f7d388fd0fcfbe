//! What the shop shows a viewer: the plans on sale with the trial and the automatic offer
//! this viewer would get at checkout (the pricing page and the paywall), and the access
//! levels of titles for the marks on tiles and title pages. Reads only; the checkout itself
//! is `services::billing`'s.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use crate::access::level::AccessLevel;
use crate::access::plans::{self, Plan};
use crate::access::{AccessError, offers, store};
use crate::catalog::visibility;

/// A plan a viewer may buy now, as this viewer would get it.
#[derive(Debug, Clone)]
pub struct PlanOnSale {
    pub plan: Plan,
    /// Days free at checkout: the plan's trial, or 0 once this person had a trial.
    pub trial_days: u32,
    /// The offer applied without a code; none for a current member, whom checkout gives
    /// none either.
    pub offer: Option<crate::access::offers::OfferFields>,
}

/// The plans on sale (among `only` when it names any) for `user` (`None`: a visitor, who
/// is treated as a new member with no trial used yet).
pub fn plans_on_sale(
    c: &Connection,
    user: Option<i64>,
    only: &[String],
    now: i64,
) -> Result<Vec<PlanOnSale>, AccessError> {
    let member = match user {
        Some(u) => offers::is_member(c, u, now)?,
        None => false,
    };
    // A failed read of the trial ledger shows the trial; checkout decides again anyway.
    let had_trial = user.is_some_and(|u| crate::payments::sync::trial_used(c, u).unwrap_or(false));
    plans::on_sale(c, only)?
        .into_iter()
        .map(|plan| {
            let trial_days = if had_trial { 0 } else { plan.fields.trial_days };
            let offer = match member {
                true => None,
                false => offers::automatic(c, &plan, user.unwrap_or(0), trial_days, false, now)?
                    .map(|o| o.fields),
            };
            Ok(PlanOnSale {
                plan,
                trial_days,
                offer,
            })
        })
        .collect()
}

/// The names of the plans on sale by id, for "Included with Explorer".
pub fn plan_names(c: &Connection) -> Result<Vec<(String, String)>, AccessError> {
    Ok(plans::on_sale(c, &[])?
        .into_iter()
        .map(|p| (p.id, p.fields.name))
        .collect())
}

/// The access level of each paid title among `ids` (the nearest one set: its own, its
/// season's, its collection's); free ones are left out. About the titles only, never the
/// viewer, so the storefront may keep it with its shared rails.
pub fn paid_levels(
    c: &Connection,
    ids: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, AccessLevel>, AccessError> {
    let mut out = HashMap::new();
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        if let Some(access) = store::title_access(c, &id)? {
            if access.is_paid() {
                out.insert(id, access.level);
            } else if let Some(level) = every_episode_paid(c, &id)? {
                out.insert(id, level);
            }
        }
    }
    Ok(out)
}

/// A series free itself whose every live episode is paid (each season priced on its own):
/// the first episode's level, so its tile is not taken for free. `None` for anything else,
/// and for a series with a free episode or none.
fn every_episode_paid(c: &Connection, id: &str) -> Result<Option<AccessLevel>, AccessError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT t.id FROM titles t WHERE t.parent_id = ?1 AND t.kind = 'episode' AND {}
         ORDER BY t.season_number, t.episode_number",
        visibility::live_sql(2)
    ))?;
    let episodes = stmt
        .query_map(params![id, crate::clock::now()], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut first = None;
    for episode in episodes {
        match store::title_access(c, &episode)? {
            Some(access) if access.is_paid() => {
                first.get_or_insert(access.level);
            }
            _ => return Ok(None),
        }
    }
    Ok(first)
}
