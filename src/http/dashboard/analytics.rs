//! `/admin/analytics`: the operator's figures, one tab each for the audience, content,
//! quality, business and the funnel, over a range of days with the previous period beside
//! it. Numbers people would rather see as a line or a bar are drawn (uPlot, from the JSON
//! the page carries); every table can be downloaded as CSV
//! (`/admin/analytics/export.csv`), built from the same figures the page shows.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};

use super::audit::day_start;
use super::render;
use crate::accounts::roles::{Permission, perm};
use crate::analytics::business::{self, Business};
use crate::analytics::report::{self, Audience, Breakdown, DAY, Quality, Range};
use crate::http::AppState;
use crate::http::session::{Admin, PageError};

/// The longest range one page reads.
const MAX_DAYS: i64 = 731;
const DEFAULT_DAYS: i64 = 28;
const TOP_TITLES: u32 = 50;

#[derive(Deserialize, Default)]
pub struct AnalyticsParams {
    #[serde(default)]
    tab: String,
    /// `YYYY-MM-DD` (UTC), inclusive.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// Anything but empty: show the previous period beside this one.
    #[serde(default)]
    compare: String,
    /// Content tab: the title whose drop-off curve is drawn.
    #[serde(default)]
    title: String,
    /// Export: which table.
    #[serde(default)]
    table: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Tab {
    Audience,
    Content,
    Quality,
    Business,
    Funnel,
}

impl Tab {
    const ALL: [Tab; 5] = [
        Tab::Audience,
        Tab::Content,
        Tab::Quality,
        Tab::Business,
        Tab::Funnel,
    ];

    fn parse(s: &str) -> Result<Tab, PageError> {
        Ok(match s {
            "" | "audience" => Tab::Audience,
            "content" => Tab::Content,
            "quality" => Tab::Quality,
            "business" => Tab::Business,
            "funnel" => Tab::Funnel,
            _ => return Err(PageError::BadRequest(format!("no tab {s:?}"))),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Tab::Audience => "audience",
            Tab::Content => "content",
            Tab::Quality => "quality",
            Tab::Business => "business",
            Tab::Funnel => "funnel",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Audience => "Audience",
            Tab::Content => "Content",
            Tab::Quality => "Quality",
            Tab::Business => "Business",
            Tab::Funnel => "Funnel",
        }
    }

    /// Money is for those who may read billing.
    fn permission(self) -> Permission {
        match self {
            Tab::Business | Tab::Funnel => Permission::BillingRead,
            _ => Permission::AnalyticsRead,
        }
    }
}

/// A headline figure, with the previous period's and the change.
#[derive(Serialize)]
struct Kpi {
    label: &'static str,
    value: String,
    previous: Option<String>,
    change: Option<String>,
}

#[derive(Serialize)]
struct Series {
    label: String,
    values: Vec<Option<f64>>,
    /// Drawn dashed: the previous period, shifted onto this one's days.
    previous: bool,
}

#[derive(Serialize)]
struct Chart {
    id: String,
    title: String,
    /// `time` (x is Unix seconds), `bars` (x is `labels`) or `share` (x is 0..100 %).
    kind: &'static str,
    unit: &'static str,
    x: Vec<f64>,
    labels: Vec<String>,
    series: Vec<Series>,
}

#[derive(Serialize, Default)]
struct Table {
    id: &'static str,
    title: String,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// Where each row's first cell links to, if anywhere (page only, not CSV).
    links: Vec<String>,
}

#[derive(Serialize, Default)]
struct View {
    kpis: Vec<Kpi>,
    charts: Vec<Chart>,
    tables: Vec<Table>,
    note: Option<String>,
}

fn day_text(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

fn range_of(params: &AnalyticsParams, now: i64) -> Result<Range, PageError> {
    let default = Range::last_days(now, DEFAULT_DAYS);
    let from = match params.from.trim() {
        "" => None,
        d => Some(day_start(d)?),
    };
    let to = match params.to.trim() {
        "" => None,
        d => Some(day_start(d)?),
    };
    let range = match (from, to) {
        (None, None) => default,
        (Some(from), None) => Range {
            from,
            to: default.to.max(from),
        },
        (None, Some(to)) => Range {
            from: to - (DEFAULT_DAYS - 1) * DAY,
            to,
        },
        (Some(from), Some(to)) => Range { from, to },
    };
    if range.to < range.from {
        return Err(PageError::BadRequest(
            "the range ends before it starts".into(),
        ));
    }
    if range.days() > MAX_DAYS {
        return Err(PageError::BadRequest(format!(
            "a range is at most {MAX_DAYS} days"
        )));
    }
    Ok(range)
}

fn count(n: i64) -> String {
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

fn percent(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0))
}

fn millis(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(ms) if ms < 1000.0 => format!("{ms:.0} ms"),
        Some(ms) => format!("{:.2} s", ms / 1000.0),
    }
}

fn hours(secs: i64) -> String {
    format!("{:.1} h", secs as f64 / 3600.0)
}

fn money(minor: Option<f64>, currency: &str) -> String {
    minor.map_or("–".into(), |m| {
        crate::http::watch::money(m.round() as i64, currency)
    })
}

fn bitrate(bps: Option<f64>) -> String {
    bps.map_or("–".into(), |b| format!("{:.0} kbit/s", b / 1000.0))
}

/// The change from `previous` to `current`, as people read it.
fn change(current: f64, previous: f64) -> Option<String> {
    if previous == 0.0 {
        return (current != 0.0).then(|| "new".into());
    }
    let c = (current - previous) / previous.abs() * 100.0;
    Some(format!("{}{c:.0} %", if c >= 0.0 { "+" } else { "" }))
}

fn kpi(label: &'static str, now: (f64, String), before: Option<(f64, String)>) -> Kpi {
    Kpi {
        label,
        value: now.1,
        change: before.as_ref().and_then(|(v, _)| change(now.0, *v)),
        previous: before.map(|(_, text)| text),
    }
}

fn time_chart(
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

fn series(label: &str, values: Vec<Option<f64>>, previous: bool) -> Series {
    Series {
        label: label.into(),
        values,
        previous,
    }
}

/// Builds the figures of `tab`; `compare` adds the previous period.
async fn build(
    state: &AppState,
    tab: Tab,
    range: Range,
    compare: bool,
    title: &str,
) -> Result<View, PageError> {
    // Fresh figures: what players sent until now is rolled up first (bounded wait).
    let beacons = state.beacons.clone();
    let _ =
        tokio::task::spawn_blocking(move || beacons.sync(std::time::Duration::from_secs(2))).await;
    match tab {
        Tab::Audience => audience(state, range, compare).await,
        Tab::Content => content(state, range, title).await,
        Tab::Quality => quality(state, range, compare).await,
        Tab::Business => business_view(state, range, compare).await,
        Tab::Funnel => funnel(state, range, compare).await,
    }
}

async fn read<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, crate::analytics::AnalyticsError>
    + Send
    + 'static,
) -> Result<T, PageError> {
    state.events.read(f).await.map_err(PageError::internal)
}

async fn audience(state: &AppState, range: Range, compare: bool) -> Result<View, PageError> {
    let (total, days) = read(state, move |c| report::audience(c, range)).await?;
    let before = if compare {
        Some(read(state, move |c| report::audience(c, range.previous())).await?)
    } else {
        None
    };
    let prev = before.as_ref().map(|(t, _)| t);
    let figure = |f: fn(&Audience) -> f64, text: fn(&Audience) -> String| {
        ((f(&total), text(&total)), prev.map(|p| (f(p), text(p))))
    };
    let (plays, plays_before) = figure(|a| a.plays as f64, |a| count(a.plays));
    let (viewers, viewers_before) = figure(|a| a.viewers as f64, |a| count(a.viewers));
    let (watch, watch_before) = figure(|a| a.watch_secs as f64, |a| hours(a.watch_secs));
    let (done, done_before) = figure(
        |a| a.completion().unwrap_or(0.0),
        |a| percent(a.completion()),
    );
    let kpis = vec![
        kpi("Plays", plays, plays_before),
        kpi("Unique viewers", viewers, viewers_before),
        kpi("Watch time", watch, watch_before),
        kpi("Completion", done, done_before),
    ];
    let mut plays_series = vec![
        series(
            "Plays",
            days.iter().map(|(_, a)| Some(a.plays as f64)).collect(),
            false,
        ),
        series(
            "Unique viewers",
            days.iter().map(|(_, a)| Some(a.viewers as f64)).collect(),
            false,
        ),
    ];
    let mut watch_series = vec![series(
        "Hours watched",
        days.iter()
            .map(|(_, a)| Some(a.watch_secs as f64 / 3600.0))
            .collect(),
        false,
    )];
    if let Some((_, before_days)) = &before {
        plays_series.push(series(
            "Plays, previous period",
            before_days
                .iter()
                .map(|(_, a)| Some(a.plays as f64))
                .collect(),
            true,
        ));
        watch_series.push(series(
            "Hours, previous period",
            before_days
                .iter()
                .map(|(_, a)| Some(a.watch_secs as f64 / 3600.0))
                .collect(),
            true,
        ));
    }
    let table = Table {
        id: "days",
        title: "By day".into(),
        columns: vec![
            "Day",
            "Plays",
            "Unique viewers",
            "Hours watched",
            "Completion",
        ],
        rows: days
            .iter()
            .map(|(d, a)| {
                vec![
                    day_text(*d),
                    a.plays.to_string(),
                    a.viewers.to_string(),
                    format!("{:.1}", a.watch_secs as f64 / 3600.0),
                    percent(a.completion()),
                ]
            })
            .collect(),
        ..Default::default()
    };
    Ok(View {
        kpis,
        charts: vec![
            time_chart(
                "plays",
                "Plays and viewers per day",
                "",
                range,
                plays_series,
            ),
            time_chart("watch", "Hours watched per day", "h", range, watch_series),
        ],
        tables: vec![table],
        note: None,
    })
}

/// Names of titles by id, from the catalog; unknown ids keep their id.
async fn title_names(
    state: &AppState,
    ids: Vec<String>,
) -> Result<std::collections::HashMap<String, String>, PageError> {
    state
        .db
        .read(move |c| -> Result<_, crate::db::DbError> {
            let json = serde_json::to_string(&ids).unwrap_or_default();
            let mut stmt = c.prepare(
                "SELECT id, name FROM titles WHERE id IN (SELECT value FROM json_each(?1))",
            )?;
            let rows = stmt.query_map([json], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .map_err(PageError::internal)
}

async fn content(state: &AppState, range: Range, title: &str) -> Result<View, PageError> {
    let top = read(state, move |c| report::top_titles(c, range, TOP_TITLES)).await?;
    let mut ids: Vec<String> = top.iter().map(|(id, _)| id.clone()).collect();
    if !title.is_empty() {
        ids.push(title.to_string());
    }
    let names = title_names(state, ids).await?;
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let chart_titles: Vec<&(String, Audience)> = top.iter().take(10).collect();
    let mut charts = vec![Chart {
        id: "top".into(),
        title: "Top titles by plays".into(),
        kind: "bars",
        unit: "",
        x: (0..chart_titles.len()).map(|i| i as f64).collect(),
        labels: chart_titles.iter().map(|(id, _)| name(id)).collect(),
        series: vec![series(
            "Plays",
            chart_titles
                .iter()
                .map(|(_, a)| Some(a.plays as f64))
                .collect(),
            false,
        )],
    }];
    let links = top
        .iter()
        .map(|(id, _)| {
            let query = query_of(Tab::Content, range, false, id);
            format!("/admin/analytics?{query}#chart-dropoff")
        })
        .collect();
    let mut tables = vec![Table {
        links,
        id: "titles",
        title: "Top titles".into(),
        columns: vec![
            "Title",
            "Id",
            "Plays",
            "Unique viewers",
            "Hours watched",
            "Completion",
        ],
        rows: top
            .iter()
            .map(|(id, a)| {
                vec![
                    name(id),
                    id.clone(),
                    a.plays.to_string(),
                    a.viewers.to_string(),
                    format!("{:.1}", a.watch_secs as f64 / 3600.0),
                    percent(a.completion()),
                ]
            })
            .collect(),
        ..Default::default()
    }];
    let mut note = None;
    let chosen = if title.is_empty() {
        top.first().map(|(id, _)| id.clone())
    } else {
        Some(title.to_string())
    };
    if let Some(id) = chosen {
        let lookup = id.clone();
        let curve = read(state, move |c| report::dropoff(c, &lookup, range)).await?;
        if curve.is_empty() {
            note = Some(format!("No one watched {} in this range.", name(&id)));
        } else {
            let step = 100.0 / curve.len() as f64;
            charts.push(Chart {
                id: "dropoff".into(),
                title: format!("Drop-off: {}", name(&id)),
                kind: "share",
                unit: "%",
                x: (0..curve.len()).map(|i| i as f64 * step).collect(),
                labels: Vec::new(),
                series: vec![series(
                    "Still watching",
                    curve.iter().map(|v| Some(v * 100.0)).collect(),
                    false,
                )],
            });
            tables.push(Table {
                id: "dropoff",
                title: format!("Drop-off: {}", name(&id)),
                columns: vec!["From", "Still watching"],
                rows: curve
                    .iter()
                    .enumerate()
                    .map(|(i, v)| vec![format!("{:.0} %", i as f64 * step), percent(Some(*v))])
                    .collect(),
                ..Default::default()
            });
        }
    }
    Ok(View {
        kpis: Vec::new(),
        charts,
        tables,
        note,
    })
}

/// `started`: count the plays that started (a rendition knows only those), not intents.
fn quality_row(key: String, q: &Quality, started: bool) -> Vec<String> {
    vec![
        key,
        if started { q.first_frames } else { q.plays }.to_string(),
        millis(q.ttff_p50()),
        millis(q.ttff_p95()),
        percent(q.rebuffer_ratio()),
        percent(q.exit_before_start_rate()),
        percent(q.failure_rate()),
        bitrate(q.mean_bitrate()),
        percent(q.cmcd_stall_rate()),
    ]
}

const QUALITY_COLUMNS: [&str; 9] = [
    "",
    "Plays",
    "First frame p50",
    "First frame p95",
    "Rebuffering",
    "Exits before start",
    "Failures",
    "Mean bitrate",
    "Stalls (CMCD)",
];

async fn quality(state: &AppState, range: Range, compare: bool) -> Result<View, PageError> {
    let all = read(state, move |c| report::quality(c, range, None)).await?;
    let total = all.into_iter().next().map(|(_, q)| q).unwrap_or_default();
    let prev = if compare {
        Some(
            read(state, move |c| report::quality(c, range.previous(), None))
                .await?
                .into_iter()
                .next()
                .map(|(_, q)| q)
                .unwrap_or_default(),
        )
    } else {
        None
    };
    let fig = |f: fn(&Quality) -> Option<f64>, text: fn(Option<f64>) -> String| {
        let now = f(&total);
        (
            (now.unwrap_or(0.0), text(now)),
            prev.as_ref().map(|p| (f(p).unwrap_or(0.0), text(f(p)))),
        )
    };
    let (p50, p50b) = fig(Quality::ttff_p50, millis);
    let (p95, p95b) = fig(Quality::ttff_p95, millis);
    let (rebuf, rebufb) = fig(Quality::rebuffer_ratio, percent);
    let (ebvs, ebvsb) = fig(Quality::exit_before_start_rate, percent);
    let (fail, failb) = fig(Quality::failure_rate, percent);
    let (stall, stallb) = fig(Quality::cmcd_stall_rate, percent);
    let kpis = vec![
        kpi("Time to first frame, p50", p50, p50b),
        kpi("Time to first frame, p95", p95, p95b),
        kpi("Rebuffering", rebuf, rebufb),
        kpi("Exits before start", ebvs, ebvsb),
        kpi("Failed plays", fail, failb),
        kpi("Stalled requests (CMCD)", stall, stallb),
    ];
    let by_day = read(state, move |c| {
        report::quality(c, range, Some(Breakdown::Day))
    })
    .await?;
    let by_day: std::collections::HashMap<i64, Quality> = by_day
        .into_iter()
        .filter_map(|(k, q)| k.parse().ok().map(|d| (d, q)))
        .collect();
    let days: Vec<(i64, Quality)> = range
        .each_day()
        .map(|d| (d, by_day.get(&d).cloned().unwrap_or_default()))
        .collect();
    let charts = vec![
        time_chart(
            "ttff",
            "Time to first frame",
            "ms",
            range,
            vec![
                series(
                    "p50",
                    days.iter().map(|(_, q)| q.ttff_p50()).collect(),
                    false,
                ),
                series(
                    "p95",
                    days.iter().map(|(_, q)| q.ttff_p95()).collect(),
                    false,
                ),
            ],
        ),
        time_chart(
            "rebuffering",
            "Rebuffering and exits before start",
            "%",
            range,
            vec![
                series(
                    "Rebuffering",
                    days.iter()
                        .map(|(_, q)| q.rebuffer_ratio().map(|v| v * 100.0))
                        .collect(),
                    false,
                ),
                series(
                    "Exits before start",
                    days.iter()
                        .map(|(_, q)| q.exit_before_start_rate().map(|v| v * 100.0))
                        .collect(),
                    false,
                ),
            ],
        ),
    ];
    let mut tables = vec![Table {
        id: "days",
        title: "By day".into(),
        columns: QUALITY_COLUMNS.to_vec(),
        rows: days
            .iter()
            .map(|(d, q)| quality_row(day_text(*d), q, false))
            .collect(),
        ..Default::default()
    }];
    tables[0].columns[0] = "Day";
    for (id, title, breakdown, first) in [
        (
            "renditions",
            "By rendition",
            Breakdown::Rendition,
            "Rendition",
        ),
        ("browsers", "By browser", Breakdown::Browser, "Browser"),
        ("devices", "By device", Breakdown::Device, "Device"),
    ] {
        let rows = read(state, move |c| report::quality(c, range, Some(breakdown))).await?;
        let mut columns = QUALITY_COLUMNS.to_vec();
        columns[0] = first;
        tables.push(Table {
            id,
            title: title.into(),
            columns,
            rows: rows
                .iter()
                .map(|(k, q)| {
                    let key = if breakdown == Breakdown::Rendition {
                        format!("{k}p")
                    } else {
                        k.clone()
                    };
                    quality_row(key, q, breakdown == Breakdown::Rendition)
                })
                .collect(),
            ..Default::default()
        });
    }
    Ok(View {
        kpis,
        charts,
        tables,
        note: None,
    })
}

async fn business_view(state: &AppState, range: Range, compare: bool) -> Result<View, PageError> {
    let b = state
        .db
        .read(move |c| business::business(c, range).map_err(PageError::internal))
        .await?;
    let prev = if compare {
        Some(
            state
                .db
                .read(move |c| business::business(c, range.previous()).map_err(PageError::internal))
                .await?,
        )
    } else {
        None
    };
    let cur = b.currency.clone();
    let figures: Vec<(&'static str, Box<dyn Fn(&Business) -> (f64, String)>)> = vec![
        (
            "Paying subscribers",
            Box::new(|b| (b.last().active as f64, count(b.last().active))),
        ),
        (
            "In a free trial",
            Box::new(|b| (b.last().trialing as f64, count(b.last().trialing))),
        ),
        ("MRR", {
            let cur = cur.clone();
            Box::new(move |b| (b.last().mrr as f64, money(Some(b.last().mrr as f64), &cur)))
        }),
        (
            "New subscriptions",
            Box::new(|b| (b.new_subscriptions as f64, count(b.new_subscriptions))),
        ),
        (
            "Churned",
            Box::new(|b| (b.churned as f64, count(b.churned))),
        ),
        (
            "Trial conversion",
            Box::new(|b| {
                (
                    b.trial_conversion().unwrap_or(0.0),
                    percent(b.trial_conversion()),
                )
            }),
        ),
        ("ARPU (a month)", {
            let cur = cur.clone();
            Box::new(move |b| (b.arpu().unwrap_or(0.0), money(b.arpu(), &cur)))
        }),
        ("LTV", {
            let cur = cur.clone();
            Box::new(move |b| (b.ltv().unwrap_or(0.0), money(b.ltv(), &cur)))
        }),
        ("Rental revenue", {
            let cur = cur.clone();
            Box::new(move |b| {
                (
                    b.rental_revenue as f64,
                    money(Some(b.rental_revenue as f64), &cur),
                )
            })
        }),
        ("Pay-per-view revenue", {
            let cur = cur.clone();
            Box::new(move |b| {
                (
                    b.ticket_revenue as f64,
                    money(Some(b.ticket_revenue as f64), &cur),
                )
            })
        }),
    ];
    let kpis = figures
        .iter()
        .map(|(label, f)| kpi(label, f(&b), prev.as_ref().map(|p| f(p))))
        .collect();
    let charts = vec![
        time_chart(
            "subscribers",
            "Subscribers",
            "",
            range,
            vec![
                series(
                    "Paying",
                    b.days.iter().map(|d| Some(d.active as f64)).collect(),
                    false,
                ),
                series(
                    "In a free trial",
                    b.days.iter().map(|d| Some(d.trialing as f64)).collect(),
                    false,
                ),
            ],
        ),
        time_chart(
            "mrr",
            &format!("MRR ({cur})"),
            "",
            range,
            vec![series(
                "MRR",
                b.days.iter().map(|d| Some(d.mrr as f64 / 100.0)).collect(),
                false,
            )],
        ),
    ];
    let money_text = |v: i64| money(Some(v as f64), &cur);
    let tables = vec![
        Table {
            id: "revenue",
            title: format!("Revenue in {cur}"),
            columns: vec!["Source", "Sales", "Revenue"],
            rows: vec![
                vec![
                    "Subscriptions".into(),
                    "".into(),
                    money_text(b.subscription_revenue),
                ],
                vec![
                    "Rentals".into(),
                    b.rentals.to_string(),
                    money_text(b.rental_revenue),
                ],
                vec![
                    "Purchases".into(),
                    b.purchases.to_string(),
                    money_text(b.purchase_revenue),
                ],
                vec![
                    "Pay-per-view".into(),
                    b.tickets.to_string(),
                    money_text(b.ticket_revenue),
                ],
            ],
            ..Default::default()
        },
        Table {
            id: "days",
            title: "Subscribers by day".into(),
            columns: vec!["Day", "Paying", "In a free trial", "MRR"],
            rows: b
                .days
                .iter()
                .map(|d| {
                    vec![
                        day_text(d.day),
                        d.active.to_string(),
                        d.trialing.to_string(),
                        money_text(d.mrr),
                    ]
                })
                .collect(),
            ..Default::default()
        },
    ];
    Ok(View {
        kpis,
        charts,
        tables,
        note: Some(format!(
            "Money is in {cur}, the currency most plans are sold in; sales in other currencies are not counted here."
        )),
    })
}

struct FunnelSteps {
    visits: i64,
    sign_ups: i64,
    checkouts: i64,
    played: i64,
}

async fn funnel_steps(state: &AppState, range: Range) -> Result<FunnelSteps, PageError> {
    let members = state
        .db
        .read(move |c| business::sign_ups(c, range).map_err(PageError::internal))
        .await?;
    let sign_ups = members.len() as i64;
    let (visits, (checkouts, played)) = read(state, move |c| {
        Ok((report::visits(c, range)?, report::members_who(c, &members)?))
    })
    .await?;
    Ok(FunnelSteps {
        visits,
        sign_ups,
        checkouts,
        played,
    })
}

async fn funnel(state: &AppState, range: Range, compare: bool) -> Result<View, PageError> {
    let steps = funnel_steps(state, range).await?;
    let prev = if compare {
        Some(funnel_steps(state, range.previous()).await?)
    } else {
        None
    };
    let list = |s: &FunnelSteps| {
        [
            ("Visits", s.visits),
            ("Sign-ups", s.sign_ups),
            ("Started a checkout", s.checkouts),
            ("Played something", s.played),
        ]
    };
    let now = list(&steps);
    let before = prev.as_ref().map(list);
    let kpis = now
        .iter()
        .enumerate()
        .map(|(i, (label, n))| {
            kpi(
                label,
                (*n as f64, count(*n)),
                before.map(|b| (b[i].1 as f64, count(b[i].1))),
            )
        })
        .collect();
    let share = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
    let mut rows = Vec::new();
    for (i, (label, n)) in now.iter().enumerate() {
        let of_previous = if i == 0 {
            None
        } else {
            share(*n, now[i - 1].1)
        };
        rows.push(vec![
            label.to_string(),
            n.to_string(),
            if i == 0 {
                "".into()
            } else {
                percent(of_previous)
            },
            if i == 0 {
                "".into()
            } else {
                percent(share(*n, now[0].1))
            },
        ]);
    }
    Ok(View {
        kpis,
        charts: vec![Chart {
            id: "funnel".into(),
            title: "Visit → sign-up → checkout → first play".into(),
            kind: "bars",
            unit: "",
            x: (0..now.len()).map(|i| i as f64).collect(),
            labels: now.iter().map(|(l, _)| l.to_string()).collect(),
            series: vec![series("People", now.iter().map(|(_, n)| Some(*n as f64)).collect(), false)],
        }],
        tables: vec![Table {
            id: "funnel",
            title: "The funnel".into(),
            columns: vec!["Step", "People", "Of the step before", "Of visits"],
            rows,
            ..Default::default()
        }],
        note: Some(
            "Sign-ups are viewer accounts made in the range; the checkout and play steps count those accounts, whenever they did it. Visits are browser sessions that opened a storefront page.".into(),
        ),
    })
}

#[derive(Serialize)]
struct TabLink {
    name: &'static str,
    label: &'static str,
    href: String,
    current: bool,
}

fn query_of(tab: Tab, range: Range, compare: bool, title: &str) -> String {
    let mut pairs = vec![
        ("tab", tab.name().to_string()),
        ("from", day_text(range.from)),
        ("to", day_text(range.to)),
    ];
    if compare {
        pairs.push(("compare", "1".into()));
    }
    if !title.is_empty() {
        pairs.push(("title", title.to_string()));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

#[get("/admin/analytics")]
pub async fn show(
    state: web::Data<AppState>,
    admin: Admin<perm::AnalyticsRead>,
    params: web::Query<AnalyticsParams>,
) -> Result<HttpResponse, PageError> {
    let tab = Tab::parse(&params.tab)?;
    let role = admin.viewer.user().role;
    if !role.may(tab.permission()) {
        return Err(PageError::Forbidden(
            "your role may not read this tab's figures".into(),
        ));
    }
    let range = range_of(&params, crate::clock::now())?;
    let compare = !params.compare.is_empty();
    let title = params.title.trim();
    let view = build(&state, tab, range, compare, title).await?;
    let tabs: Vec<TabLink> = Tab::ALL
        .into_iter()
        .filter(|t| role.may(t.permission()))
        .map(|t| TabLink {
            name: t.name(),
            label: t.label(),
            href: format!("/admin/analytics?{}", query_of(t, range, compare, "")),
            current: t == tab,
        })
        .collect();
    let export_href = format!(
        "/admin/analytics/export.csv?{}",
        query_of(tab, range, false, title)
    );
    // Inside a <script> element: no `<`, so no name can close it.
    let charts_json = serde_json::to_string(&view.charts)
        .unwrap_or_else(|_| "[]".into())
        .replace('<', "\\u003c");
    let uplot_js = state.ui.static_url("vendor/uPlot.iife.min.js");
    let uplot_css = state.ui.static_url("vendor/uPlot.min.css");
    let analytics_js = state.ui.static_url("admin-analytics.js");
    render(
        &state,
        &admin.viewer,
        "/admin/analytics",
        "admin/analytics.html",
        StatusCode::OK,
        minijinja::context! {
            tab => tab.name(),
            tab_label => tab.label(),
            tabs => minijinja::Value::from(minijinja::value::Serde(&tabs)),
            from => day_text(range.from), to => day_text(range.to),
            previous_from => day_text(range.previous().from),
            previous_to => day_text(range.previous().to),
            compare, title,
            view => minijinja::Value::from(minijinja::value::Serde(&view)),
            charts_json, export_href, uplot_js, uplot_css, analytics_js,
        },
    )
}

/// A cell a spreadsheet will not run as a formula (a title named `=HYPERLINK(…)`).
fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '@', '\t', '\r'])
        || (cell.starts_with('-') && cell.parse::<f64>().is_err())
    {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

#[get("/admin/analytics/export.csv")]
pub async fn export(
    state: web::Data<AppState>,
    admin: Admin<perm::AnalyticsRead>,
    params: web::Query<AnalyticsParams>,
) -> Result<HttpResponse, PageError> {
    let tab = Tab::parse(&params.tab)?;
    if !admin.viewer.user().role.may(tab.permission()) {
        return Err(PageError::Forbidden(
            "your role may not read this tab's figures".into(),
        ));
    }
    let range = range_of(&params, crate::clock::now())?;
    let view = build(&state, tab, range, false, params.title.trim()).await?;
    let table = view
        .tables
        .iter()
        .find(|t| t.id == params.table)
        .ok_or_else(|| PageError::BadRequest(format!("no table {:?} on this tab", params.table)))?;
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&table.columns)
        .map_err(PageError::internal)?;
    for row in &table.rows {
        out.write_record(row.iter().map(|c| spreadsheet_safe(c).into_owned()))
            .map_err(PageError::internal)?;
    }
    let body = out.into_inner().map_err(PageError::internal)?;
    let name = format!(
        "{}-{}-{}-{}.csv",
        tab.name(),
        table.id,
        day_text(range.from),
        day_text(range.to)
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header(("cache-control", "private, no-store"))
        .body(body))
}
