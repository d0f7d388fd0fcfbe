//! The audience, content and quality tabs, from `events.db`'s rollups.

use super::format::{
    bitrate, count, kpi, millis, percent, series, time_chart, watch_time, watch_unit,
};
use super::{Chart, Tab, Table, View, day_text, query_of, read};
use crate::analytics::report::{self, Audience, Breakdown, Quality, Range};
use crate::http::AppState;
use crate::http::session::PageError;

const TOP_TITLES: u32 = 50;

pub(super) async fn audience(
    state: &AppState,
    range: Range,
    compare: bool,
) -> Result<View, PageError> {
    // The two periods are read side by side, each on its own connection.
    let (now, before) = tokio::join!(read(state, move |c| report::audience(c, range)), async {
        match compare {
            true => Some(read(state, move |c| report::audience(c, range.previous())).await),
            false => None,
        }
    });
    let (total, days) = now?;
    let before = before.transpose()?;
    let prev = before.as_ref().map(|(t, _)| t);
    let figure = |f: fn(&Audience) -> f64, text: fn(&Audience) -> String| {
        ((f(&total), text(&total)), prev.map(|p| (f(p), text(p))))
    };
    let (plays, plays_before) = figure(|a| a.plays as f64, |a| count(a.plays));
    let (viewers, viewers_before) = figure(|a| a.viewers as f64, |a| count(a.viewers));
    let (watch, watch_before) = figure(|a| a.watch_secs as f64, |a| watch_time(a.watch_secs));
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
    // The chart's unit fits its largest day, of either period.
    let most = days
        .iter()
        .chain(before.iter().flat_map(|(_, d)| d.iter()))
        .map(|(_, a)| a.watch_secs)
        .max()
        .unwrap_or(0);
    let (size, unit) = watch_unit(most as f64);
    let mut watch_series = vec![series(
        "Watch time",
        days.iter()
            .map(|(_, a)| Some(a.watch_secs as f64 / size))
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
            "Watch time, previous period",
            before_days
                .iter()
                .map(|(_, a)| Some(a.watch_secs as f64 / size))
                .collect(),
            true,
        ));
    }
    let table = Table {
        id: "days",
        title: "By day".into(),
        columns: vec!["Day", "Plays", "Unique viewers", "Watch time", "Completion"],
        rows: days
            .iter()
            .map(|(d, a)| {
                vec![
                    day_text(*d),
                    a.plays.to_string(),
                    a.viewers.to_string(),
                    watch_time(a.watch_secs),
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
            time_chart("watch", "Watch time per day", unit, range, watch_series),
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

pub(super) async fn content(
    state: &AppState,
    range: Range,
    title: &str,
) -> Result<View, PageError> {
    // The range's two halves are summed side by side, each on its own connection.
    let middle = range.from + (range.days() / 2) * crate::analytics::report::DAY;
    let (first, second) = tokio::join!(
        read(state, move |c| report::title_sums(
            c,
            Range {
                from: range.from,
                to: middle - crate::analytics::report::DAY,
            }
        )),
        read(state, move |c| report::title_sums(
            c,
            Range {
                from: middle,
                to: range.to,
            }
        ))
    );
    let mut sums = first?;
    report::add_title_sums(&mut sums, second?);
    let top = report::ranked(sums, TOP_TITLES);
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
        ..Chart::default()
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
        columns: vec!["Title", "Id", "Plays", "Watch time", "Completion"],
        rows: top
            .iter()
            .map(|(id, a)| {
                vec![
                    name(id),
                    id.clone(),
                    a.plays.to_string(),
                    watch_time(a.watch_secs),
                    percent(a.completion()),
                ]
            })
            .collect(),
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
                ..Chart::default()
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

pub(super) async fn quality(
    state: &AppState,
    range: Range,
    compare: bool,
) -> Result<View, PageError> {
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
