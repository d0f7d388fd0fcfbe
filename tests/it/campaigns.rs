//! Seed 000 end to end, against the real server with a generated dataset and an injected
//! clock: members whose viewing dropped and whose renewal is within 21 days are found by a
//! segment made in the dashboard; a campaign with a retention offer and a holdout goes out
//! (emails caught by a local SMTP server); a targeted member sees the banner and takes the
//! offer in Chromium; the report counts the redemption and, past the renewal date, sets
//! the targets' renewals against the holdout's; holdout members never got the offer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};
use serde_json::json;

use crate::accounts::{Browser, PASSWORD, created, data_with_ann, signed_in};
use crate::support::{Options, Server, SmtpCapture, unix_now};

const DAY: i64 = 86_400;
/// Members 100..=123 dropped and renew within 10 days (the cohort); 124..=127 renew as
/// soon but kept watching; 128..=131 dropped but renew in 60 days.
const COHORT: std::ops::RangeInclusive<i64> = 100..=123;
const STEADY: std::ops::RangeInclusive<i64> = 124..=127;
const LATER: std::ops::RangeInclusive<i64> = 128..=131;

/// Members, their subscriptions and a month of their viewing, written straight into both
/// databases while the server is stopped. Every member signs in with `PASSWORD` (the hash
/// of an account `admin create` made).
fn generate(data: &Path, now: i64) {
    let main = Connection::open(data.join("marquee.db")).unwrap();
    let hash: String = main
        .query_row(
            "SELECT password_hash FROM users WHERE email = 'bob@example.com'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let events = Connection::open(data.join("events.db")).unwrap();
    let watched = |user: i64, at: i64| {
        let at_ms = at * 1000;
        let session = format!("generated-session-{user}-{at}");
        events
            .execute(
                "INSERT INTO raw_events (at, session, user_id, title_id, kind, device, browser)
                 VALUES (?1, ?2, ?3, 'generated', 'play_intent', 'desktop', 'chrome')",
                params![at_ms, session, user],
            )
            .unwrap();
        for n in 0..30 {
            events
                .execute(
                    "INSERT INTO raw_events (at, session, user_id, title_id, kind, value, height,
                                             bitrate, device, browser, duration)
                     VALUES (?1, ?2, ?3, 'generated', 'heartbeat', ?4, 360, 800000, 'desktop',
                             'chrome', 3600)",
                    params![at_ms + n * 10_000, session, user, n * 10],
                )
                .unwrap();
        }
    };
    for id in COHORT.chain(STEADY).chain(LATER) {
        main.execute(
            "INSERT INTO users (id, email, email_key, display_name, role, password_hash,
                                email_verified_at, created_at)
             VALUES (?1, ?2, ?2, ?3, 'viewer', ?4, ?5, ?5)",
            params![
                id,
                format!("member{id}@example.com"),
                format!("Member {id}"),
                hash,
                now - 200 * DAY
            ],
        )
        .unwrap();
        let renews_in = if LATER.contains(&id) { 60 } else { 10 };
        main.execute(
            "INSERT INTO subscriptions (user_id, plan_id, status, period_end, interval, amount,
                                        currency, source, created_at, updated_at)
             VALUES (?1, 'club', 'active', ?2, 'month', 800, 'eur', 'manual', ?3, ?3)",
            params![id, now + renews_in * DAY, now - 100 * DAY],
        )
        .unwrap();
        // Everyone watched a month ago; only the steady ones still do.
        watched(id, now - 30 * DAY);
        watched(id, now - 25 * DAY);
        if STEADY.contains(&id) {
            watched(id, now - 3 * DAY);
            watched(id, now - 2 * DAY);
        }
    }
}

fn members_in(data: &Path, campaign: i64, group: &str) -> Vec<(i64, String, Option<String>)> {
    let db = Connection::open(data.join("marquee.db")).unwrap();
    let mut stmt = db
        .prepare(
            "SELECT m.user_id, u.email, m.token FROM campaign_members m
             JOIN users u ON u.id = m.user_id
             WHERE m.campaign_id = ?1 AND m.grp = ?2 ORDER BY m.user_id",
        )
        .unwrap();
    stmt.query_map(params![campaign, group], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn period_end(data: &Path, user: i64) -> i64 {
    Connection::open(data.join("marquee.db"))
        .unwrap()
        .query_row(
            "SELECT max(period_end) FROM subscriptions WHERE user_id = ?1",
            [user],
            |r| r.get(0),
        )
        .unwrap()
}

fn campaign_status(data: &Path, id: i64) -> String {
    Connection::open(data.join("marquee.db"))
        .unwrap()
        .query_row("SELECT status FROM campaigns WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
}

fn created_id(answer: &crate::accounts::Page, prefix: &str) -> i64 {
    assert_eq!(answer.status, 303, "{}", answer.body);
    answer
        .location
        .as_deref()
        .and_then(|l| l.strip_prefix(prefix))
        .and_then(|id| id.split('?').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{:?}", answer.location))
}

/// Seed 000's world: the owner Ann, a plan and a retention offer made through the API,
/// and the generated members with their viewing; the server restarted on it, with a
/// captured SMTP server and an injected clock.
struct Seeded {
    data: PathBuf,
    server: Server,
    smtp: SmtpCapture,
    clock: PathBuf,
    offer: i64,
}

fn seeded(tmp: &Path) -> Seeded {
    let data = data_with_ann(tmp, &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    let smtp = SmtpCapture::start();
    let clock = tmp.join("clock");
    std::fs::write(&clock, "0").unwrap();
    let mut server = Server::start_with(
        &data,
        Options {
            tables: smtp.config(),
            env: vec![(
                "MARQUEE_TEST_CLOCK_FILE".into(),
                clock.display().to_string(),
            )],
            ..Options::default()
        },
    );
    let (status, body) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Club", "currency": "eur", "monthly_amount": 800,
                    "yearly_amount": null, "trial_days": 0, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let plan = body["id"].as_str().unwrap().to_owned();
    let (status, body) = server.call(
        "POST",
        "/api/v1/offers",
        Some(
            json!({"name": "Stay with us", "kind": "free_period", "value": 30,
                    "duration": "once", "audience": "existing"}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let offer = body["id"].as_i64().unwrap();
    server.terminate();
    let now = unix_now();
    {
        // The plan the generated subscriptions are on.
        let main = Connection::open(data.join("marquee.db")).unwrap();
        main.execute("UPDATE plans SET id = 'club' WHERE id = ?1", [&plan])
            .unwrap();
    }
    generate(&data, now);
    server.restart();

    Seeded {
        data,
        server,
        smtp,
        clock,
        offer,
    }
}

#[test]
fn seed_000_the_at_risk_cohort_gets_a_retention_offer_with_a_holdout_and_the_report_shows_it() {
    let tmp = tempfile::tempdir().unwrap();
    let Seeded {
        data,
        server,
        smtp,
        clock,
        offer,
    } = seeded(tmp.path());
    // The operator finds the cohort: watching down by half or more over the last 14 days
    // against the 28 before, renewal within 21 days. The preview counts it as typed.
    let mut ann = signed_in(&server, "ann@example.com");
    let csrf = ann.get("/admin/segments").csrf();
    let filter = [
        ("csrf", csrf.as_str()),
        ("name", "Watching less, renewing soon"),
        ("renewal_days", "21"),
        ("watch_days", "14"),
        ("watch_previous_days", "28"),
        ("watch_percent", "-50"),
    ];
    let preview = ann.post("/admin/segments/preview", &filter);
    assert_eq!(preview.status, 200, "{}", preview.body);
    let preview: serde_json::Value = serde_json::from_str(&preview.body).unwrap();
    assert_eq!(preview["count"], COHORT.count(), "{preview}");
    let shown: Vec<i64> = preview["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert!(shown.iter().all(|id| COHORT.contains(id)), "{shown:?}");
    let segment = created_id(&ann.post("/admin/segments", &filter), "/admin/segments/");

    // A campaign: the retention offer by email and banner, a quarter held out.
    let form =
        |csrf: &str, name: &str, holdout: &str| {
            vec![
            ("csrf".to_string(), csrf.to_string()),
            ("name".into(), name.into()),
            ("segment_id".into(), segment.to_string()),
            ("offer_id".into(), offer.to_string()),
            ("email".into(), "1".into()),
            ("subject".into(), "A month on us, {{name}}".into()),
            (
                "body".into(),
                "Hello {{name}}, take a free month: {{link}}\n\nNo more offers: {{unsubscribe}}\n"
                    .into(),
            ),
            ("banner".into(), "1".into()),
            ("banner_text".into(), "A free month is waiting for you".into()),
            ("holdout_percent".into(), holdout.into()),
            ("frequency_cap_days".into(), "14".into()),
            ("send_at".into(), String::new()),
            ("days".into(), "14".into()),
        ]
        };
    let csrf = ann.get("/admin/campaigns").csrf();
    let fields = form(&csrf, "Win back", "25");
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let campaign = created_id(&ann.post("/admin/campaigns", &pairs), "/admin/campaigns/");
    for _ in 0..100 {
        if campaign_status(&data, campaign) == "sent" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(campaign_status(&data, campaign), "sent", "{}", server.log());
    let targets = members_in(&data, campaign, "target");
    let holdout = members_in(&data, campaign, "holdout");
    assert_eq!(targets.len() + holdout.len(), COHORT.count());
    assert!(
        !holdout.is_empty() && targets.len() > holdout.len(),
        "{holdout:?}"
    );

    // One email per target, with their own link; none to the holdout or anyone else.
    let mails = smtp.wait_for(targets.len());
    std::thread::sleep(Duration::from_millis(500));
    let mails = smtp.mails().into_iter().chain(mails).collect::<Vec<_>>();
    let text = |m: &crate::support::CapturedMail| m.data.replace("=\r\n", "").replace("=3D", "=");
    for (_, email, token) in &targets {
        let to_them: Vec<_> = mails
            .iter()
            .filter(|m| m.to.iter().any(|t| t.contains(email.as_str())))
            .collect();
        assert!(!to_them.is_empty(), "no email to {email}");
        let body = text(to_them[0]);
        assert!(
            body.contains(&format!("/c/{}", token.as_ref().unwrap())),
            "{body}"
        );
        assert!(body.contains("/unsubscribe"), "{body}");
    }
    for (_, email, token) in &holdout {
        assert!(token.is_none());
        assert!(
            !mails
                .iter()
                .any(|m| m.to.iter().any(|t| t.contains(email.as_str()))),
            "the holdout got mail"
        );
    }

    // A targeted member signs in, sees the banner, follows it and takes the offer.
    let (who, email, token) = targets[0].clone();
    let before = period_end(&data, who);
    let report = crate::player::browser_check(&["campaign.mjs", server.url(), &email, PASSWORD]);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["banner"], "A free month is waiting for you");
    let offer_page = report["offer"].as_str().unwrap();
    assert!(
        offer_page.contains("A free month is waiting for you") && !offer_page.contains("Win back"),
        "the member sees the banner's words, not the campaign's internal name: {offer_page}"
    );
    assert_eq!(
        period_end(&data, who),
        before + 30 * DAY,
        "the free month is on"
    );
    // A holdout member sees no banner and has no link.
    let (held, held_email, _) = holdout[0].clone();
    let held_before = period_end(&data, held);
    let mut h = signed_in(&server, &held_email);
    assert_eq!(h.get("/c/banner").status, 204);
    // Another member's link does not work for them.
    assert_eq!(
        h.get(&format!("/c/{}", token.as_ref().unwrap())).status,
        403
    );

    // A second campaign to the same segment right away: everyone was contacted lately.
    let fields = form(&csrf, "Again", "0");
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let again = created_id(&ann.post("/admin/campaigns", &pairs), "/admin/campaigns/");
    for _ in 0..100 {
        if campaign_status(&data, again) == "sent" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // (The member who took the offer renews in 40 days now: out of the segment.) The
    // first campaign's holdout is left out too, so it stays untouched for its report.
    let skipped = members_in(&data, again, "capped").len();
    assert_eq!(
        skipped,
        targets.len() - 1 + holdout.len(),
        "the frequency cap"
    );
    assert!(members_in(&data, again, "target").is_empty());

    // An offer with a code cannot be a campaign's (the holdout could type the code).
    let (status, body) = server.call(
        "POST",
        "/api/v1/offers",
        Some(
            json!({"name": "Coded", "code": "COMEBACK", "kind": "free_period", "value": 7,
                    "duration": "once", "audience": "existing"}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let mut coded = form(&csrf, "Coded", "10");
    coded[3].1 = body["id"].as_i64().unwrap().to_string();
    let pairs: Vec<(&str, &str)> = coded
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let refused = ann.post("/admin/campaigns", &pairs);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("code"), "{}", refused.body);
    // The live campaign's texts change; its holdout does not; it can end now.
    let mut edited = form(&csrf, "Win back", "40");
    edited[8].1 = "Last chance: a free month".into();
    let pairs: Vec<(&str, &str)> = edited
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let saved = ann.post(&format!("/admin/campaigns/{campaign}"), &pairs);
    assert_eq!(saved.status, 303, "{}", saved.body);
    let (holdout_now, banner_now): (i64, String) = Connection::open(data.join("marquee.db"))
        .unwrap()
        .query_row(
            "SELECT holdout_percent, banner_text FROM campaigns WHERE id = ?1",
            [campaign],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (holdout_now, banner_now.as_str()),
        (25, "Last chance: a free month")
    );
    let mut other_target = signed_in(&server, &targets[2].1);
    assert_eq!(other_target.get("/c/banner").status, 200);
    let ended = ann.post(
        &format!("/admin/campaigns/{campaign}/end"),
        &[("csrf", &csrf)],
    );
    assert_eq!(ended.status, 303, "{}", ended.body);
    assert_eq!(
        other_target.get("/c/banner").status,
        204,
        "ended: no banner"
    );

    // Sixteen days later the cohort's renewal date has passed and no one renewed; the one
    // who took a free month is judged when it ends.
    let report = |ann: &mut Browser| {
        let page = ann.get(&format!("/admin/campaigns/{campaign}"));
        assert_eq!(page.status, 200);
        move |id: &str| {
            let at = page.body.find(&format!("id=\"{id}\"")).unwrap();
            let rest = &page.body[at..];
            let start = rest.find('>').unwrap() + 1;
            rest[start..start + rest[start..].find('<').unwrap()].to_string()
        }
    };
    std::fs::write(&clock, (16 * DAY).to_string()).unwrap();
    let value = report(&mut ann);
    assert_eq!(value("report-redeemed"), "1");
    assert_eq!(value("report-targets"), targets.len().to_string());
    assert_eq!(value("report-holdout"), holdout.len().to_string());
    assert_eq!(value("report-emailed"), targets.len().to_string());
    assert_eq!(value("report-target-rate"), "0.0 %");
    assert_eq!(value("report-holdout-rate"), "0.0 %");
    // Past the free month, the member who took it pays for the next one (a renewal);
    // the holdout never got the offer.
    std::fs::write(&clock, (45 * DAY).to_string()).unwrap();
    Connection::open(data.join("marquee.db"))
        .unwrap()
        .execute(
            "UPDATE subscriptions SET period_end = period_end + 30 * 86400 WHERE user_id = ?1",
            [who],
        )
        .unwrap();
    let value = report(&mut ann);
    let expected = format!("{:.1} %", 100.0 / targets.len() as f64);
    assert_eq!(value("report-target-rate"), expected);
    assert_eq!(value("report-holdout-rate"), "0.0 %");
    assert!(
        value("report-lift").contains("95 % interval"),
        "{}",
        value("report-lift")
    );
    assert_eq!(
        period_end(&data, held),
        held_before,
        "the holdout never got the offer"
    );

    // The unsubscribe link works without signing in and is honoured.
    let (other, _, other_token) = targets[1].clone();
    let mut anyone = Browser::new(server.url());
    let path = format!("/c/{}/unsubscribe", other_token.unwrap());
    let csrf = anyone.get(&path).csrf();
    assert_eq!(anyone.post(&path, &[("csrf", &csrf)]).status, 200);
    let opted: i64 = Connection::open(data.join("marquee.db"))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM email_opt_outs WHERE user_id = ?1",
            [other],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(opted, 1);
}

/// The acceptance as a new operator would try it, in Chromium: one dashboard
/// session finds the at-risk cohort with the live preview, sends a retention campaign
/// with a holdout, and later reads its effect on the campaign's page.
#[test]
fn an_operator_finds_the_cohort_sends_the_campaign_and_reads_its_effect_in_the_dashboard() {
    let tmp = tempfile::tempdir().unwrap();
    let Seeded {
        data,
        server,
        smtp,
        clock,
        ..
    } = seeded(tmp.path());
    let base = server.url().to_owned();
    let sent = crate::player::browser_check(&[
        "retention-walk.mjs",
        &base,
        "ann@example.com",
        PASSWORD,
        "send",
    ]);
    assert_eq!(sent["ok"], true, "{sent}");
    // The live count went from everyone renewing soon to the cohort alone, and the saved
    // segment says the same.
    assert_eq!(
        sent["count_before"],
        (COHORT.count() + STEADY.count() + LATER.count() + 1).to_string(),
        "every viewer: {sent}"
    );
    assert_eq!(sent["renewing"], COHORT.count() + STEADY.count(), "{sent}");
    assert_eq!(sent["at_risk"], COHORT.count(), "{sent}");
    assert_eq!(sent["saved_count"], COHORT.count(), "{sent}");
    assert_eq!(
        sent["preview_rows"],
        COHORT.count().min(20),
        "the preview's first members"
    );
    assert_eq!(sent["holdout_default"], "10", "the default holdout");
    let campaign: i64 = sent["campaign"]
        .as_str()
        .unwrap()
        .trim_start_matches("/admin/campaigns/")
        .parse()
        .unwrap();
    let targets = members_in(&data, campaign, "target");
    let holdout = members_in(&data, campaign, "holdout");
    assert_eq!(sent["targets"], targets.len());
    assert_eq!(sent["holdout"], holdout.len());
    assert_eq!(targets.len() + holdout.len(), COHORT.count());
    assert!(!holdout.is_empty(), "a tenth of the cohort is held out");
    let mails = smtp.wait_for(targets.len());
    assert_eq!(mails.len(), targets.len(), "one email per target");
    for (_, email, _) in &holdout {
        assert!(
            !mails
                .iter()
                .any(|m| m.to.iter().any(|t| t.contains(email.as_str()))),
            "the holdout got mail"
        );
    }

    // A target takes the offer from the banner; a month and a half later they have
    // renewed after their free month, and nobody else has.
    let (who, email, _) = targets[0].clone();
    let redeemed = crate::player::browser_check(&["campaign.mjs", &base, &email, PASSWORD]);
    assert_eq!(redeemed["ok"], true, "{redeemed}");
    std::fs::write(&clock, (45 * DAY).to_string()).unwrap();
    Connection::open(data.join("marquee.db"))
        .unwrap()
        .execute(
            "UPDATE subscriptions SET period_end = period_end + 30 * 86400 WHERE user_id = ?1",
            [who],
        )
        .unwrap();
    let read = crate::player::browser_check(&[
        "retention-walk.mjs",
        &base,
        "ann@example.com",
        PASSWORD,
        "report",
        sent["campaign"].as_str().unwrap(),
    ]);
    assert_eq!(read["ok"], true, "{read}");
    assert_eq!(read["redeemed"], "1", "{read}");
    assert_eq!(read["emailed"], targets.len().to_string(), "{read}");
    assert_eq!(
        read["target-rate"],
        format!("{:.1} %", 100.0 / targets.len() as f64),
        "{read}"
    );
    assert_eq!(read["holdout-rate"], "0.0 %", "{read}");
    assert!(
        read["lift"].as_str().unwrap().contains("95 % interval"),
        "{read}"
    );
}
