//! `/admin/analytics`: the operator's figures, one tab each for the audience, content,
//! quality, business and the funnel, over a range of days with the previous period beside
//! it. Numbers people would rather see as a line or a bar are drawn (uPlot, from the JSON
//! the page carries); every table can be downloaded as CSV
//! (`/admin/analytics/export.csv`), built from the same figures the page shows.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};

mod business;
mod format;
mod playback;

use super::audit::day_start;
use super::render;
use crate::accounts::roles::{Permission, perm};
use crate::analytics::report::{DAY, Range};
use crate::http::AppState;
use crate::http::session::{Admin, PageError};

/// The longest range one page reads.
const MAX_DAYS: i64 = 731;
const DEFAULT_DAYS: i64 = 28;

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
pub(super) enum Tab {
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

    pub(super) fn name(self) -> &'static str {
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
pub(super) struct Kpi {
    pub(super) label: &'static str,
    pub(super) value: String,
    pub(super) previous: Option<String>,
    pub(super) change: Option<String>,
}

#[derive(Serialize)]
pub(super) struct Series {
    pub(super) label: String,
    pub(super) values: Vec<Option<f64>>,
    /// Drawn dashed: the previous period, shifted onto this one's days.
    pub(super) previous: bool,
}

#[derive(Serialize, Default)]
pub(super) struct Chart {
    pub(super) id: String,
    pub(super) title: String,
    /// `time` (x is Unix seconds), `bars` (x is `labels`) or `share` (x is 0..100 %).
    pub(super) kind: &'static str,
    pub(super) unit: &'static str,
    pub(super) x: Vec<f64>,
    pub(super) labels: Vec<String>,
    pub(super) series: Vec<Series>,
    /// The value axis's ticks and their words (`format::value_axis`, filled in for every
    /// chart before the page is drawn), so labels never repeat.
    y_axis: format::Axis,
    /// A time chart's days as its ticks; others leave their x axis to the chart.
    x_axis: Option<format::Axis>,
}

#[derive(Serialize, Default)]
pub(super) struct Table {
    pub(super) id: &'static str,
    pub(super) title: String,
    pub(super) columns: Vec<&'static str>,
    pub(super) rows: Vec<Vec<String>>,
    /// Where each row's first cell links to, if anywhere (page only, not CSV).
    pub(super) links: Vec<String>,
}

#[derive(Serialize, Default)]
pub(super) struct View {
    pub(super) kpis: Vec<Kpi>,
    pub(super) charts: Vec<Chart>,
    pub(super) tables: Vec<Table>,
    pub(super) note: Option<String>,
}

pub(super) fn day_text(day: i64) -> String {
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
    // Days after today have no figures yet (and the business replay would repeat today's).
    let today = Range::last_days(now, 1).to;
    let range = Range {
        from: range.from,
        to: range.to.min(today),
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
        Tab::Audience => playback::audience(state, range, compare).await,
        Tab::Content => playback::content(state, range, title).await,
        Tab::Quality => playback::quality(state, range, compare).await,
        Tab::Business => business::business_view(state, range, compare).await,
        Tab::Funnel => business::funnel(state, range, compare).await,
    }
}

pub(super) async fn read<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, crate::analytics::AnalyticsError>
    + Send
    + 'static,
) -> Result<T, PageError> {
    state.events.read(f).await.map_err(PageError::internal)
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
    let mut view = build(&state, tab, range, compare, title).await?;
    for chart in &mut view.charts {
        chart.y_axis = format::value_axis(&format::all_values(&chart.series), chart.unit);
    }
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

/// A cell a spreadsheet will not run as a formula (a title named `=HYPERLINK(…)`), as
/// OWASP's CSV injection advice says: a quote before a cell whose first character other than
/// whitespace is `=`, `+`, `-` or `@` (or their full-width forms; spreadsheets skip leading spaces and line breaks), or
/// that starts with a tab or a line break. A plain negative number stays a number.
fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    let formula = cell.trim_start().starts_with([
        '=', '+', '-', '@', '\u{ff1d}', '\u{ff0b}', '\u{ff0d}', '\u{ff20}',
    ]);
    let negative_number = cell.starts_with('-') && cell.parse::<f64>().is_ok();
    if (formula && !negative_number) || cell.starts_with(['\t', '\r', '\n']) {
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

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn formulas_behind_whitespace_are_quoted_and_numbers_are_not() {
        for cell in [
            "=HYPERLINK(\"http://x\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            " =1+1",
            "  @SUM(A1)",
            "\t=1+1",
            "\r\n+cmd",
            "\n-1+1",
            "\u{3000}=1",
            "\u{ff1d}1+1",
            "\tplain",
            "\rplain",
        ] {
            assert_eq!(spreadsheet_safe(cell), format!("'{cell}"), "{cell:?}");
        }
        for cell in ["Harbour", "-3.5", "-12", "0", "12%", "a=b", " plain", ""] {
            assert_eq!(spreadsheet_safe(cell), cell, "{cell:?}");
        }
    }
}
