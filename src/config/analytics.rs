//! The `[analytics]` table: how long playback events are kept as they came.

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Days raw playback events are kept in `events.db`; the hourly and daily rollups the
    /// dashboards read are kept for good.
    pub raw_retention_days: u32,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            raw_retention_days: 90,
        }
    }
}

pub const RAW_RETENTION_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;

impl AnalyticsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !RAW_RETENTION_DAYS.contains(&self.raw_retention_days) {
            return Err(ConfigError::Invalid(
                "analytics.raw_retention_days must be 1 to 3650".into(),
            ));
        }
        Ok(())
    }
}
