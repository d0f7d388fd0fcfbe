//! When viewers see a title. Computed once per change into `titles.live_from` and
//! `live_until` (Unix seconds, `live_from` NULL for never), so every viewer-facing query,
//! the search and the origin read two columns instead of re-deriving the rules:
//!
//! - a movie, episode or extra needs its own status `published`, its own window
//!   (`publish_at`..`expire_at`) and ready media;
//! - an episode also needs its series published and inside the series' own window;
//! - a series is live while one of its episodes is (from the earliest episode's start to the
//!   latest one's end, inside the series' own window);
//! - an extra is live only while the title it belongs to is.

use rusqlite::{Connection, OptionalExtension, params};

use super::CatalogError;
use super::titles::{self, PublishState, Title, TitleKind};

/// A time window in Unix seconds; `until` `None` is open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub until: Option<i64>,
}

impl Window {
    fn intersect(self, other: Window) -> Option<Window> {
        let from = self.from.max(other.from);
        let until = match (self.until, other.until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match until {
            Some(u) if u <= from => None,
            _ => Some(Window { from, until }),
        }
    }
}

pub fn is_within(from: Option<i64>, until: Option<i64>, now: i64) -> bool {
    from.is_some_and(|f| f <= now) && until.is_none_or(|u| now < u)
}

/// The SQL condition "the title aliased `t` is live at parameter `?N`".
pub fn live_sql(now_param: usize) -> String {
    live_sql_as("t", now_param)
}

/// The SQL condition "the title aliased `alias` is live at parameter `?N`".
pub fn live_sql_as(alias: &str, now_param: usize) -> String {
    format!(
        "({alias}.live_from IS NOT NULL AND {alias}.live_from <= ?{now_param} AND ({alias}.live_until IS NULL OR {alias}.live_until > ?{now_param}))"
    )
}

fn media_ready(conn: &Connection, asset_id: Option<&str>) -> Result<bool, CatalogError> {
    let Some(id) = asset_id else { return Ok(false) };
    Ok(conn
        .query_row(
            "SELECT 1 FROM assets WHERE id = ?1 AND status = 'ready'",
            [id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The title's own window, before its parent or children are considered.
fn own(conn: &Connection, t: &Title) -> Result<Option<Window>, CatalogError> {
    if t.status != PublishState::Published {
        return Ok(None);
    }
    if t.kind.plays() && !media_ready(conn, t.asset_id.as_deref())? {
        return Ok(None);
    }
    // Without a schedule it is live from when it was published, which is also the release
    // time "newest" sorts by.
    let from = t.publish_at.or(t.published_at).unwrap_or(0);
    Ok(match t.expire_at {
        Some(until) if until <= from => None,
        until => Some(Window { from, until }),
    })
}

/// Recomputes the title's family (its top-level title, the episodes and the extras).
pub fn refresh(tx: &Connection, id: &str) -> Result<(), CatalogError> {
    let Some(title) = titles::find(tx, id)? else {
        return Ok(());
    };
    let top = match &title.parent_id {
        Some(parent) => titles::get(tx, parent)?,
        None => title,
    };
    let children = titles::children(tx, &top.id)?;
    let top_own = own(tx, &top)?;
    let top_live = if top.kind == TitleKind::Series {
        let mut span: Option<Window> = None;
        for ep in children.iter().filter(|c| c.kind == TitleKind::Episode) {
            let Some(w) = own(tx, ep)?.and_then(|w| top_own.and_then(|s| s.intersect(w))) else {
                continue;
            };
            span = Some(match span {
                None => w,
                Some(s) => Window {
                    from: s.from.min(w.from),
                    until: s.until.zip(w.until).map(|(a, b)| a.max(b)),
                },
            });
        }
        span
    } else {
        top_own
    };
    write(tx, &top.id, top_live)?;
    for child in &children {
        let parent = match child.kind {
            TitleKind::Episode => top_own,
            _ => top_live,
        };
        let live = match (own(tx, child)?, parent) {
            (Some(a), Some(b)) => a.intersect(b),
            _ => None,
        };
        write(tx, &child.id, live)?;
    }
    Ok(())
}

fn write(tx: &Connection, id: &str, live: Option<Window>) -> Result<(), CatalogError> {
    tx.execute(
        "UPDATE titles SET live_from = ?2, live_until = ?3 WHERE id = ?1",
        params![id, live.map(|w| w.from), live.and_then(|w| w.until)],
    )?;
    Ok(())
}

/// After an asset changed state (ready, failed, deleted): every title that links it.
pub fn refresh_for_asset(tx: &Connection, asset_id: &str) -> Result<(), CatalogError> {
    for title in titles::linking(tx, asset_id)? {
        refresh(tx, &title.id)?;
    }
    Ok(())
}

/// Whether viewers may play the asset at `now` through some live title, and until when
/// (`Some(None)`: no end). The origin keeps this answer in memory until that time.
pub fn asset_live_until(
    conn: &Connection,
    asset_id: &str,
    now: i64,
) -> Result<Option<Option<i64>>, CatalogError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT t.live_until FROM titles t WHERE t.asset_id = ?1 AND {}",
        live_sql(2)
    ))?;
    let untils: Vec<Option<i64>> = stmt
        .query_map(params![asset_id, now], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if untils.is_empty() {
        return Ok(None);
    }
    Ok(Some(if untils.iter().any(Option::is_none) {
        None
    } else {
        untils.into_iter().flatten().max()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_intersect() {
        let open = Window {
            from: 0,
            until: None,
        };
        let day = Window {
            from: 100,
            until: Some(200),
        };
        assert_eq!(open.intersect(day), Some(day));
        assert_eq!(
            day.intersect(Window {
                from: 150,
                until: Some(300)
            }),
            Some(Window {
                from: 150,
                until: Some(200)
            })
        );
        assert_eq!(
            day.intersect(Window {
                from: 200,
                until: None
            }),
            None
        );
        assert!(is_within(Some(100), Some(200), 100));
        assert!(!is_within(Some(100), Some(200), 200));
        assert!(!is_within(None, None, 5));
    }
}
