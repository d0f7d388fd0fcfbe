//! The business and funnel tabs, from the main database (and the funnel's playback steps
//! from `events.db`).

use super::format::{count, kpi, money, percent, series, time_chart};
use super::{Chart, Table, View, day_text, read};
use crate::analytics::business::{self, Business};
use crate::analytics::report::{self, Range};
use crate::http::AppState;
use crate::http::session::PageError;

/// A headline figure of the business tab: its number (for the change) and its text.
type Figure = Box<dyn Fn(&Business) -> (f64, String)>;

pub(super) async fn business_view(
    state: &AppState,
    range: Range,
    compare: bool,
) -> Result<View, PageError> {
    // The two periods are worked out side by side, each on its own connection.
    let (b, prev) = tokio::join!(
        state
            .db
            .read(move |c| business::business(c, range).map_err(PageError::internal)),
        async {
            match compare {
                true => Some(
                    state
                        .db
                        .read(move |c| {
                            business::business(c, range.previous()).map_err(PageError::internal)
                        })
                        .await,
                ),
                false => None,
            }
        }
    );
    let b = b?;
    let prev = prev.transpose()?;
    let cur = b.currency.clone();
    let figures: Vec<(&'static str, Figure)> = vec![
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
        .map(|(label, f)| kpi(label, f(&b), prev.as_ref().map(f)))
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

pub(super) async fn funnel(
    state: &AppState,
    range: Range,
    compare: bool,
) -> Result<View, PageError> {
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
            ..Chart::default()
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
