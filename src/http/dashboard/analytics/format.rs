//! How the analytics figures are written for people, and the chart and headline builders.

use serde::Serialize;

use super::{Chart, Kpi, Series};
use crate::analytics::report::Range;

pub(super) fn count(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

pub(super) fn percent(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0))
}

pub(super) fn millis(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(ms) if ms < 1000.0 => format!("{ms:.0} ms"),
        Some(ms) => format!("{:.2} s", ms / 1000.0),
    }
}

/// The unit watch time is written in for this many seconds: minutes under an hour, else
/// hours, with how many seconds one of it is.
pub(super) fn watch_unit(secs: f64) -> (f64, &'static str) {
    if secs < 3600.0 {
        (60.0, "min")
    } else {
        (3600.0, "h")
    }
}

/// Watch time as people read it: "< 1 min", "12 min", "1.5 h", "1,250 h". The one way
/// watch time is written, in headlines and tables.
pub(super) fn watch_time(secs: i64) -> String {
    let secs = secs.max(0) as f64;
    if secs > 0.0 && secs < 60.0 {
        return "< 1 min".into();
    }
    let (size, unit) = watch_unit(secs);
    let amount = secs / size;
    if unit == "h" && amount < 100.0 {
        // 1.5 h, but 2 h rather than 2.0 h.
        let text = format!("{amount:.1}");
        format!("{} h", text.strip_suffix(".0").unwrap_or(&text))
    } else {
        format!("{} {unit}", count(amount.round() as i64))
    }
}

/// An axis drawn as the page says: where its ticks are and what each reads.
#[derive(Serialize, Debug, Default)]
pub(super) struct Axis {
    pub(super) ticks: Vec<f64>,
    pub(super) labels: Vec<String>,
}

/// About this many steps from 0 to the largest value.
const AXIS_STEPS: f64 = 4.0;
/// Time axes name at most this many days.
const MOST_DAY_TICKS: usize = 7;

/// A value axis from 0 to just above the largest value, at a round step (1, 2 or 5 times a
/// power of ten; at least 1 when every value is whole, as counts are), each label with the
/// decimals the step needs: no two labels read the same, however small the values.
pub(super) fn value_axis(values: &[f64], unit: &str) -> Axis {
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let whole = values.iter().all(|v| v.fract() == 0.0);
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / AXIS_STEPS;
    let power = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * power);
    if whole {
        step = step.max(1.0);
    }
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let scale = 10f64.powi(decimals as i32);
    let steps = (max / step - 1e-9).ceil().max(1.0) as usize;
    let ticks: Vec<f64> = (0..=steps)
        .map(|i| (i as f64 * step * scale).round() / scale)
        .collect();
    let suffix = match unit {
        "" => String::new(),
        "%" => " %".into(),
        unit => format!(" {unit}"),
    };
    let labels = ticks
        .iter()
        .map(|t| match decimals {
            0 => format!("{}{suffix}", count(t.round() as i64)),
            d => format!("{t:.d$}{suffix}"),
        })
        .collect();
    Axis { ticks, labels }
}

/// A time axis over `days` (Unix seconds of each UTC day): every day, or every few so at
/// most `MOST_DAY_TICKS` are named, each short ("8 Dec"), with its year when the ticks
/// span more than one.
pub(super) fn day_axis(days: &[f64]) -> Axis {
    let every = days.len().div_ceil(MOST_DAY_TICKS).max(1);
    let ticks: Vec<f64> = days.iter().copied().step_by(every).collect();
    let dates: Vec<time::Date> = ticks
        .iter()
        .map(|d| {
            time::OffsetDateTime::from_unix_timestamp(*d as i64)
                .map(|t| t.date())
                .unwrap_or(time::Date::MIN)
        })
        .collect();
    let years = |d: &time::Date| d.year();
    let one_year = dates.first().map(years) == dates.last().map(years);
    let labels = dates
        .iter()
        .map(|d| {
            let month = d.month().to_string();
            let month = month.get(..3).unwrap_or(&month);
            if one_year {
                format!("{} {month}", d.day())
            } else {
                format!("{} {month} {}", d.day(), d.year())
            }
        })
        .collect();
    Axis { ticks, labels }
}

pub(super) fn money(minor: Option<f64>, currency: &str) -> String {
    minor.map_or("–".into(), |m| {
        crate::http::watch::money(m.round() as i64, currency)
    })
}

pub(super) fn bitrate(bps: Option<f64>) -> String {
    bps.map_or("–".into(), |b| format!("{:.0} kbit/s", b / 1000.0))
}

/// The change from `previous` to `current`, as people read it.
pub(super) fn change(current: f64, previous: f64) -> Option<String> {
    if previous == 0.0 {
        return (current != 0.0).then(|| "new".into());
    }
    let c = (current - previous) / previous.abs() * 100.0;
    Some(format!("{}{c:.0} %", if c >= 0.0 { "+" } else { "" }))
}

pub(super) fn kpi(label: &'static str, now: (f64, String), before: Option<(f64, String)>) -> Kpi {
    Kpi {
        label,
        value: now.1,
        change: before.as_ref().and_then(|(v, _)| change(now.0, *v)),
        previous: before.map(|(_, text)| text),
    }
}

pub(super) fn time_chart(
    id: &str,
    title: &str,
    unit: &'static str,
    range: Range,
    series: Vec<Series>,
) -> Chart {
    let x: Vec<f64> = range.each_day().map(|d| d as f64).collect();
    Chart {
        id: id.into(),
        title: title.into(),
        kind: "time",
        unit,
        x_axis: Some(day_axis(&x)),
        x,
        labels: Vec::new(),
        series,
        ..Chart::default()
    }
}

/// Every value the series draw, for their axis.
pub(super) fn all_values(series: &[Series]) -> Vec<f64> {
    series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .collect()
}

pub(super) fn series(label: &str, values: Vec<Option<f64>>, previous: bool) -> Series {
    Series {
        label: label.into(),
        values,
        previous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_time_fits_minutes_or_hours() {
        assert_eq!(watch_time(0), "0 min");
        assert_eq!(watch_time(30), "< 1 min");
        assert_eq!(watch_time(749), "12 min");
        assert_eq!(watch_time(5400), "1.5 h");
        assert_eq!(watch_time(7200), "2 h");
        assert_eq!(watch_time(4_500_000), "1,250 h");
    }

    #[test]
    fn axis_labels_never_repeat() {
        for (values, unit) in [
            (vec![0.0, 0.01, 0.003], "min"),
            (vec![0.5], "min"),
            (vec![1.0, 0.0], ""),
            (vec![0.0], ""),
            (vec![2.4, 17.0], "%"),
            (vec![123_456.0], ""),
            (vec![0.000_2], "h"),
        ] {
            let axis = value_axis(&values, unit);
            let mut labels = axis.labels.clone();
            labels.sort();
            labels.dedup();
            assert_eq!(labels.len(), axis.labels.len(), "{values:?}: {axis:?}");
            assert!(axis.ticks.len() >= 2, "{axis:?}");
            let top = *axis.ticks.last().unwrap();
            assert!(values.iter().all(|v| *v <= top), "{values:?}: {axis:?}");
        }
        assert_eq!(value_axis(&[1.0], "").labels, ["0", "1"]);
    }

    #[test]
    fn day_axes_name_a_few_days_once_each() {
        const DAY: f64 = 86_400.0;
        // 2026-12-01 and the 28 days from it; then 400 days, across two years.
        let from = 1_796_083_200.0;
        let days: Vec<f64> = (0..28).map(|i| from + i as f64 * DAY).collect();
        let axis = day_axis(&days);
        assert_eq!(axis.labels.first().map(String::as_str), Some("1 Dec"));
        assert!(axis.labels.len() <= MOST_DAY_TICKS);
        let days: Vec<f64> = (0..400).map(|i| from + i as f64 * DAY).collect();
        let axis = day_axis(&days);
        assert_eq!(axis.labels[0], "1 Dec 2026");
        let mut labels = axis.labels.clone();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), axis.labels.len(), "{axis:?}");
    }
}
