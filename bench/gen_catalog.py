#!/usr/bin/env python3
"""Writes a generated catalog into a Marquee database for bench/storefront.sh.

Usage: gen_catalog.py DB ASSET_ID TITLES MEMBERS IDS_OUT PREFIXES_OUT

Every title is published and plays ASSET_ID (one real, ready package). The rows are the
ones the dashboard makes, including the columns catalog::visibility computes (live_from
is the publish time, live_until empty) and the FTS5 search row. A fifth of the titles are
series with three episodes each. Writes the top-level title ids and a list of search
prefixes (1 to 4 letters of title words) for wrk.
"""
import random
import sqlite3
import sys
import time

db, asset, titles, members, ids_out, prefixes_out = sys.argv[1:7]
titles, members = int(titles), int(members)
random.seed(7)
WORDS = ("harbour night amelie storm keeper light north river glass winter summer city "
         "garden shadow silver road letter island echo ember forest mirror orbit paper "
         "quiet rain salt tide velvet wild yellow zenith anchor bridge canyon desert").split()
GENRES = ["Drama", "Comedy", "Thriller", "Documentary", "Animation", "Romance", "Mystery",
          "Science Fiction", "Family", "History", "Music", "Crime"]
now = int(time.time())
con = sqlite3.connect(db)
cur = con.cursor()
cur.execute("PRAGMA foreign_keys = ON")
alphabet = "abcdefghijkmnpqrstuvwxyz23456789"


def new_id():
    return "".join(random.choice(alphabet) for _ in range(12))


for i, g in enumerate(GENRES):
    cur.execute("INSERT OR IGNORE INTO genres (name, slug) VALUES (?, ?)",
                (g, g.lower().replace(" ", "-")))
genre_ids = [r[0] for r in cur.execute("SELECT id FROM genres ORDER BY id")]

top_ids, prefixes = [], set()
for n in range(titles):
    tid = new_id()
    words = random.sample(WORDS, 3)
    name = " ".join(w.capitalize() for w in words) + f" {n}"
    synopsis = " ".join(random.choice(WORDS) for _ in range(30)) + "."
    series = n % 5 == 0
    published = now - 86400 - n * 60
    cur.execute(
        """INSERT INTO titles (id, kind, name, synopsis, year, asset_id, status, published_at,
                               live_from, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, 'published', ?, ?, ?, ?)""",
        (tid, "series" if series else "movie", name, synopsis, 1990 + n % 35,
         None if series else asset, published, published, published, published))
    if series:
        cur.execute("INSERT INTO seasons (series_id, number) VALUES (?, 1)", (tid,))
        for e in range(1, 4):
            cur.execute(
                """INSERT INTO titles (id, kind, parent_id, season_number, episode_number, name,
                                       asset_id, status, published_at, live_from, created_at, updated_at)
                   VALUES (?, 'episode', ?, 1, ?, ?, ?, 'published', ?, ?, ?, ?)""",
                (new_id(), tid, e, f"Episode {e}", asset, published, published, published, published))
    for g in random.sample(genre_ids, 2):
        cur.execute("INSERT INTO title_genres (title_id, genre_id) VALUES (?, ?)", (tid, g))
    cur.execute(
        """INSERT INTO artwork (title_id, kind, key, widths, width, height, updated_at)
           VALUES (?, 'backdrop', ?, '640,1280,1920', 1920, 1080, ?)""",
        (tid, f"{n:020x}", published))
    cur.execute("INSERT INTO title_search (title_id, name, synopsis, people, tags) VALUES (?, ?, ?, '', '')",
                (tid, name, synopsis))
    top_ids.append(tid)
    for w in words:
        for k in range(1, 5):
            prefixes.add(w[:k])

# The home page: a hero and a hand-picked rail of 20, the default "New", three genre rails.
cur.execute("DELETE FROM rails")
rails = [("hero", "Tonight", None), ("manual", "Picks", None), ("newest", "New", None)]
rails += [("genre", g, g.lower().replace(" ", "-")) for g in GENRES[:3]]
for pos, (kind, name, source) in enumerate(rails):
    cur.execute("""INSERT INTO rails (position, kind, name, source, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?)""", (pos, kind, name, source, now, now))
    rail = cur.lastrowid
    if kind in ("hero", "manual"):
        for i, tid in enumerate(random.sample(top_ids, 5 if kind == "hero" else 20)):
            cur.execute("INSERT INTO rail_items (rail_id, title_id, position) VALUES (?, ?, ?)",
                        (rail, tid, i))

for m in range(members):
    email = f"member{m}@example.com"
    cur.execute("""INSERT INTO users (email, email_key, display_name, role, created_at)
                   VALUES (?, ?, ?, 'viewer', ?)""", (email, email, f"Member {m}", now - m))
con.commit()
con.execute("PRAGMA optimize")
con.close()
open(ids_out, "w").write("\n".join(top_ids) + "\n")
open(prefixes_out, "w").write("\n".join(sorted(prefixes)) + "\n")
