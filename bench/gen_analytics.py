#!/usr/bin/env python3
"""Writes a generated audience into a Marquee data dir for bench/analytics.sh.

Usage: gen_analytics.py DATA_DIR EVENTS DAYS

DATA_DIR holds a catalog from gen_catalog.py (titles and members) and an events.db the
server has made (so its schema is Marquee's own). Adds:
- a plan and a monthly subscription for 60 % of the members, renewing over the next 30
  days (the business tab and segments read them);
- five finished titles per member in watch_progress (personal rails read them);
- EVENTS raw playback events spread evenly over the last DAYS days, in sessions of 40
  (page load, play intent, first frame, heartbeats, a rebuffer in one session of five, a
  completion in one of three), 70 % of sessions signed in, titles skewed towards the
  popular; members whose id ends in 0 stop watching two weeks ago (the at-risk cohort
  seed 000 looks for). Written by one INSERT ... SELECT in SQLite, so 50 million rows
  take a minute or two, not an hour.
"""
import random
import sqlite3
import sys
import time

data, events, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(11)
now = int(time.time())
DAY = 86400

main = sqlite3.connect(f"{data}/marquee.db")
main.execute("PRAGMA foreign_keys = ON")
users = [r[0] for r in main.execute("SELECT id FROM users WHERE role = 'viewer' ORDER BY id")]
playable = [r[0] for r in main.execute(
    "SELECT id FROM titles WHERE kind IN ('movie', 'episode') ORDER BY id")]
main.execute(
    """INSERT OR IGNORE INTO plans (id, name, currency, monthly_amount, created_at, updated_at)
       VALUES ('club', 'Club', 'eur', 800, ?1, ?1)""", (now - 400 * DAY,))
subs = []
for u in users:
    if u % 10 < 6:
        created = now - (30 + u % 300) * DAY
        subs.append((u, now + (u % 30) * DAY + 3600, created))
main.executemany(
    """INSERT INTO subscriptions (user_id, plan_id, status, period_end, interval, amount,
                                  currency, source, created_at, updated_at)
       VALUES (?1, 'club', 'active', ?2, 'month', 800, 'eur', 'manual', ?3, ?3)""", subs)
progress = []
for u in users:
    for t in random.sample(playable, 5):
        at = now - random.randrange(days * DAY)
        progress.append((u, t, at))
main.executemany(
    """INSERT OR IGNORE INTO watch_progress (user_id, title_id, position_secs, duration_secs,
                                             updated_at, finished_at)
       VALUES (?1, ?2, 30, 30, ?3, ?3)""", progress)
main.commit()
main.close()

ev = sqlite3.connect(f"{data}/events.db")
ev.execute("PRAGMA journal_mode = WAL")
ev.execute("PRAGMA synchronous = OFF")
ev.execute("CREATE TEMP TABLE t (k INTEGER PRIMARY KEY, id TEXT NOT NULL)")
ev.executemany("INSERT INTO t (k, id) VALUES (?, ?)", enumerate(playable))
ev.execute("CREATE TEMP TABLE u (k INTEGER PRIMARY KEY, id INTEGER NOT NULL)")
ev.executemany("INSERT INTO u (k, id) VALUES (?, ?)", enumerate(users))
start_ms = (now - days * DAY) * 1000
span_ms = days * DAY * 1000
recent_ms = (now - 14 * DAY) * 1000
began = time.time()
ev.execute(
    f"""
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {events} - 1),
e AS (
  SELECT i, i / 40 AS s, i % 40 AS j,
         {start_ms} + i * {span_ms} / {events} AS at,
         -- A title: the square of a uniform pick, so low numbers are far more popular.
         ((((i / 40) * 2654435761) % 65521) * (((i / 40) * 2654435761) % 65521)
            / 65521) % {len(playable)} AS tk,
         ((i / 40) * 7919) % {len(users)} AS uk
  FROM n)
INSERT INTO raw_events (at, session, user_id, title_id, kind, value, height, bitrate, device,
                        browser, duration)
SELECT at, 'bench-' || s,
       CASE WHEN s % 10 < 7 THEN
         (SELECT CASE WHEN at > {recent_ms} AND u.id % 10 = 0 THEN u.id + 1 ELSE u.id END
          FROM u WHERE u.k = uk)
       END,
       (SELECT id FROM t WHERE t.k = tk),
       CASE WHEN j = 0 THEN 'page_load' WHEN j = 1 THEN 'play_intent'
            WHEN j = 2 THEN 'first_frame'
            WHEN j = 38 AND s % 5 = 0 THEN 'rebuffer'
            WHEN j = 39 AND s % 3 = 0 THEN 'complete' ELSE 'heartbeat' END,
       CASE WHEN j = 0 THEN 300 + s % 900 WHEN j = 2 THEN 200 + (s * 37) % 3800
            WHEN j = 38 AND s % 5 = 0 THEN 500 + s % 2000
            ELSE (j - 3) * 10 END,
       CASE s % 3 WHEN 0 THEN 360 WHEN 1 THEN 720 ELSE 1080 END,
       CASE s % 3 WHEN 0 THEN 800000 WHEN 1 THEN 3000000 ELSE 5000000 END,
       CASE s % 4 WHEN 0 THEN 'mobile' WHEN 1 THEN 'tv' ELSE 'desktop' END,
       CASE s % 3 WHEN 0 THEN 'firefox' WHEN 1 THEN 'safari' ELSE 'chrome' END,
       CASE WHEN j >= 3 THEN 3600 END
FROM e
""")
ev.commit()
ev.close()
print(f"{events} events in {time.time() - began:.1f} s; {len(subs)} subscriptions, "
      f"{len(progress)} finished titles")
