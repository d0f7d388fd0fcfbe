//! "Play this title": the entitlement engine's answer for this viewer now, and with a yes,
//! the pass the player fetches with (the public path for free media, else a token the
//! origin's gate mints until the earlier of its lifetime and the end of the viewer's
//! access). The watch page, its token refresh and the API all come through here.

use std::sync::Arc;

use crate::access::entitlement::{self, Basis, Decision, Reason, TitleAccess};
use crate::access::level::AccessLevel;
use crate::access::media::PlayDecision;
use crate::access::{AccessError, store};
use crate::config::PaywallConfig;
use crate::db::Db;
use crate::playback::decisions::RecentDecision;
use crate::playback::streams::Streams;
use crate::playback::token::ViewerTag;
use crate::playback::{Origin, Pass};
use rusqlite::OptionalExtension;

/// Who asks: the signed-in account and the session its player will fetch with.
#[derive(Debug, Clone, Copy)]
pub struct Asker {
    pub user_id: Option<i64>,
    pub viewer: Option<ViewerTag>,
}

#[derive(Debug, Clone)]
pub enum PlayAnswer {
    Allowed {
        pass: Pass,
        /// When access ends, if it does.
        until: Option<i64>,
        basis: Basis,
    },
    Denied(Refusal),
}

/// A refusal and the title whose level gave it: the played title, or another paid title
/// that plays the same media (`access::media`). Its remedies are that title's, so whatever
/// the viewer buys or redeems to get in is for it.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub decision: Decision,
    /// The title whose access the viewer needs (checkout names it).
    pub title: TitleAccess,
    /// That title's name when it is another title and out now, for the page to say whose
    /// access is needed (a draft's or a scheduled title's name is not shown to viewers).
    pub other_name: Option<String>,
}

/// Why a player's progress report was not kept.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The viewer may not play the title now, so it is not theirs to have watched.
    #[error("progress is kept only for titles you may play: {}", .0.sentence())]
    NotAllowed(Reason),
}

pub struct PlaybackService {
    db: Db,
    origin: Arc<Origin>,
}

impl PlaybackService {
    pub fn new(db: Db, origin: Arc<Origin>) -> Self {
        PlaybackService { db, origin }
    }

    /// Players running now (heartbeats, tokens handed out, the origin's own traffic).
    pub fn streams(&self) -> &Streams {
        &self.origin.streams
    }

    /// What the engine says about `title_id` for `user_id` at `now`, counting the players
    /// of the account running outside `session`, without starting anything (the
    /// dashboard's diagnostic passes no session: every player counts). Per media: every
    /// paid title playing the same media must let the viewer in (`access::media`); the
    /// title returned is the one whose answer it is.
    pub async fn decision(
        &self,
        title_id: &str,
        user_id: Option<i64>,
        session: Option<ViewerTag>,
        paywall: &PaywallConfig,
        now: i64,
    ) -> Result<Option<(entitlement::TitleAccess, Decision)>, AccessError> {
        Ok(self
            .play_decision(title_id, None, user_id, session, paywall, now)
            .await?
            .map(|d| (d.title, d.decision)))
    }

    /// With `for_asset`, the media a pass is about to be made for: `None` when the title
    /// no longer plays it.
    async fn play_decision(
        &self,
        title_id: &str,
        for_asset: Option<&str>,
        user_id: Option<i64>,
        session: Option<ViewerTag>,
        paywall: &PaywallConfig,
        now: i64,
    ) -> Result<Option<PlayDecision>, AccessError> {
        let policy = store::policy(paywall);
        let title_id = title_id.to_owned();
        let for_asset = for_asset.map(str::to_owned);
        let elsewhere = user_id.map_or(0, |u| self.streams().elsewhere(u, session, now));
        self.db
            .read(move |c| {
                // One snapshot for every read, so the titles and media decided on are
                // those of one moment, whatever editors change meanwhile.
                let snapshot = c.unchecked_transaction()?;
                let viewer = store::viewer_state(&snapshot, user_id, elsewhere)?;
                store::decide_play(
                    &snapshot,
                    &title_id,
                    for_asset.as_deref(),
                    &viewer,
                    &policy,
                    now,
                )
            })
            .await
    }

    /// May `asker` play `title_id` now: the pass's answer, without minting a pass or
    /// starting anything (a progress report and a heartbeat ask it).
    async fn may_play(
        &self,
        title_id: &str,
        asker: Asker,
        paywall: &PaywallConfig,
        now: i64,
    ) -> Result<Decision, AccessError> {
        Ok(self
            .play_decision(title_id, None, asker.user_id, asker.viewer, paywall, now)
            .await?
            .ok_or_else(|| AccessError::NotFound(format!("title {title_id}")))?
            .decision)
    }

    /// A player's report of where the viewer is in `title_id`, kept only while the engine
    /// lets the viewer play it (the answer the pass got), so nothing they may not watch
    /// reaches "continue watching" or "because you watched". A title that is not out (a
    /// draft, a scheduled or an expired one) answers as missing.
    pub async fn save_progress(
        &self,
        title_id: &str,
        asker: Asker,
        paywall: &PaywallConfig,
        (position_secs, duration_secs): (f64, f64),
        now: i64,
    ) -> Result<(), ProgressError> {
        let user = asker
            .user_id
            .ok_or_else(|| AccessError::Invalid("sign in to keep your place".into()))?;
        match self.may_play(title_id, asker, paywall, now).await? {
            Decision::Allowed { .. } => {}
            Decision::Denied {
                reason: Reason::NotYetReleased { .. } | Reason::WindowClosed,
                ..
            } => {
                return Err(
                    crate::catalog::CatalogError::TitleNotFound(title_id.to_owned()).into(),
                );
            }
            Decision::Denied { reason, .. } => return Err(ProgressError::NotAllowed(reason)),
        }
        let id = title_id.to_owned();
        self.db
            .write(move |tx| {
                crate::catalog::progress::save(tx, user, &id, position_secs, duration_secs, now)
            })
            .await?;
        Ok(())
    }

    /// The passes asked for and the origin's token checks lately between `user_id` and
    /// `title_id` (support's diagnostic; kept in memory since the server started).
    pub async fn recent(
        &self,
        title_id: &str,
        user_id: i64,
    ) -> Result<Vec<RecentDecision>, AccessError> {
        let lookup = title_id.to_owned();
        let asset: Option<String> = self
            .db
            .read(move |c| {
                Ok::<_, AccessError>(
                    c.query_row(
                        "SELECT asset_id FROM titles WHERE id = ?1",
                        [&lookup],
                        |r| r.get(0),
                    )
                    .optional()?
                    .flatten(),
                )
            })
            .await?;
        Ok(self
            .origin
            .decisions
            .for_pair(user_id, title_id, asset.as_deref()))
    }

    /// May `asker` play `title_id` (which plays `asset_id`) now, and with what pass. A yes
    /// that starts a rental's window records the first play.
    pub async fn authorize(
        &self,
        title_id: &str,
        asset_id: &str,
        asker: Asker,
        paywall: &PaywallConfig,
        now: i64,
    ) -> Result<PlayAnswer, AccessError> {
        let Some(PlayDecision {
            title: decided_by,
            decision,
            paid,
            starts_rentals,
        }) = self
            .play_decision(
                title_id,
                Some(asset_id),
                asker.user_id,
                asker.viewer,
                paywall,
                now,
            )
            .await?
        else {
            return Err(AccessError::NotFound(format!("title {title_id}")));
        };
        let log = |what: String| {
            if let Some(user) = asker.user_id {
                self.origin
                    .decisions
                    .pass(now, user, asker.viewer, title_id, what);
            }
        };
        let (until, basis) = match decision {
            Decision::Allowed { until, basis, .. } => (until, basis),
            denied => {
                if let Decision::Denied { reason, .. } = &denied {
                    log(format!("no pass: {}", reason.sentence()));
                }
                let other = decided_by.asked_about().to_owned();
                let out_now = crate::catalog::visibility::is_within(
                    decided_by.live_from,
                    decided_by.live_until,
                    now,
                );
                let other_name = match other != title_id && out_now {
                    false => None,
                    true => {
                        self.db
                            .read(move |c| {
                                c.query_row(
                                    "SELECT name FROM titles WHERE id = ?1",
                                    [&other],
                                    |r| r.get::<_, String>(0),
                                )
                                .optional()
                                .map_err(AccessError::from)
                            })
                            .await?
                    }
                };
                return Ok(PlayAnswer::Denied(Refusal {
                    decision: denied,
                    title: decided_by,
                    other_name,
                }));
            }
        };
        if basis == Basis::Free {
            log("the public path: free to watch".into());
            return Ok(PlayAnswer::Allowed {
                pass: Pass::Public,
                until,
                basis,
            });
        }
        // Every level but public needs a signed-in viewer, so a session is there.
        let (Some(user), Some(viewer)) = (asker.user_id, asker.viewer) else {
            return Err(AccessError::Invalid("sign in to play this".into()));
        };
        if !starts_rentals.is_empty() {
            self.db
                .write(move |tx| {
                    for owner in &starts_rentals {
                        store::start_rental(tx, user, owner, now)?;
                    }
                    Ok::<_, AccessError>(())
                })
                .await?;
        }
        // The shortest lifetime of the risk classes of the paid titles that let the viewer in.
        let ttl = paid
            .iter()
            .map(|t| match t.level {
                AccessLevel::Purchase { .. } | AccessLevel::PayPerView { .. } => {
                    paywall.purchase_token_ttl_secs
                }
                _ => paywall.token_ttl_secs,
            })
            .min()
            .map_or(i64::from(paywall.token_ttl_secs), i64::from);
        let expires_at = until.map_or(now + ttl, |u| u.min(now + ttl));
        let pass = self.origin.gate.mint(asset_id, viewer, expires_at);
        log(format!(
            "a token for {} s, on the basis of {}",
            expires_at - now,
            basis.words()
        ));
        // A player with a token counts as running from now, heartbeat or not; the origin
        // keeps it counted while it fetches.
        self.streams().beat(user, viewer, title_id, now);
        Ok(PlayAnswer::Allowed { pass, until, basis })
    }

    /// A staff member's preview of `asset_id`, which no live title plays yet: a token for
    /// their session and a grant the origin serves the package under
    /// (`playback::previews`), for the members' token lifetime. The caller has checked
    /// that their role reads the catalog.
    pub fn preview(
        &self,
        asset_id: &str,
        manifest: crate::media::PackageManifest,
        viewer: ViewerTag,
        paywall: &PaywallConfig,
        now: i64,
    ) -> Pass {
        let expires_at = now + i64::from(paywall.token_ttl_secs);
        self.origin
            .previews
            .grant(viewer, asset_id, manifest, expires_at);
        self.origin.gate.mint(asset_id, viewer, expires_at)
    }

    /// A player's heartbeat: still allowed (counting the account's other players), it is
    /// counted as running; refused, the answer says why and the player stops.
    pub async fn heartbeat(
        &self,
        title_id: &str,
        asker: Asker,
        paywall: &PaywallConfig,
        now: i64,
    ) -> Result<Decision, AccessError> {
        let (Some(user), Some(session)) = (asker.user_id, asker.viewer) else {
            return Err(AccessError::Invalid("sign in to play this".into()));
        };
        let decision = self.may_play(title_id, asker, paywall, now).await?;
        // Free plays take no stream.
        if matches!(&decision, Decision::Allowed { basis, .. } if *basis != Basis::Free) {
            self.streams().beat(user, session, title_id, now);
        }
        Ok(decision)
    }
}
