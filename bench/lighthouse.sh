#!/usr/bin/env bash
# Lighthouse on the pages a stranger meets: home, a paid title, the pricing page and the
# sign-up page, on a release build with a small generated catalog (one real package that
# every title plays, posters and all), against Debian's headless Chromium with Lighthouse's
# default mobile emulation (Moto G Power screen, simulated slow 4G and 4x CPU slowdown).
# Each page is measured RUNS times; the median of each category goes into bench/RESULTS.md
# beside the issue's targets (performance >= 90, the other three >= 95).
#
# Usage: bench/lighthouse.sh [runs]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS=${1:-3}
WORK=$PWD/bench/work/lighthouse
PORT=18720
mkdir -p "$WORK"
# BIN=path/to/marquee measures that build instead of building the release one (a check
# of this script itself; the figures in RESULTS come from the release build).
if [ -n "${BIN:-}" ]; then BIN=$(realpath "$BIN"); else origin_setup node chromium ffmpeg python3; fi
command -v chromium >/dev/null || { echo "needs chromium: bash packaging/deps.sh test" >&2; exit 1; }
[ -d bench/lighthouse/node_modules/lighthouse ] ||
  npm ci --prefix bench/lighthouse --no-audit --no-fund --loglevel=error
trap origin_cleanup EXIT

DATA=$WORK/package
origin_package
ASSET=$ID
SITE=$WORK/site
rm -rf "$SITE"; mkdir -p "$SITE/library"
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(TRUNCATE)")' "$DATA/marquee.db"
cp "$DATA/marquee.db" "$SITE/marquee.db"
cp -r "$DATA/library/$ASSET" "$SITE/library/"
printf '[transcode]\npreset = "veryfast"\n' > "$SITE/marquee.toml"
python3 bench/gen_catalog.py "$SITE/marquee.db" "$ASSET" 40 100 "$WORK/ids.txt" "$WORK/prefixes.txt"
# The generator records artwork without image files (the storefront bench never loads
# images); here the browser does, so every poster comes from the media instead.
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM artwork"); c.commit()' "$SITE/marquee.db"

echo "lighthouse-bench-pass" | "$BIN" admin create --data-dir "$SITE" --email owner@example.com > /dev/null
KEY=$("$BIN" apikey create --data-dir "$SITE" --name lighthouse --owner owner@example.com 2>/dev/null | tail -1)
"$BIN" serve --data-dir "$SITE" --listen "127.0.0.1:$PORT" > "$WORK/marquee.out" 2> "$WORK/marquee.log" &
MPID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
BASE=http://127.0.0.1:$PORT
api() {
  local out
  out=$(curl -s -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data "$3" "$BASE$2")
  case ${out##*$'\n'} in 2??) ;; *) echo "$1 $2 failed: $out" >&2; exit 1 ;; esac
}

# A plan on sale and one title for its subscribers: the paywall, the pricing page and a
# locked tile are what a stranger sees.
api POST /api/v1/plans '{"name": "Explorer", "currency": "eur", "monthly_amount": 799, "yearly_amount": 7990, "trial_days": 7, "stream_limit": 3, "public": true, "description": "Every film and series, in HD, on any screen."}'
PAID=$(head -1 "$WORK/ids.txt")
api PUT "/api/v1/titles/$PAID/access" '{"level": {"kind": "subscribers", "plans": []}}'

PAGES=("home:/" "title:/title/$PAID" "pricing:/plans" "sign-up:/signup")
LH=bench/lighthouse/node_modules/lighthouse/cli/index.js
ROWS=()
for entry in "${PAGES[@]}"; do
  name=${entry%%:*} path=${entry#*:}
  status=$(curl -s -o /dev/null -w '%{http_code}' "$BASE$path")
  if [ "$status" != 200 ]; then
    echo "    $name ($path) answers $status: not measured"
    ROWS+=("| $name | \`$path\` | answers $status | | | |")
    continue
  fi
  for run in $(seq 1 "$RUNS"); do
    CHROME_PATH=/usr/bin/chromium node "$LH" "$BASE$path" --quiet \
      --chrome-flags="--headless=new --no-sandbox --disable-gpu" \
      --only-categories=performance,accessibility,best-practices,seo \
      --output=json --output-path="$WORK/$name-$run.json" > /dev/null 2>> "$WORK/lighthouse.log"
  done
  row=$(python3 - "$WORK" "$name" "$RUNS" <<'PY'
import json, statistics, sys
work, name, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cats = ["performance", "accessibility", "best-practices", "seo"]
scores = {c: [] for c in cats}
for run in range(1, runs + 1):
    report = json.load(open(f"{work}/{name}-{run}.json"))
    for c in cats:
        scores[c].append(round(report["categories"][c]["score"] * 100))
print(" | ".join(f"{statistics.median(scores[c]):.0f}" for c in cats))
PY
)
  echo "    $name ($path): $row"
  ROWS+=("| $name | \`$path\` | $row |")
done

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
section="<!-- lighthouse:begin -->
## Lighthouse: home, title, pricing and sign-up pages

Measured $(date -u +%Y-%m-%d) by \`bench/lighthouse.sh $RUNS\` on $(nproc) cores ($cpu).
Lighthouse $(node -e 'console.log(require("./bench/lighthouse/node_modules/lighthouse/package.json").version)')
against Debian's Chromium $(chromium --version 2>/dev/null | awk '{print $2}'), headless, with
Lighthouse's default mobile emulation and simulated throttling. Release build, default
settings, over plain HTTP on loopback. A catalog of 40 generated titles around one real
package (posters from the media), one plan on sale (with a 7-day trial) and the title below
for its subscribers. Median of $RUNS runs per page; targets: performance >= 90,
accessibility, best practices and SEO >= 95.

| page | path | performance | accessibility | best practices | SEO |
|---|---|---|---|---|---|
$(printf '%s\n' "${ROWS[@]}")
<!-- lighthouse:end -->"
write_section lighthouse "$section"
