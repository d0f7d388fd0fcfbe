//! The `[analytics]` table: how long playback events are kept as they came, and how many
//! the server stores a second across all players.

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Days raw playback events are kept in `events.db`; the hourly and daily rollups the
    /// dashboards read are kept for good.
    pub raw_retention_days: u32,
    /// Playback events stored per second across all senders (a player sends about one
    /// every ten seconds); past it, and past `events_burst` at once, events are answered
    /// as taken but not stored, so no number of addresses can fill the disk quickly.
    pub events_per_second: u32,
    /// Events that may be stored at once before `events_per_second` applies.
    pub events_burst: u32,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            raw_retention_days: 90,
            events_per_second: 2_000,
            events_burst: 20_000,
        }
    }
}

pub const RAW_RETENTION_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;
pub const EVENTS_PER_SECOND: std::ops::RangeInclusive<u32> = 1..=1_000_000;
/// At least one full batch (100 events).
pub const EVENTS_BURST: std::ops::RangeInclusive<u32> = 100..=10_000_000;

impl AnalyticsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !RAW_RETENTION_DAYS.contains(&self.raw_retention_days) {
            return Err(ConfigError::Invalid(
                "analytics.raw_retention_days must be 1 to 3650".into(),
            ));
        }
        if !EVENTS_PER_SECOND.contains(&self.events_per_second) {
            return Err(ConfigError::Invalid(
                "analytics.events_per_second must be 1 to 1000000".into(),
            ));
        }
        if !EVENTS_BURST.contains(&self.events_burst) {
            return Err(ConfigError::Invalid(
                "analytics.events_burst must be 100 to 10000000".into(),
            ));
        }
        Ok(())
    }
}
