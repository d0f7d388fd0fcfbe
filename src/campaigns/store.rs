//! Campaigns and their members in the main database.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{CampaignError, in_holdout};

/// What the operator sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignFields {
    pub name: String,
    pub segment_id: i64,
    pub offer_id: i64,
    pub email: bool,
    pub subject: String,
    pub body: String,
    pub banner: bool,
    pub banner_text: String,
    pub holdout_percent: u32,
    pub frequency_cap_days: u32,
    pub send_at: i64,
    pub ends_at: i64,
}

impl CampaignFields {
    pub fn check(&self) -> Result<(), CampaignError> {
        let bad = |m: &str| Err(CampaignError::Invalid(m.into()));
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return bad("a campaign's name is 1 to 100 characters");
        }
        if !self.email && !self.banner {
            return bad("send the offer by email, as a banner, or both");
        }
        if self.email && (self.subject.trim().is_empty() || !self.body.contains("{{link}}")) {
            return bad("an email needs a subject and a body with {{link}} in it");
        }
        if self.subject.len() > 200 || self.body.len() > 20_000 || self.banner_text.len() > 300 {
            return bad("the subject is at most 200 bytes, the body 20,000, the banner 300");
        }
        if self.banner && self.banner_text.trim().is_empty() {
            return bad("a banner needs its text");
        }
        if self.holdout_percent > 50 {
            return bad("the holdout is 0 to 50 %");
        }
        if self.frequency_cap_days > 365 {
            return bad("the frequency cap is 0 to 365 days");
        }
        if self.ends_at <= self.send_at {
            return bad("the campaign ends after it is sent");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    pub id: i64,
    #[serde(flatten)]
    pub fields: CampaignFields,
    /// `scheduled`, `sending` or `sent`.
    pub status: String,
    pub sent_at: Option<i64>,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, segment_id, offer_id, email, subject, body, banner, banner_text,
                       holdout_percent, frequency_cap_days, send_at, ends_at, status, sent_at,
                       updated_at";

fn campaign(r: &Row) -> rusqlite::Result<Campaign> {
    Ok(Campaign {
        id: r.get(0)?,
        fields: CampaignFields {
            name: r.get(1)?,
            segment_id: r.get(2)?,
            offer_id: r.get(3)?,
            email: r.get(4)?,
            subject: r.get(5)?,
            body: r.get(6)?,
            banner: r.get(7)?,
            banner_text: r.get(8)?,
            holdout_percent: r.get(9)?,
            frequency_cap_days: r.get(10)?,
            send_at: r.get(11)?,
            ends_at: r.get(12)?,
        },
        status: r.get(13)?,
        sent_at: r.get(14)?,
        updated_at: r.get(15)?,
    })
}

pub fn list(conn: &Connection) -> Result<Vec<Campaign>, CampaignError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM campaigns ORDER BY send_at DESC, id DESC"
    ))?;
    let rows = stmt.query_map([], campaign)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, id: i64) -> Result<Campaign, CampaignError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM campaigns WHERE id = ?1"),
        [id],
        campaign,
    )
    .optional()?
    .ok_or(CampaignError::NotFound)
}

/// Saves a new campaign or changes one. A campaign that went out keeps its audience; its
/// texts, banner and end can still change (the caller records the change in the audit log).
pub fn save(
    tx: &Connection,
    id: Option<i64>,
    fields: &CampaignFields,
    now: i64,
) -> Result<i64, CampaignError> {
    let current = id.map(|id| get(tx, id)).transpose()?;
    // A campaign that went out keeps what fixed its audience; the rest may change.
    let merged;
    let f = match &current {
        Some(c) if c.status != "scheduled" => {
            merged = CampaignFields {
                segment_id: c.fields.segment_id,
                offer_id: c.fields.offer_id,
                holdout_percent: c.fields.holdout_percent,
                send_at: c.fields.send_at,
                ..fields.clone()
            };
            &merged
        }
        _ => fields,
    };
    f.check()?;
    let unchanged = current
        .as_ref()
        .is_some_and(|c| c.fields.segment_id == f.segment_id && c.fields.offer_id == f.offer_id);
    if !unchanged {
        check_segment_and_offer(tx, f)?;
    }
    let values: [&dyn rusqlite::ToSql; 13] = [
        &f.name.trim(),
        &f.segment_id,
        &f.offer_id,
        &f.email,
        &f.subject.trim(),
        &f.body,
        &f.banner,
        &f.banner_text.trim(),
        &f.holdout_percent,
        &f.frequency_cap_days,
        &f.send_at,
        &f.ends_at,
        &now,
    ];
    match id {
        None => {
            tx.execute(
                "INSERT INTO campaigns (name, segment_id, offer_id, email, subject, body, banner,
                     banner_text, holdout_percent, frequency_cap_days, send_at, ends_at,
                     created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
                values.as_slice(),
            )?;
            Ok(tx.last_insert_rowid())
        }
        Some(id) => {
            let mut with_id = values.to_vec();
            with_id.push(&id);
            tx.execute(
                "UPDATE campaigns SET name = ?1, segment_id = ?2, offer_id = ?3, email = ?4,
                     subject = ?5, body = ?6, banner = ?7, banner_text = ?8,
                     holdout_percent = ?9, frequency_cap_days = ?10, send_at = ?11,
                     ends_at = ?12, updated_at = ?13
                 WHERE id = ?14",
                with_id.as_slice(),
            )?;
            Ok(id)
        }
    }
}

/// A campaign's segment must say who (an empty filter is every member) and be readable;
/// its offer must be a retention offer without a code (a code could reach the holdout).
fn check_segment_and_offer(tx: &Connection, f: &CampaignFields) -> Result<(), CampaignError> {
    let filter: Option<String> = tx
        .query_row(
            "SELECT filter FROM segments WHERE id = ?1",
            [f.segment_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(filter) = filter else {
        return Err(CampaignError::Invalid("no such segment".into()));
    };
    match serde_json::from_str::<crate::analytics::segments::Filter>(&filter) {
        Ok(f) if !f.conditions.is_empty() => {}
        Ok(_) => {
            return Err(CampaignError::Invalid(
                "the segment has no conditions (it is every member): choose one that says who"
                    .into(),
            ));
        }
        Err(_) => return Err(CampaignError::Invalid("the segment cannot be read".into())),
    }
    let offer: Option<(String, Option<String>)> = tx
        .query_row(
            "SELECT audience, code FROM offers WHERE id = ?1 AND archived_at IS NULL",
            [f.offer_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match offer {
        None => Err(CampaignError::Invalid("no such offer".into())),
        Some((audience, _)) if audience == "new" => Err(CampaignError::Invalid(
            "a campaign's offer is for existing members (a retention offer)".into(),
        )),
        Some((_, Some(code))) if !code.is_empty() => Err(CampaignError::Invalid(
            "a campaign's offer has no code: anyone with the code could take it, the holdout too; make one without a code".into(),
        )),
        Some(_) => Ok(()),
    }
}

/// Ends a campaign now: the banner goes and the links stop.
pub fn end_now(tx: &Connection, id: i64, now: i64) -> Result<(), CampaignError> {
    let n = tx.execute(
        "UPDATE campaigns SET ends_at = min(ends_at, ?2), updated_at = ?2
         WHERE id = ?1 AND status != 'scheduled'",
        params![id, now],
    )?;
    if n == 0 {
        return Err(CampaignError::Invalid(
            "only a campaign that went out can end".into(),
        ));
    }
    Ok(())
}

/// Campaigns due to go out (or left halfway by a crash), oldest first.
pub fn due(conn: &Connection, now: i64) -> Result<Vec<Campaign>, CampaignError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM campaigns
         WHERE status IN ('scheduled', 'sending') AND send_at <= ?1 ORDER BY send_at, id"
    ))?;
    let rows = stmt.query_map([now], campaign)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Target,
    Holdout,
    Capped,
}

impl Group {
    fn as_str(self) -> &'static str {
        match self {
            Group::Target => "target",
            Group::Holdout => "holdout",
            Group::Capped => "capped",
        }
    }
}

/// Fixes a campaign's audience from `members` (its segment now): each lands in the
/// holdout, is skipped for the frequency cap, or becomes a target with a personal link.
/// Members chosen already (a send resumed after a crash) keep their place. Marks the
/// campaign as sending.
pub fn choose(
    tx: &Connection,
    campaign: &Campaign,
    members: &[i64],
    now: i64,
    token: impl Fn() -> String,
) -> Result<(), CampaignError> {
    let f = &campaign.fields;
    let cap_from = now - i64::from(f.frequency_cap_days) * 86_400;
    for &user in members {
        let chosen: bool = tx.query_row(
            "SELECT count(*) FROM campaign_members WHERE campaign_id = ?1 AND user_id = ?2",
            params![campaign.id, user],
            |r| r.get(0),
        )?;
        if chosen {
            continue;
        }
        // Left out of both groups first, so the holdout and the targets stay alike:
        // members contacted lately, and the holdout of a live campaign (which must stay
        // untouched for its report).
        let recent: bool = tx.query_row(
            "SELECT count(*) FROM campaign_members m JOIN campaigns c ON c.id = m.campaign_id
             WHERE m.user_id = ?1 AND m.campaign_id != ?3
               AND ((?4 > 0 AND m.contacted_at >= ?2)
                    OR (m.grp = 'holdout' AND c.ends_at > ?5))",
            params![user, cap_from, campaign.id, f.frequency_cap_days, now],
            |r| r.get(0),
        )?;
        let group = if recent {
            Group::Capped
        } else if in_holdout(campaign.id, user, f.holdout_percent) {
            Group::Holdout
        } else {
            Group::Target
        };
        let period_end: Option<i64> = tx
            .query_row(
                "SELECT max(period_end) FROM subscriptions
                 WHERE user_id = ?1 AND status != 'ended' AND period_end > ?2",
                params![user, now],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        tx.execute(
            "INSERT INTO campaign_members (campaign_id, user_id, grp, token, period_end,
                                           contacted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                campaign.id,
                user,
                group.as_str(),
                (group == Group::Target).then(&token),
                period_end,
                // Counted as contacted when chosen, so a campaign due at the same moment
                // cannot pick them too while their email waits.
                (group == Group::Target).then_some(now)
            ],
        )?;
    }
    tx.execute(
        "UPDATE campaigns SET status = 'sending', updated_at = ?2 WHERE id = ?1 AND status = 'scheduled'",
        params![campaign.id, now],
    )?;
    Ok(())
}

/// A target still to be emailed.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub token: String,
}

/// Targets not emailed yet, who have not opted out of campaign email.
pub fn unsent(conn: &Connection, campaign_id: i64) -> Result<Vec<Recipient>, CampaignError> {
    let mut stmt = conn.prepare(
        "SELECT u.id, u.email, u.display_name, m.token FROM campaign_members m
         JOIN users u ON u.id = m.user_id
         WHERE m.campaign_id = ?1 AND m.grp = 'target' AND m.emailed_at IS NULL
           AND m.email_failed_at IS NULL
           AND u.disabled_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM email_opt_outs o WHERE o.user_id = u.id)
         ORDER BY u.id",
    )?;
    let rows = stmt.query_map([campaign_id], |r| {
        Ok(Recipient {
            user_id: r.get(0)?,
            email: r.get(1)?,
            name: r.get(2)?,
            token: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn mark_emailed(
    tx: &Connection,
    campaign_id: i64,
    user_id: i64,
    now: i64,
) -> Result<(), CampaignError> {
    tx.execute(
        "UPDATE campaign_members SET emailed_at = ?3, contacted_at = coalesce(contacted_at, ?3)
         WHERE campaign_id = ?1 AND user_id = ?2",
        params![campaign_id, user_id, now],
    )?;
    Ok(())
}

/// The SMTP server refused the member's address for good.
pub fn mark_email_failed(
    tx: &Connection,
    campaign_id: i64,
    user_id: i64,
    now: i64,
) -> Result<(), CampaignError> {
    tx.execute(
        "UPDATE campaign_members SET email_failed_at = ?3 WHERE campaign_id = ?1 AND user_id = ?2",
        params![campaign_id, user_id, now],
    )?;
    Ok(())
}

pub fn mark_sent(tx: &Connection, campaign_id: i64, now: i64) -> Result<(), CampaignError> {
    tx.execute(
        "UPDATE campaigns SET status = 'sent', sent_at = ?2, updated_at = ?2 WHERE id = ?1",
        params![campaign_id, now],
    )?;
    Ok(())
}

/// A personal link, as its member uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub campaign: Campaign,
    pub user_id: i64,
    pub redeemed_at: Option<i64>,
}

/// The target a link names; holdout and skipped members have no link.
pub fn by_token(conn: &Connection, token: &str) -> Result<Option<Chosen>, CampaignError> {
    let found: Option<(i64, i64, Option<i64>)> = conn
        .query_row(
            "SELECT campaign_id, user_id, redeemed_at FROM campaign_members
             WHERE token = ?1 AND grp = 'target'",
            [token],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((campaign_id, user_id, redeemed_at)) = found else {
        return Ok(None);
    };
    Ok(Some(Chosen {
        campaign: get(conn, campaign_id)?,
        user_id,
        redeemed_at,
    }))
}

pub fn mark_opened(tx: &Connection, token: &str, now: i64) -> Result<(), CampaignError> {
    tx.execute(
        "UPDATE campaign_members SET opened_at = coalesce(opened_at, ?2),
                                     contacted_at = coalesce(contacted_at, ?2)
         WHERE token = ?1",
        params![token, now],
    )?;
    Ok(())
}

pub fn mark_redeemed(tx: &Connection, token: &str, now: i64) -> Result<bool, CampaignError> {
    Ok(tx.execute(
        "UPDATE campaign_members SET redeemed_at = ?2, opened_at = coalesce(opened_at, ?2)
         WHERE token = ?1 AND redeemed_at IS NULL",
        params![token, now],
    )? == 1)
}

pub fn opt_out(tx: &Connection, user_id: i64, now: i64) -> Result<(), CampaignError> {
    tx.execute(
        "INSERT OR IGNORE INTO email_opt_outs (user_id, at) VALUES (?1, ?2)",
        params![user_id, now],
    )?;
    Ok(())
}

/// The banner a signed-in member should see now: the newest live campaign with a banner
/// that chose them and whose offer they have not taken.
pub fn banner_for(
    conn: &Connection,
    user_id: i64,
    now: i64,
) -> Result<Option<(String, String)>, CampaignError> {
    Ok(conn
        .query_row(
            "SELECT c.banner_text, m.token FROM campaign_members m
             JOIN campaigns c ON c.id = m.campaign_id
             WHERE m.user_id = ?1 AND m.grp = 'target' AND m.redeemed_at IS NULL
               AND c.banner = 1 AND c.status IN ('sending', 'sent') AND c.ends_at > ?2
             ORDER BY c.send_at DESC LIMIT 1",
            params![user_id, now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}
