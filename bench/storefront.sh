#!/usr/bin/env bash
# Storefront benchmark: the home page, title pages and search-as-you-type under wrk, on a
# generated catalog of 200 and of 20,000 published titles (with genres, artwork records
# and rails) and 100,000 members; beside nginx serving a saved copy of the same home page
# (the floor: a static file). p50/p95/p99 and requests/s go into bench/RESULTS.md.
#
# The catalog is written straight into SQLite by bench/gen_catalog.py (the same rows the
# dashboard would make, visibility columns included), around one real package that every
# title plays, so generating 20,000 titles takes seconds, not 20,000 transcodes.
#
# Usage: bench/storefront.sh [seconds-per-run]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${1:-10}
THREADS=2 CONNECTIONS=16
WORK=$PWD/bench/work/storefront
M_PORT=18710 N_PORT=18711
mkdir -p "$WORK"
origin_setup wrk nginx ffmpeg python3
trap origin_cleanup EXIT

# One real package, made once, shared by both catalog sizes.
DATA=$WORK/package
origin_package
ASSET=$ID

# make_catalog NAME TITLES MEMBERS: a data dir with the package and a generated catalog.
make_catalog() {
  local dir=$WORK/$1
  rm -rf "$dir"; mkdir -p "$dir/library"
  # The package's database with everything its WAL holds.
  python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(TRUNCATE)")' "$DATA/marquee.db"
  cp "$DATA/marquee.db" "$dir/marquee.db"
  cp -r "$DATA/library/$ASSET" "$dir/library/"
  printf '[transcode]\npreset = "veryfast"\n' > "$dir/marquee.toml"
  python3 bench/gen_catalog.py "$dir/marquee.db" "$ASSET" "$2" "$3" "$dir/ids.txt" "$dir/prefixes.txt"
}

start_marquee_on() {
  "$BIN" serve --data-dir "$1" --listen "127.0.0.1:$M_PORT" > "$WORK/marquee.out" 2> "$WORK/marquee.log" &
  MPID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$M_PORT/healthz" >/dev/null && break; sleep 0.1; done
}

stop_marquee() { kill "$MPID"; wait "$MPID" 2>/dev/null || true; MPID=; }

# A wrk script that cycles through paths from $PATHS (one per line) and prints p95.
cat > "$WORK/paths.lua" <<'LUA'
local paths = {}
for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  io.write(string.format("P95 %.2f\n", latency:percentile(95) / 1000))
  io.write(string.format("P50 %.2f\nP99 %.2f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("RPS %.1f\nERR %d\n", summary.requests / (summary.duration / 1e6),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

ROWS=()
# measure LABEL PORT PATHS-FILE
measure() {
  local label=$1 port=$2 paths=$3
  PATHS=$paths wrk -t$THREADS -c$CONNECTIONS -d"${DURATION}s" -s "$WORK/paths.lua" "http://127.0.0.1:$port" > "$WORK/wrk.txt"
  local p50 p95 p99 rps err
  p50=$(awk '/^P50/ {print $2}' "$WORK/wrk.txt"); p95=$(awk '/^P95/ {print $2}' "$WORK/wrk.txt")
  p99=$(awk '/^P99/ {print $2}' "$WORK/wrk.txt"); rps=$(awk '/^RPS/ {print $2}' "$WORK/wrk.txt")
  err=$(awk '/^ERR/ {print $2}' "$WORK/wrk.txt")
  echo "    $label: $rps req/s, p50 $p50 ms, p95 $p95 ms, p99 $p99 ms, errors $err"
  ROWS+=("| $label | $rps | $p50 ms | $p95 ms | $p99 ms | $err |")
}

declare -A HOME_P95
for size in 200 20000; do
  echo "==> catalog of $size titles"
  members=$([ "$size" = 20000 ] && echo 100000 || echo 1000)
  make_catalog "c$size" "$size" "$members"
  dir=$WORK/c$size
  start_marquee_on "$dir"
  echo / > "$WORK/home.txt"
  sed 's|^|/title/|' "$dir/ids.txt" > "$WORK/titles.txt"
  sed 's|^|/search?partial=1\&q=|' "$dir/prefixes.txt" > "$WORK/search.txt"
  for warm in home titles search; do
    PATHS=$WORK/$warm.txt wrk -t1 -c4 -d2s -s "$WORK/paths.lua" "http://127.0.0.1:$M_PORT" > /dev/null
  done
  measure "home page, $size titles" $M_PORT "$WORK/home.txt"
  HOME_P95[$size]=$(awk '/^P95/ {print $2}' "$WORK/wrk.txt")
  measure "title page, $size titles" $M_PORT "$WORK/titles.txt"
  measure "search as you type, $size titles" $M_PORT "$WORK/search.txt"
  if [ "$size" = 20000 ]; then
    # The floor: nginx serving the same home page as a static file.
    mkdir -p "$WORK/static"
    curl -sf "http://127.0.0.1:$M_PORT/" > "$WORK/static/index.html"
    cat > "$WORK/nginx.conf" <<NGINX
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off; sendfile on; keepalive_requests 100000;
  server { listen 127.0.0.1:$N_PORT; root $WORK/static; index index.html; }
}
NGINX
    stop_marquee
    nginx -c "$WORK/nginx.conf"
    sleep 0.5
    measure "nginx, the same home page as a static file" $N_PORT "$WORK/home.txt"
    kill "$(cat "$WORK/nginx.pid")"; rm -f "$WORK/nginx.pid"
  else
    stop_marquee
  fi
done

ratio=$(awk -v a="${HOME_P95[20000]}" -v b="${HOME_P95[200]}" 'BEGIN { printf "%.2f", a / b }')
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
section="<!-- storefront:begin -->
## Storefront: home, title and search pages at 200 and 20,000 titles

Measured $(date -u +%Y-%m-%d) by \`bench/storefront.sh $DURATION\` on $(nproc) cores ($cpu).
Release build, default settings. Catalogs generated by \`bench/gen_catalog.py\`: published
movies and series with synopses, 12 genres, artwork records on every title, the default
\"New\" rail plus a hero, a hand-picked rail and three genre rails; 1,000 members with the
small catalog, 100,000 with the large one. Title pages cycle through every title; search
cycles through prefixes of title words (1 to 4 letters, as typed) with \`?partial=1\`, the
request the search box makes. \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s\` on loopback, sharing the
cores with the server. The last row is nginx serving the 20,000-title home page saved as a
file: the floor for any page. The home page (all but per-viewer rails) and search results
are kept in memory until the catalog changes or a title's window opens or closes; a 2 s
warm-up per page fills them, so the search rows are mostly answers from memory, and the
p99 shows the queries not seen before (tens of ms on the 20,000-title catalog, whose
generated words each match thousands of titles).

| run | requests/s | p50 | p95 | p99 | errors |
|---|---|---|---|---|---|
$(printf '%s\n' "${ROWS[@]}")

Home page p95 at 20,000 titles over 200 titles: **$ratio** (target: not slower, about 1).
Targets: p95 ≤ 20 ms for pages, ≤ 30 ms for search.
<!-- storefront:end -->"
write_section storefront "$section"
