#!/usr/bin/env bash
# Analytics benchmark at the issue's scale: 20,000 titles, 100,000 members and 50 million
# raw events (bench/gen_catalog.py, bench/gen_analytics.py, written straight into SQLite).
# Measures, on the release build:
# - rollup time: the server rolling up every generated event on its own writer thread,
#   from start until the high-water mark reaches the last event (and the personal rails'
#   first build of co-watching, which runs beside it);
# - dashboard p95: each Analytics tab over the last 30 days (with the comparison), signed
#   in as the owner, one request at a time;
# - segment preview p95: the live preview of seed 000's filter and two others;
# - beacon ingest: wrk posting beacon batches (100 events each, every request from a new
#   player session and browser, as many viewers would) for the run's length, while a
#   second wrk loads the storefront's home and title pages; the pages' p95 alone and
#   beside the ingest. Events/s counts the rows that reached events.db.
# Figures go into bench/RESULTS.md.
#
# Usage: bench/analytics.sh [events] [seconds-per-run]   (defaults 50000000 and 20)
#        REUSE=1 bench/analytics.sh ...   measures again on the data the last run generated
#        and rolled up (bench/work/analytics), with that run's rollup figures: for a change
#        to the pages, without 15 minutes of generating and rolling up.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
EVENTS=${1:-50000000}
DURATION=${2:-20}
DAYS=60
WORK=$PWD/bench/work/analytics
PORT=18720
mkdir -p "$WORK"
origin_setup wrk ffmpeg python3
trap origin_cleanup EXIT

DATA=$WORK/package
origin_package
ASSET=$ID

DIR=$WORK/data
start_marquee() {
  "$BIN" serve --data-dir "$DIR" --listen "127.0.0.1:$PORT" > "$WORK/marquee.out" 2>> "$WORK/marquee.log" &
  MPID=$!
  for _ in $(seq 1 1200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return; sleep 0.1; done
  echo "marquee did not start: $(tail -5 "$WORK/marquee.log")" >&2; exit 1
}
# The ingest runs measure the writer, so the budget across all players (2,000 events/s by
# default) is raised past what the machine can take.
write_config() {
  printf '[transcode]\npreset = "veryfast"\n\n[analytics]\nevents_per_second = 1000000\nevents_burst = 10000000\n' > "$DIR/marquee.toml"
}
stop_marquee() { kill "$MPID"; wait "$MPID" 2>/dev/null || true; MPID=; }
# sql DB QUERY: one value, read while the server runs (WAL).
sql() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$@"; }

if [ "${REUSE:-}" = 1 ] && [ -f "$WORK/rollup.txt" ] && [ -f "$DIR/events.db" ]; then
  echo "==> reusing the data and rollup figures of the last run"
  . "$WORK/rollup.txt"
  write_config
  start_marquee
else
rm -rf "$DIR"; mkdir -p "$DIR/library"
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(TRUNCATE)")' "$DATA/marquee.db"
cp "$DATA/marquee.db" "$DIR/marquee.db"
cp -r "$DATA/library/$ASSET" "$DIR/library/"
write_config
echo "==> generating 20,000 titles and 100,000 members"
python3 bench/gen_catalog.py "$DIR/marquee.db" "$ASSET" 20000 100000 "$WORK/ids.txt" "$WORK/prefixes.txt"
printf 'bench-password-123\n' | "$BIN" admin create --email owner@example.com --data-dir "$DIR" > /dev/null

# The server makes events.db with its own schema; the generator fills both databases.
start_marquee; stop_marquee
echo "==> generating $EVENTS raw events over $DAYS days"
python3 bench/gen_analytics.py "$DIR" "$EVENTS" "$DAYS" | tee "$WORK/gen.txt"
EV_SIZE=$(du -m "$DIR/events.db" | cut -f1)

echo "==> rollup of every generated event"
started=$(date +%s.%N)
start_marquee
last=$(sql "$DIR/events.db" "SELECT max(id) FROM raw_events")
rails_done=
while :; do
  mark=$(sql "$DIR/events.db" "SELECT last_event FROM rollup_state")
  if [ -z "$rails_done" ] && [ "$(sql "$DIR/marquee.db" "SELECT count(DISTINCT title_id) FROM co_watched")" -gt 0 ] \
     && [ "$(sql "$DIR/marquee.db" "SELECT finished_mark FROM recommendation_state")" -gt 0 ]; then
    rails_done=$(awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN { printf "%.1f", a - b }')
  fi
  [ "$mark" -ge "$last" ] && break
  sleep 1
done
ROLLUP_S=$(awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN { printf "%.1f", a - b }')
ROLLUP_RATE=$(awk -v n="$EVENTS" -v s="$ROLLUP_S" 'BEGIN { printf "%.0f", n / s }')
while [ -z "$rails_done" ]; do
  if [ "$(sql "$DIR/marquee.db" "SELECT finished_mark FROM recommendation_state")" -gt 0 ]; then
    rails_done=$(awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN { printf "%.1f", a - b }')
  fi
  sleep 1
done
CO_TITLES=$(sql "$DIR/marquee.db" "SELECT count(DISTINCT title_id) FROM co_watched")
echo "    rolled up $EVENTS events in $ROLLUP_S s ($ROLLUP_RATE events/s); co-watching for $CO_TITLES titles after $rails_done s"

cat > "$WORK/rollup.txt" <<ROLLUP
ROLLUP_S=$ROLLUP_S
ROLLUP_RATE=$ROLLUP_RATE
rails_done=$rails_done
CO_TITLES=$CO_TITLES
EV_SIZE=$EV_SIZE
ROLLUP_ON=$(date -u +%Y-%m-%d)
ROLLUP
fi

echo "==> dashboards and segment preview, one request at a time"
python3 - "$PORT" > "$WORK/pages.txt" <<'PY'
import http.cookiejar, re, sys, time, urllib.parse, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
jar = http.cookiejar.CookieJar()
web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
def csrf_of(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)
login = web.open(base + "/login").read().decode()
form = urllib.parse.urlencode({"csrf": csrf_of(login), "email": "owner@example.com",
                               "password": "bench-password-123"}).encode()
try:
    urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), Stay).open(base + "/login", form)
except urllib.error.HTTPError as e:
    assert e.code == 303, e.code
def timed(path, data=None, runs=20):
    times = []
    for _ in range(runs + 2):
        t = time.perf_counter()
        r = web.open(base + path, data)
        body = r.read()
        assert r.status == 200, (path, r.status)
        times.append((time.perf_counter() - t) * 1000)
    times = sorted(times[2:])
    p = lambda q: times[min(len(times) - 1, int(round(q * (len(times) - 1))))]
    return p(0.5), p(0.95), body
csrf = csrf_of(web.open(base + "/admin/segments").read().decode())
rows = []
since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 29 * 86400))
for tab in ["audience", "content", "quality", "business", "funnel"]:
    p50, p95, _ = timed(f"/admin/analytics?tab={tab}&from={since}&compare=1")
    rows.append(("dashboard", f"Analytics, {tab}, 30 days with the previous 30", p50, p95, ""))
for label, fields in [
    ("seed 000: watching down 50 % (14 vs 28 days), renewal within 21 days",
     {"renewal_days": "21", "watch_days": "14", "watch_previous_days": "28", "watch_percent": "-50"}),
    ("not seen for 30 days, at least 3 titles finished", {"not_seen_days": "30", "finished_at_least": "3"}),
    ("active subscribers of Club who watch Drama", {"plan": "club", "statuses": "active", "genres": "Drama"}),
]:
    data = urllib.parse.urlencode({"csrf": csrf, "name": "bench", **fields}).encode()
    p50, p95, body = timed("/admin/segments/preview", data)
    count = re.search(rb'"count":(\d+)', body).group(1).decode()
    rows.append(("preview", f"Segment preview: {label}", p50, p95, count))
for kind, label, p50, p95, count in rows:
    print(f"{kind}\t{label}\t{p50:.1f}\t{p95:.1f}\t{count}")
PY
cat "$WORK/pages.txt"

echo "==> beacon ingest beside the storefront"
head -2000 "$WORK/ids.txt" > "$WORK/titles.txt"
cat > "$WORK/beacons.lua" <<'LUA'
local titles = {}
for line in io.lines(os.getenv("TITLES")) do titles[#titles + 1] = line end
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local n = 0
local events = {}
for k = 1, 100 do
  if k % 2 == 0 then
    events[k] = string.format('{"kind":"rebuffer","n":%d,"ms":250,"height":360}', k)
  else
    events[k] = string.format('{"kind":"switch","n":%d,"height":720,"bitrate":3000000}', k)
  end
end
local batch = table.concat(events, ",")
request = function()
  n = n + 1
  local session = string.format("ingest-%d-%09d", tid, n)
  local body = '{"session":"' .. session .. '","title":"' .. titles[n % #titles + 1] ..
    '","events":[' .. batch .. ']}'
  return wrk.format("POST", "/beacon", {
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["Sec-Fetch-Site"] = "same-origin",
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 bench/" .. session,
  }, body)
end
-- Paced: each connection waits DELAY_MS between requests (unset: flat out).
local pause = tonumber(os.getenv("DELAY_MS") or "")
if pause then delay = function() return pause end end
done = function(summary, latency, requests)
  io.write(string.format("RPS %.1f\nP95 %.2f\nNON2XX %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(95) / 1000, summary.errors.status))
end
LUA
cat > "$WORK/pages.lua" <<'LUA'
local paths = {"/"}
for line in io.lines(os.getenv("TITLES")) do paths[#paths + 1] = "/title/" .. line end
local i = 0
request = function()
  i = i % #paths + 1
  if i % 4 == 1 then return wrk.format("GET", "/") end
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  io.write(string.format("RPS %.1f\nP50 %.2f\nP95 %.2f\nERR %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
LUA
value() { awk -v k="$1" '$1 == k {print $2}' "$2"; }
TITLES=$WORK/titles.txt wrk -t1 -c4 -d3s -s "$WORK/pages.lua" "http://127.0.0.1:$PORT" > /dev/null
TITLES=$WORK/titles.txt wrk -t1 -c8 -d"${DURATION}s" -s "$WORK/pages.lua" "http://127.0.0.1:$PORT" > "$WORK/pages-alone.txt"
# ingest LABEL WRK-ARGS...: beacons for DURATION s beside the page load; sets INGESTED,
# EVENTS_PER_S, CATCHUP_S and leaves wrk's figures in $WORK/ingest-LABEL.txt and
# $WORK/pages-LABEL.txt.
ingest() {
  local label=$1; shift
  local before after started
  before=$(sql "$DIR/events.db" "SELECT max(id) FROM raw_events")
  TITLES=$WORK/titles.txt wrk -t1 -c8 -d"${DURATION}s" -s "$WORK/pages.lua" "http://127.0.0.1:$PORT" > "$WORK/pages-$label.txt" &
  local pages_pid=$!
  TITLES=$WORK/titles.txt wrk "$@" -d"${DURATION}s" -s "$WORK/beacons.lua" "http://127.0.0.1:$PORT" > "$WORK/ingest-$label.txt"
  wait $pages_pid
  sleep 2
  after=$(sql "$DIR/events.db" "SELECT max(id) FROM raw_events")
  INGESTED=$((after - before))
  EVENTS_PER_S=$(awk -v n="$INGESTED" -v s="$DURATION" 'BEGIN { printf "%.0f", n / s }')
  started=$(date +%s.%N)
  while [ "$(sql "$DIR/events.db" "SELECT last_event FROM rollup_state")" -lt "$after" ]; do sleep 0.5; done
  CATCHUP_S=$(awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN { printf "%.1f", a - b }')
  echo "    $label: $INGESTED events in ${DURATION} s: $EVENTS_PER_S events/s ($(value RPS "$WORK/ingest-$label.txt") requests/s); rolled up $CATCHUP_S s after; pages p95 $(value P95 "$WORK/pages-$label.txt") ms"
}
# Paced: 8 connections, one batch of 100 every 30 ms each (about 26,000 events/s offered).
DELAY_MS=30 ingest paced -t1 -c8
PACED=("$INGESTED" "$EVENTS_PER_S" "$CATCHUP_S")
# Flat out: as fast as the server takes them.
ingest flat -t2 -c32
FLAT=("$INGESTED" "$EVENTS_PER_S" "$CATCHUP_S")
echo "    pages alone: p95 $(value P95 "$WORK/pages-alone.txt") ms"
RSS=$(rss_mib "$MPID")
stop_marquee

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 <= t + 0) ? "meets" : "misses" }'; }
verdict_min() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 >= t + 0) ? "meets" : "misses" }'; }
table=""
worst_dash=0; worst_preview=0
while IFS=$'\t' read -r kind label p50 p95 count; do
  shown=$label; [ -n "$count" ] && shown="$label ($count members)"
  table+="| $shown | $p50 ms | $p95 ms |"$'\n'
  if [ "$kind" = dashboard ]; then worst_dash=$(awk -v a="$worst_dash" -v b="$p95" 'BEGIN { print (b > a) ? b : a }'); fi
  if [ "$kind" = preview ]; then worst_preview=$(awk -v a="$worst_preview" -v b="$p95" 'BEGIN { print (b > a) ? b : a }'); fi
done < "$WORK/pages.txt"

section="<!-- analytics:begin -->
## Analytics at scale: 20,000 titles, 100,000 members, $(printf "%'d" "$EVENTS") events

Measured $(date -u +%Y-%m-%d) by \`${REUSE:+REUSE=1 }bench/analytics.sh $EVENTS $DURATION\` on $(nproc) cores ($cpu, $mem), release build.
Figures move by up to half between runs on this shared 2-core machine; each run is whole.
The catalog and audience are written straight into SQLite (\`bench/gen_catalog.py\`,
\`bench/gen_analytics.py\`): 60,000 monthly subscriptions, five finished titles per member,
and $(printf "%'d" "$EVENTS") raw events over $DAYS days in sessions of 40 (events.db: $EV_SIZE MiB before rollup).
The reference beside each figure is the issue's target.

**Rollup.** The server rolls up every generated event on its own writer thread, in steps
of 50,000, from start: **$ROLLUP_S s ($ROLLUP_RATE events/s)** (measured ${ROLLUP_ON:-$(date -u +%Y-%m-%d)}${ROLLUP_NOTE:+; $ROLLUP_NOTE}). The personal rails' first
build of co-watching ($CO_TITLES titles with neighbours) ran beside it and was done after $rails_done s.

**Dashboards and segment preview** (signed in as the owner, one request at a time, 20
runs after 2 warm-ups; the preview waits up to 0.5 s for beacons in flight, none here):

| page | p50 | p95 |
|---|---|---|
${table}
Worst dashboard p95: **$worst_dash ms** (target <= 300 ms: $(verdict "$worst_dash" 300)). Worst segment
preview p95: **$worst_preview ms** (target <= 500 ms: $(verdict "$worst_preview" 500)).

**Beacon ingest beside the storefront.** wrk posts beacon batches of 100 events
(rebuffers and rendition switches, which a player may send in any number; every request a
new session and browser, from loopback, so no one sender's or address's budget applies) for
${DURATION} s while \`wrk -t1 -c8\` loads the home page and 2,000 title pages; the loads
share the 2 cores with the server. First paced near the target, then flat out (where the
writer's channel fills, the surplus is dropped and counted, and pages slow down most).

| | figure |
|---|---|
| pages alone: requests/s, p50, p95 | $(value RPS "$WORK/pages-alone.txt"), $(value P50 "$WORK/pages-alone.txt") ms, **$(value P95 "$WORK/pages-alone.txt") ms** |
| paced ingest (8 connections, a batch every 30 ms each): events that reached events.db | $(printf "%'d" "${PACED[0]}") in ${DURATION} s: **${PACED[1]} events/s** (target >= 20,000: $(verdict_min "${PACED[1]}" 20000)); $(value RPS "$WORK/ingest-paced.txt") requests/s, p95 $(value P95 "$WORK/ingest-paced.txt") ms, non-2xx $(value NON2XX "$WORK/ingest-paced.txt"); rolled up ${PACED[2]} s after the load |
| pages beside the paced ingest: requests/s, p50, p95 | $(value RPS "$WORK/pages-paced.txt"), $(value P50 "$WORK/pages-paced.txt") ms, **$(value P95 "$WORK/pages-paced.txt") ms** |
| flat-out ingest (\`-t2 -c32\`, no pause): events that reached events.db | $(printf "%'d" "${FLAT[0]}") in ${DURATION} s: **${FLAT[1]} events/s**; $(value RPS "$WORK/ingest-flat.txt") requests/s, p95 $(value P95 "$WORK/ingest-flat.txt") ms, non-2xx $(value NON2XX "$WORK/ingest-flat.txt"); rolled up ${FLAT[2]} s after the load |
| pages beside the flat-out ingest: requests/s, p50, p95 | $(value RPS "$WORK/pages-flat.txt"), $(value P50 "$WORK/pages-flat.txt") ms, **$(value P95 "$WORK/pages-flat.txt") ms** |
| server RSS after the run | $RSS MiB |
<!-- analytics:end -->"
write_section analytics "$section"
