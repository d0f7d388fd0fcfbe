#!/usr/bin/env bash
# Origin with playback tokens: the same Marquee, the same wrk mix, first on the public path
# of a free title, then (the title made "registered", so its package is AES-128 encrypted
# and every request carries a signed token and the viewer's session cookie, checked from
# memory on each one) on a viewer's token path. Runs alternate between two data dirs (one
# free package, one premium), so page cache and CPU state are alike. Figures go into
# bench/RESULTS.md between the origin-token markers.
#
# Usage: bench/origin-token.sh [seconds-per-run] [runs-per-side]   (defaults 15 and 2)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${1:-15}
RUNS=${2:-2}
THREADS=2 CONNECTIONS=64
WORK=$PWD/bench/work/origin-token
DATA=$WORK/data
PORT=18710
PASSWORD='correct horse battery staple'
mkdir -p "$WORK"
origin_setup wrk ffmpeg curl python3
trap origin_cleanup EXIT

origin_package
printf '[transcode]\npreset = "veryfast"\n[catalog]\nnew_titles = "published"\n' > "$DATA/marquee.toml"
# Accounts (already there from an earlier run is fine).
printf '%s\n' "$PASSWORD" | "$BIN" admin create --email owner@example.com --data-dir "$DATA" >/dev/null 2>&1 || true
printf '%s\n' "$PASSWORD" | "$BIN" admin create --email viewer@example.com --role viewer --data-dir "$DATA" >/dev/null 2>&1 || true
KEY=$("$BIN" apikey create --name bench --data-dir "$DATA" | tail -1)

start_marquee() {
  "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" > "$WORK/marquee.out" 2> "$WORK/marquee.log" &
  MPID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
}
api() { curl -sf -X "$1" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "http://127.0.0.1:$PORT$2" ${3:+-d "$3"}; }
set_level() { api PUT "/api/v1/titles/$ID/access" "{\"level\": $1}" >/dev/null; }

# The viewer's session cookie and the token path of the watch page.
sign_in() {
  local jar=$WORK/cookies.txt csrf
  rm -f "$jar"
  csrf=$(curl -sf -c "$jar" "http://127.0.0.1:$PORT/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
  curl -sf -b "$jar" -c "$jar" -o /dev/null --data-urlencode "csrf=$csrf" --data-urlencode "email=viewer@example.com" \
    --data-urlencode "password=$PASSWORD" "http://127.0.0.1:$PORT/login"
  COOKIE=$(awk '$6 ~ /marquee_session$/ {print $6 "=" $7}' "$jar")
  SRC=$(curl -sf -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT/watch/$ID" | sed -n 's/.*data-src="\([^"]*\)".*/\1/p' | sed 's|&#x2f;|/|g')
  [ -n "$SRC" ] || { echo "no player on the watch page" >&2; exit 1; }
  PREFIX=${SRC%master.m3u8}
}

# urls_for PREFIX: every playlist, segment and init segment of the package under PREFIX.
urls_for() {
  (cd "$PKG" && find . \( -name '*.m3u8' -o -name '*.m4s' -o -name 'init.mp4' \) ! -name '*.next' | sed "s|^\./|$1|" | sort) > "$WORK/urls.txt"
  cat > "$WORK/mix.lua" <<'LUA'
local paths = {}
for line in io.lines(os.getenv("URLS")) do paths[#paths + 1] = line end
local cookie = os.getenv("COOKIE")
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  if cookie ~= "" then return wrk.format("GET", paths[i], { Cookie = cookie }) end
  return wrk.format("GET", paths[i])
end
LUA
}

run_wrk() {
  URLS=$WORK/urls.txt COOKIE=${1:-} wrk -t$THREADS -c$CONNECTIONS -d"${DURATION}s" --latency -s "$WORK/mix.lua" "http://127.0.0.1:$PORT" > "$WORK/wrk.txt"
  grep -q 'Non-2xx' "$WORK/wrk.txt" && { echo "errors in the run:" >&2; cat "$WORK/wrk.txt" >&2; exit 1; }
  echo "$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.txt") $(to_ms "$(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt")") $(to_ms "$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")")"
}

start_marquee
# A title anyone may publish: a synopsis, then live.
api PATCH "/api/v1/titles/$ID" '{"synopsis": "Benchmark clip"}' >/dev/null
api POST "/api/v1/titles/$ID/publish" >/dev/null || true
set_level null   # an earlier run may have left it premium
curl -sf "http://127.0.0.1:$PORT/p/public/$ID/master.m3u8" >/dev/null || { echo "the title is not live" >&2; exit 1; }
rows="" p_rps=() t_rps=() p_p99=() t_p99=()
for r in $(seq 1 "$RUNS"); do
  # Public: the title free (its package stays as it is, encrypted after the first run).
  set_level null
  urls_for "/p/public/$ID/"
  URLS=$WORK/urls.txt COOKIE= wrk -t1 -c4 -d2s -s "$WORK/mix.lua" "http://127.0.0.1:$PORT" >/dev/null
  read -r rps p50 p99 < <(run_wrk "")
  p_rps+=("$rps"); p_p99+=("$p99"); rows+="| $r | public path | $rps | $p50 | $p99 |"$'\n'
  echo "run $r public: $rps req/s, p50 $p50 ms, p99 $p99 ms"
  # Token: the title for signed-in viewers; wait until its package is encrypted.
  set_level '{"kind": "registered"}'
  for _ in $(seq 1 300); do grep -q evideo_ "$PKG/master.m3u8" 2>/dev/null && break; sleep 0.2; done
  grep -q evideo_ "$PKG/master.m3u8" || { echo "the package was not encrypted" >&2; exit 1; }
  sign_in
  urls_for "$PREFIX"
  URLS=$WORK/urls.txt COOKIE=$COOKIE wrk -t1 -c4 -d2s -s "$WORK/mix.lua" "http://127.0.0.1:$PORT" >/dev/null
  read -r rps p50 p99 < <(run_wrk "$COOKIE")
  t_rps+=("$rps"); t_p99+=("$p99"); rows+="| $r | token + cookie | $rps | $p50 | $p99 |"$'\n'
  echo "run $r token: $rps req/s, p50 $p50 ms, p99 $p99 ms"
done

mean() { printf '%s\n' "$@" | awk '{s += $1} END {printf "%.2f", s / NR}'; }
P_RPS=$(mean "${p_rps[@]}") T_RPS=$(mean "${t_rps[@]}") P_P99=$(mean "${p_p99[@]}") T_P99=$(mean "${t_p99[@]}")
ratio=$(awk -v a="$T_RPS" -v b="$P_RPS" 'BEGIN { printf "%.2f", a / b }')
p99_ratio=$(awk -v a="$T_P99" -v b="$P_P99" 'BEGIN { printf "%.2f", a / b }')
echo "token / public: requests/s ${ratio}, p99 ${p99_ratio}"

section=$(cat <<MD
<!-- origin-token:begin -->
## Origin with playback tokens: token path vs public path, same server

Measured $(date -u +%Y-%m-%d) by \`bench/origin-token.sh $DURATION $RUNS\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')).
The package of \`bench/origin.sh\` (720p, 30 s), served by one release Marquee on the sendfile
fast path: first as a free title under \`/p/public/<asset>/\`, then as a "registered" title,
AES-128 encrypted, under a viewer's token with the session cookie on every request (the
token's HMAC, expiry and viewer tag checked from memory, no database query). The reference is
the same server's public path. \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s\`, the same URL mix (every
playlist, init segment and segment); runs alternate.

| run | path | requests/s | p50 (ms) | p99 (ms) |
|---|---|---|---|---|
${rows}
| mean | public | token | token / public |
|---|---|---|---|
| requests/s | ${P_RPS} | ${T_RPS} | **${ratio}** |
| p99 latency (ms) | ${P_P99} | ${T_P99} | ${p99_ratio} |

Target: requests/s with tokens >= 0.95x the public path (issue 11). Since 2026-12-03 each token request also updates the support diagnostic's in-memory log (one lock).
<!-- origin-token:end -->
MD
)
write_section origin-token "$section"
