//! Keeps the personal rails' data fresh (`catalog::recommend`). Every few seconds it takes
//! in the finishes since its mark and works out again the neighbours of the titles they
//! touch, a few titles per write so the one writer is never held long; every 10 minutes it
//! works out trending from the daily rollups. A crash before the mark moves only means the
//! same titles are worked out again.

use std::sync::Arc;
use std::time::Duration;

use crate::analytics::intake::Intake;
use crate::analytics::report::{self, EventsReader, Range};
use crate::catalog::{CatalogError, recommend};
use crate::clock;
use crate::db::Db;

/// How often finishes are looked for.
const TICK: Duration = Duration::from_secs(5);
/// How old the trending list may get.
const TRENDING_EVERY_SECS: i64 = 600;
/// Titles worked out per write transaction.
const TITLES_PER_WRITE: usize = 20;
/// Played titles read from the rollups for trending (episodes count towards their series).
const TRENDING_CANDIDATES: u32 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Analytics(#[from] crate::analytics::AnalyticsError),
}

pub struct RecommendationRefresher {
    db: Db,
    events: Arc<EventsReader>,
    intake: Arc<Intake>,
}

impl RecommendationRefresher {
    pub fn new(db: Db, events: Arc<EventsReader>, intake: Arc<Intake>) -> Self {
        RecommendationRefresher { db, events, intake }
    }

    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.refresh_neighbours().await {
                tracing::warn!(error = %e, "co-watched titles could not be refreshed");
            }
            if let Err(e) = self.refresh_trending().await {
                tracing::warn!(error = %e, "trending titles could not be refreshed");
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Takes in the finishes since the mark; returns how many titles were worked out.
    pub async fn refresh_neighbours(&self) -> Result<usize, RefreshError> {
        let mark = self.db.read(recommend::finished_mark).await?;
        let (changed, new_mark) = self
            .db
            .read(move |c| recommend::changed_since(c, mark))
            .await?;
        for chunk in changed.chunks(TITLES_PER_WRITE) {
            let chunk = chunk.to_vec();
            let worked_out = self
                .db
                .read(move |c| {
                    chunk
                        .into_iter()
                        .map(|t| Ok((recommend::neighbours_of(c, &t)?, t)))
                        .collect::<Result<Vec<_>, CatalogError>>()
                })
                .await?;
            self.db
                .write(move |tx| {
                    for (neighbours, title) in &worked_out {
                        recommend::keep_neighbours(tx, title, neighbours)?;
                    }
                    Ok::<_, CatalogError>(())
                })
                .await?;
        }
        if new_mark != mark {
            self.db
                .write(move |tx| recommend::set_finished_mark(tx, new_mark))
                .await?;
        }
        if !changed.is_empty() {
            tracing::debug!(titles = changed.len(), "co-watched titles refreshed");
        }
        Ok(changed.len())
    }

    /// Works out trending again when it is 10 minutes old; returns whether the list
    /// changed.
    pub async fn refresh_trending(&self) -> Result<bool, RefreshError> {
        let now = clock::now();
        let at = self.db.read(recommend::trending_at).await?;
        if (at..at + TRENDING_EVERY_SECS).contains(&now) {
            return Ok(false);
        }
        let intake = self.intake.clone();
        let _ = tokio::task::spawn_blocking(move || intake.sync(Duration::from_secs(2))).await;
        let plays: Vec<(String, i64)> = self
            .events
            .read(move |c| report::top_titles(c, Range::last_days(now, 7), TRENDING_CANDIDATES))
            .await?
            .into_iter()
            .map(|(title, audience)| (title, audience.plays))
            .collect();
        Ok(self
            .db
            .write(move |tx| recommend::keep_trending(tx, &plays, now))
            .await?)
    }
}
