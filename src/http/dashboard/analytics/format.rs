//! How the analytics figures are written for people, and the chart and headline builders.

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

pub(super) fn hours(secs: i64) -> String {
    format!("{:.1} h", secs as f64 / 3600.0)
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
    Chart {
        id: id.into(),
        title: title.into(),
        kind: "time",
        unit,
        x: range.each_day().map(|d| d as f64).collect(),
        labels: Vec::new(),
        series,
    }
}

pub(super) fn series(label: &str, values: Vec<Option<f64>>, previous: bool) -> Series {
    Series {
        label: label.into(),
        values,
        previous,
    }
}
