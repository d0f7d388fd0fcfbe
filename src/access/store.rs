//! Access levels and viewer holdings in SQLite, read into what the entitlement engine
//! decides on: `TitleAccess` (the nearest level set: the title's own, then its season's,
//! its series' or parent's, then a collection's, else public) and `ViewerState`.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, OptionalExtension, params};

use super::AccessError;
use super::entitlement::{
    Grant, GrantScope, Policy, Rental, Subscription, SubscriptionStatus, TitleAccess, ViewerState,
};
use super::level::AccessLevel;
use super::media::{self, PlayDecision};

fn parse_level(json: Option<String>) -> Result<Option<AccessLevel>, AccessError> {
    json.map(|j| serde_json::from_str(&j).map_err(|e| AccessError::Corrupt(e.to_string())))
        .transpose()
}

fn level_json(level: Option<&AccessLevel>) -> Result<Option<String>, AccessError> {
    level
        .map(|l| {
            l.check().map_err(AccessError::Invalid)?;
            serde_json::to_string(l).map_err(|e| AccessError::Corrupt(e.to_string()))
        })
        .transpose()
}

struct TitleRow {
    kind: String,
    parent_id: Option<String>,
    season: Option<i64>,
    extra_kind: Option<String>,
    access: Option<String>,
    free_preview: bool,
    live_from: Option<i64>,
    live_until: Option<i64>,
}

fn title_row(c: &Connection, id: &str) -> Result<Option<TitleRow>, AccessError> {
    Ok(c.query_row(
        "SELECT kind, parent_id, season_number, extra_kind, access, free_preview, live_from,
                live_until
         FROM titles WHERE id = ?1",
        [id],
        |r| {
            Ok(TitleRow {
                kind: r.get(0)?,
                parent_id: r.get(1)?,
                season: r.get(2)?,
                extra_kind: r.get(3)?,
                access: r.get(4)?,
                free_preview: r.get(5)?,
                live_from: r.get(6)?,
                live_until: r.get(7)?,
            })
        },
    )
    .optional()?)
}

/// The level of the first collection holding `title_id` that sets one (oldest first, so
/// the answer does not change when a newer collection is made).
fn collection_level(c: &Connection, title_id: &str) -> Result<Option<AccessLevel>, AccessError> {
    let json: Option<String> = c
        .query_row(
            "SELECT c.access FROM collections c JOIN collection_items i ON i.collection_id = c.id
             WHERE i.title_id = ?1 AND c.access IS NOT NULL
             ORDER BY c.created_at, c.id LIMIT 1",
            [title_id],
            |r| r.get(0),
        )
        .optional()?;
    parse_level(json)
}

/// Who owns a level found above a title: what purchases, rentals and grants name.
pub fn season_key(series_id: &str, number: i64) -> String {
    format!("{series_id}/season/{number}")
}

/// The title as the engine sees it, or `None` if there is no such title.
pub fn title_access(c: &Connection, title_id: &str) -> Result<Option<TitleAccess>, AccessError> {
    let Some(row) = title_row(c, title_id)? else {
        return Ok(None);
    };
    let free_preview = row.free_preview || row.extra_kind.as_deref() == Some("trailer");
    let (owner, level) = nearest_level(c, title_id, &row)?;
    // A grant for the title itself opens it too when its level comes from above; a grant
    // for its series opens it only when the level is the series' (the owner), never a
    // separately priced season's.
    let mut above = Vec::new();
    if owner != title_id {
        above.push(title_id.to_owned());
    }
    Ok(Some(TitleAccess {
        title_id: owner,
        above,
        level: level.unwrap_or(AccessLevel::Public),
        free_preview,
        live_from: row.live_from,
        live_until: row.live_until,
    }))
}

fn nearest_level(
    c: &Connection,
    title_id: &str,
    row: &TitleRow,
) -> Result<(String, Option<AccessLevel>), AccessError> {
    if let Some(level) = parse_level(row.access.clone())? {
        return Ok((title_id.to_owned(), Some(level)));
    }
    if let (Some(parent), Some(season)) = (&row.parent_id, row.season)
        && row.kind == "episode"
    {
        let json: Option<String> = c
            .query_row(
                "SELECT access FROM seasons WHERE series_id = ?1 AND number = ?2",
                params![parent, season],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        if let Some(level) = parse_level(json)? {
            return Ok((season_key(parent, season), Some(level)));
        }
    }
    if let Some(parent) = &row.parent_id
        && let Some(parent_row) = title_row(c, parent)?
    {
        // A series or a movie has no parent, so this goes one level up only.
        if let Some(level) = parse_level(parent_row.access.clone())? {
            return Ok((parent.clone(), Some(level)));
        }
    }
    if let Some(level) = collection_level(c, title_id)? {
        return Ok((title_id.to_owned(), Some(level)));
    }
    if let Some(parent) = &row.parent_id
        && let Some(level) = collection_level(c, parent)?
    {
        return Ok((parent.clone(), Some(level)));
    }
    Ok((title_id.to_owned(), None))
}

/// The level set on the title itself (None: it takes the nearest one above).
pub fn own_level(c: &Connection, title_id: &str) -> Result<Option<AccessLevel>, AccessError> {
    let json: Option<String> = c
        .query_row("SELECT access FROM titles WHERE id = ?1", [title_id], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or_else(|| AccessError::NotFound(format!("title {title_id}")))?;
    parse_level(json)
}

pub fn set_title_level(
    tx: &Connection,
    title_id: &str,
    level: Option<&AccessLevel>,
    free_preview: bool,
    now: i64,
) -> Result<(), AccessError> {
    let json = level_json(level)?;
    let changed = tx.execute(
        "UPDATE titles SET access = ?2, free_preview = ?3, updated_at = ?4 WHERE id = ?1",
        params![title_id, json, free_preview, now],
    )?;
    if changed == 0 {
        return Err(AccessError::NotFound(format!("title {title_id}")));
    }
    Ok(())
}

pub fn set_season_level(
    tx: &Connection,
    series_id: &str,
    number: i64,
    level: Option<&AccessLevel>,
) -> Result<(), AccessError> {
    let json = level_json(level)?;
    let changed = tx.execute(
        "UPDATE seasons SET access = ?3 WHERE series_id = ?1 AND number = ?2",
        params![series_id, number, json],
    )?;
    if changed == 0 {
        return Err(AccessError::NotFound(format!(
            "season {number} of {series_id}"
        )));
    }
    Ok(())
}

pub fn set_collection_level(
    tx: &Connection,
    collection_id: &str,
    level: Option<&AccessLevel>,
) -> Result<(), AccessError> {
    let json = level_json(level)?;
    let changed = tx.execute(
        "UPDATE collections SET access = ?2 WHERE id = ?1",
        params![collection_id, json],
    )?;
    if changed == 0 {
        return Err(AccessError::NotFound(format!("collection {collection_id}")));
    }
    Ok(())
}

/// Every title linking `asset_id`, whatever its publishing state: a draft or expired paid
/// title still guards its media (see `media`).
fn linking_titles(c: &Connection, asset_id: &str) -> Result<Vec<String>, AccessError> {
    let mut stmt = c.prepare_cached("SELECT id FROM titles WHERE asset_id = ?1 ORDER BY id")?;
    let ids = stmt
        .query_map([asset_id], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

/// The paid titles linking `asset_id` other than `except`, as the engine sees them.
fn paid_titles(
    c: &Connection,
    asset_id: &str,
    except: Option<&str>,
) -> Result<Vec<TitleAccess>, AccessError> {
    let mut paid = Vec::new();
    for id in linking_titles(c, asset_id)? {
        if Some(id.as_str()) == except {
            continue;
        }
        if let Some(t) = title_access(c, &id)?
            && t.is_paid()
        {
            paid.push(t);
        }
    }
    Ok(paid)
}

/// Whether anyone may fetch `asset_id` under the public path: titles link it and none of
/// them is paid (`media`: a free title, a trailer or a marked preview is free only for
/// media no paid title plays).
pub fn asset_is_free(c: &Connection, asset_id: &str) -> Result<bool, AccessError> {
    Ok(!linking_titles(c, asset_id)?.is_empty() && paid_titles(c, asset_id, None)?.is_empty())
}

/// Whether some title linking `asset_id` (published or not) is paid: media worth
/// encrypting. Media no title plays, or only free ones, is left as it is.
pub fn asset_has_paid_title(c: &Connection, asset_id: &str) -> Result<bool, AccessError> {
    Ok(!paid_titles(c, asset_id, None)?.is_empty())
}

/// The engine's answer for a play of `title_id` by `viewer` at `now`, per media: the title
/// and every other paid title linking the same media must let the viewer in
/// (`media::decide_play`). `None`: no such title, or — when `for_asset` names the media a
/// pass is about to be made for — the title no longer plays that media (its media was
/// changed after the caller read it, so the answer would be about other media).
pub fn decide_play(
    c: &Connection,
    title_id: &str,
    for_asset: Option<&str>,
    viewer: &ViewerState,
    policy: &Policy,
    now: i64,
) -> Result<Option<PlayDecision>, AccessError> {
    let Some(title) = title_access(c, title_id)? else {
        return Ok(None);
    };
    let asset: Option<String> = c
        .query_row(
            "SELECT asset_id FROM titles WHERE id = ?1",
            [title_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    if for_asset.is_some_and(|wanted| asset.as_deref() != Some(wanted)) {
        return Ok(None);
    }
    let sharing = match &asset {
        Some(asset) => paid_titles(c, asset, Some(title_id))?,
        None => Vec::new(),
    };
    Ok(Some(media::decide_play(
        &title, &sharing, viewer, policy, now,
    )))
}

/// What guards each of `assets` now: `None` when no title links it (nothing plays it),
/// else the paid titles linking it, each as its level's owner and the level.
pub fn media_guards(
    c: &Connection,
    assets: &[String],
) -> Result<BTreeMap<String, Option<BTreeSet<String>>>, AccessError> {
    let mut guards = BTreeMap::new();
    for asset in assets {
        let guard = if linking_titles(c, asset)?.is_empty() {
            None
        } else {
            let mut paid = BTreeSet::new();
            for t in paid_titles(c, asset, None)? {
                let level = serde_json::to_string(&t.level)
                    .map_err(|e| AccessError::Corrupt(e.to_string()))?;
                paid.insert(format!("{}={level}", t.title_id));
            }
            Some(paid)
        };
        guards.insert(asset.clone(), guard);
    }
    Ok(guards)
}

/// Whether a change from `before` to `after` (`media_guards` of the same assets) lets more
/// viewers play some media: a paid title that guarded it no longer does, whether a free
/// title still plays it or none does (media left to no title is anyone's to link to a
/// free title next, so unlinking it from its only paid title gives it away as surely).
pub fn guards_loosened(
    before: &BTreeMap<String, Option<BTreeSet<String>>>,
    after: &BTreeMap<String, Option<BTreeSet<String>>>,
) -> bool {
    before.iter().any(|(asset, was)| {
        let now = after.get(asset).and_then(Option::as_ref);
        match (was, now) {
            (Some(was), Some(now)) => !was.is_subset(now),
            (Some(was), None) => !was.is_empty(),
            (None, _) => false,
        }
    })
}

/// Whether the collection has an access level, public included: its titles' membership is
/// then `billing:write`'s. A collection's level reaches its titles ahead of a newer
/// collection's (oldest first), so putting a title of a priced collection in an older one
/// set to public gives it away.
pub fn collection_has_level(c: &Connection, collection_id: &str) -> Result<bool, AccessError> {
    let json: Option<String> = c
        .query_row(
            "SELECT access FROM collections WHERE id = ?1",
            [collection_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(parse_level(json)?.is_some())
}

/// Which titles are in a collection that has an access level, public included
/// (collection, title): changing these needs `billing:write`, since the level reaches the
/// titles (`collection_has_level`).
pub fn leveled_memberships(c: &Connection) -> Result<BTreeSet<(String, String)>, AccessError> {
    let mut stmt = c.prepare(
        "SELECT c.id, i.title_id FROM collections c
         JOIN collection_items i ON i.collection_id = c.id WHERE c.access IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    Ok(rows.collect::<Result<BTreeSet<_>, _>>()?)
}

fn status_of(status: &str, past_due_since: Option<i64>) -> Result<SubscriptionStatus, AccessError> {
    Ok(match (status, past_due_since) {
        ("trialing", _) => SubscriptionStatus::Trialing,
        ("active", _) => SubscriptionStatus::Active,
        ("past_due", Some(since)) => SubscriptionStatus::PastDue { since },
        ("ended", _) => SubscriptionStatus::Ended,
        (other, _) => {
            return Err(AccessError::Corrupt(format!(
                "subscription status {other:?}"
            )));
        }
    })
}

/// What the viewer holds (nothing for a signed-out viewer), and `streams_in_use` players
/// running elsewhere.
pub fn viewer_state(
    c: &Connection,
    user_id: Option<i64>,
    streams_in_use: u32,
) -> Result<ViewerState, AccessError> {
    let Some(user) = user_id else {
        return Ok(ViewerState::default());
    };
    let mut state = ViewerState {
        user_id: Some(user),
        streams_in_use,
        ..ViewerState::default()
    };
    let mut stmt = c.prepare_cached(
        "SELECT s.plan_id, s.status, s.past_due_since, s.period_end, p.stream_limit
         FROM subscriptions s JOIN plans p ON p.id = s.plan_id
         WHERE s.user_id = ?1 AND s.status != 'ended'",
    )?;
    let rows = stmt.query_map([user], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<i64>>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, u32>(4)?,
        ))
    })?;
    for row in rows {
        let (plan_id, status, since, period_end, stream_limit) = row?;
        state.subscriptions.push(Subscription {
            plan_id,
            status: status_of(&status, since)?,
            period_end,
            stream_limit,
        });
    }
    let mut stmt = c.prepare_cached(
        "SELECT kind, target_id, window_secs, first_play_at FROM purchases
         WHERE user_id = ?1 AND refunded_at IS NULL",
    )?;
    let rows = stmt.query_map([user], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<i64>>(2)?,
            r.get::<_, Option<i64>>(3)?,
        ))
    })?;
    for row in rows {
        match row? {
            (kind, title_id, Some(window_secs), first_play_at) if kind == "rent" => {
                state.rentals.push(Rental {
                    title_id,
                    first_play_at,
                    window_secs,
                })
            }
            (kind, title_id, _, _) if kind == "buy" => state.owned.push(title_id),
            (_, event_id, _, _) => state.tickets.push(event_id),
        }
    }
    let mut stmt = c.prepare_cached(
        "SELECT g.scope, g.scope_id, g.until, p.stream_limit
         FROM grants g LEFT JOIN plans p ON g.scope = 'plan' AND p.id = g.scope_id
         WHERE g.user_id = ?1 AND g.revoked_at IS NULL",
    )?;
    let rows = stmt.query_map([user], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<i64>>(2)?,
            r.get::<_, Option<u32>>(3)?,
        ))
    })?;
    for row in rows {
        let (scope, id, until, stream_limit) = row?;
        let scope = match scope.as_str() {
            "plan" => GrantScope::Plan(id),
            _ => GrantScope::Title(id),
        };
        state.grants.push(Grant {
            scope,
            until,
            stream_limit,
        });
    }
    Ok(state)
}

/// Starts the window of the viewer's oldest unstarted rental of `target` (the play the
/// engine allowed with `starts_rental`). A no-op if a concurrent play started it first.
pub fn start_rental(
    tx: &Connection,
    user_id: i64,
    target: &str,
    now: i64,
) -> Result<(), AccessError> {
    tx.execute(
        "UPDATE purchases SET first_play_at = ?3 WHERE id = (
             SELECT id FROM purchases WHERE user_id = ?1 AND target_id = ?2 AND kind = 'rent'
               AND refunded_at IS NULL AND first_play_at IS NULL ORDER BY id LIMIT 1)
           AND NOT EXISTS (SELECT 1 FROM purchases WHERE user_id = ?1 AND target_id = ?2
               AND kind = 'rent' AND refunded_at IS NULL AND first_play_at IS NOT NULL
               AND first_play_at + window_secs > ?3)",
        params![user_id, target, now],
    )?;
    Ok(())
}

/// The operator's policy as set in the dashboard.
pub fn policy(config: &crate::config::PaywallConfig) -> Policy {
    Policy {
        past_due_grace_secs: i64::from(config.past_due_grace_days) * 86_400,
        rental_secs: i64::from(config.rental_hours) * 3600,
    }
}
