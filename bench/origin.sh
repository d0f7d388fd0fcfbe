#!/usr/bin/env bash
# Origin benchmark: one package served by Marquee and by nginx (static, sendfile, tuned
# keep-alive) at the same URLs; wrk on loopback with the same threads and connections
# against a mix of segment and playlist URLs. Runs alternate. Figures go into
# bench/RESULTS.md between the origin markers.
#
# Usage: bench/origin.sh [seconds-per-run] [runs-per-side]   (defaults 15 and 2)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${1:-15}
RUNS=${2:-2}
THREADS=2 CONNECTIONS=64
WORK=$PWD/bench/work/origin
DATA=$WORK/data
M_PORT=18700 N_PORT=18701
mkdir -p "$WORK"
origin_setup wrk nginx ffmpeg

trap origin_cleanup EXIT

origin_package

# The URL mix: every playlist and every segment of the package, as a player would ask.
origin_urls
segments=$(grep -c '\.m4s$' "$URLS"); playlists=$(grep -c '\.m3u8$' "$URLS")

# nginx: the same files at the same paths.
cat > "$WORK/nginx.conf" <<NGINX
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 65; keepalive_requests 100000;
  open_file_cache max=10000 inactive=60s; open_file_cache_valid 60s;
  types { application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; video/mp4 mp4; }
  server {
    listen 127.0.0.1:$N_PORT;
    location /p/public/ { alias $DATA/library/; add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}
NGINX


# start_marquee [VAR=value...]: the environment to start Marquee with.
start_marquee() {
  env "$@" "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$M_PORT" > "$WORK/marquee.out" 2> "$WORK/marquee.log" &
  MPID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$M_PORT/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$M_PORT/p/public/$ID/master.m3u8" >/dev/null || { echo "marquee does not serve the package" >&2; exit 1; }
}

# Runs wrk against port $1 and samples the RSS of pid $2 (if any) meanwhile.
run_wrk() {
  local port=$1 pid=${2:-} peak=0
  URLS=$URLS wrk -t$THREADS -c$CONNECTIONS -d"${DURATION}s" --latency -s "$WORK/mix.lua" "http://127.0.0.1:$port" > "$WORK/wrk.txt" &
  local wpid=$!
  while kill -0 "$wpid" 2>/dev/null; do
    if [ -n "$pid" ]; then peak=$(awk -v a="$peak" -v b="$(rss_mib "$pid")" 'BEGIN { print (b > a ? b : a) }'); fi
    sleep 0.5
  done
  wait "$wpid"
  local rps transfer p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.txt")
  transfer=$(awk '/^Transfer\/sec/ {print $2}' "$WORK/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")
  grep -q 'Non-2xx' "$WORK/wrk.txt" && { echo "errors in the run:" >&2; cat "$WORK/wrk.txt" >&2; exit 1; }
  echo "$rps $transfer $p50 $p99 $peak"
}

to_mibs() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /GB$/) n *= 1024; else if (v ~ /KB$/) n /= 1024; printf "%.1f", n }'; }

start_marquee
sleep 1
idle=$(rss_mib "$MPID")
nginx -c "$WORK/nginx.conf"
sleep 0.5
curl -sf "http://127.0.0.1:$N_PORT/p/public/$ID/master.m3u8" >/dev/null || { echo "nginx does not serve the package" >&2; exit 1; }

# Warm both (page cache, connections).
URLS=$URLS wrk -t1 -c4 -d2s -s "$WORK/mix.lua" "http://127.0.0.1:$M_PORT" >/dev/null
URLS=$URLS wrk -t1 -c4 -d2s -s "$WORK/mix.lua" "http://127.0.0.1:$N_PORT" >/dev/null

rows="" m_rps=() n_rps=() m_p99=() n_p99=() m_p50=() n_p50=() m_tx=() n_tx=() m_peak=0 a_rps=() a_p99=()
for r in $(seq 1 "$RUNS"); do
  # Each run measures all three side by side: the sendfile fast path, nginx, and the
  # actix-web path (what a connection that also asked for a page or the API gets).
  if [ -z "${MPID:-}" ]; then
    start_marquee
    URLS=$URLS wrk -t1 -c4 -d2s -s "$WORK/mix.lua" "http://127.0.0.1:$M_PORT" >/dev/null
  fi
  read -r rps tx p50 p99 peak < <(run_wrk $M_PORT "$MPID")
  m_rps+=("$rps"); m_tx+=("$(to_mibs "$tx")"); m_p50+=("$(to_ms "$p50")"); m_p99+=("$(to_ms "$p99")")
  m_peak=$(awk -v a="$m_peak" -v b="$peak" 'BEGIN { print (b > a ? b : a) }')
  rows+="| $r | Marquee | $rps | $tx | $p50 | $p99 |"$'\n'
  echo "run $r marquee: $rps req/s, $tx/s, p50 $p50, p99 $p99, peak RSS ${peak} MiB"
  read -r rps tx p50 p99 _ < <(run_wrk $N_PORT)
  n_rps+=("$rps"); n_tx+=("$(to_mibs "$tx")"); n_p50+=("$(to_ms "$p50")"); n_p99+=("$(to_ms "$p99")")
  rows+="| $r | nginx | $rps | $tx | $p50 | $p99 |"$'\n'
  echo "run $r nginx:   $rps req/s, $tx/s, p50 $p50, p99 $p99"
  kill "$MPID"; wait "$MPID" 2>/dev/null || true
  start_marquee MARQUEE_SENDFILE=false
  URLS=$URLS wrk -t1 -c4 -d2s -s "$WORK/mix.lua" "http://127.0.0.1:$M_PORT" >/dev/null
  read -r rps tx p50 p99 _ < <(run_wrk $M_PORT "$MPID")
  a_rps+=("$rps"); a_p99+=("$(to_ms "$p99")")
  rows+="| $r | Marquee, sendfile off | $rps | $tx | $p50 | $p99 |"$'\n'
  echo "run $r marquee, sendfile off: $rps req/s, $tx/s, p50 $p50, p99 $p99"
  kill "$MPID"; wait "$MPID" 2>/dev/null || true
  MPID=""
done

mean() { printf '%s\n' "$@" | awk '{s += $1} END {printf "%.2f", s / NR}'; }
M_RPS=$(mean "${m_rps[@]}") N_RPS=$(mean "${n_rps[@]}")
M_P99=$(mean "${m_p99[@]}") N_P99=$(mean "${n_p99[@]}")
M_P50=$(mean "${m_p50[@]}") N_P50=$(mean "${n_p50[@]}")
M_TX=$(mean "${m_tx[@]}") N_TX=$(mean "${n_tx[@]}")
A_RPS=$(mean "${a_rps[@]}") A_P99=$(mean "${a_p99[@]}")
a_rps_ratio=$(awk -v a="$A_RPS" -v b="$N_RPS" 'BEGIN { printf "%.2f", a / b }')
a_p99_ratio=$(awk -v a="$A_P99" -v b="$N_P99" 'BEGIN { printf "%.2f", a / b }')
rps_ratio=$(awk -v a="$M_RPS" -v b="$N_RPS" 'BEGIN { printf "%.2f", a / b }')
p99_ratio=$(awk -v a="$M_P99" -v b="$N_P99" 'BEGIN { printf "%.2f", a / b }')
verdict=$(awk -v r="$rps_ratio" -v p="$p99_ratio" -v m="$m_peak" 'BEGIN {
  print (r >= 0.9 ? "meets" : "misses") " the >= 0.9x requests/s target; p99 " (p <= 1.2 ? "meets" : "misses") " the <= 1.2x target; RSS under load " (m <= 120 ? "meets" : "misses") " the <= 120 MB target" }')
echo "ratio requests/s ${rps_ratio}, p99 ${p99_ratio}; ${verdict}"

section=$(cat <<MD
<!-- origin:begin -->
## Origin: Marquee vs nginx serving the same package

Measured $(date -u +%Y-%m-%d) by \`bench/origin.sh $DURATION $RUNS\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')).
One 720p, 30 s package (${segments} segments, ${playlists} playlists) at the same
\`/p/public/<asset>/...\` URLs on both servers. nginx $(nginx -v 2>&1 | sed 's|.*/||'): static,
\`sendfile on\`, \`keepalive_requests 100000\`, \`open_file_cache\`, access log off,
\`worker_processes auto\`. Marquee: release build, default settings, token and ready checks on
every request (from memory), ETag and Last-Modified, no compression; wrk's connections only
fetch from the origin, so they stay on the sendfile fast path. The rows "sendfile off"
(\`MARQUEE_SENDFILE=false\`, a restart, in each run after the other two) show the actix-web path, which
serves connections that also asked for a page or the API. \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s\` on
loopback, cycling through every playlist and segment URL; wrk shares the machine's cores with
the server under test. Runs alternate.

| run | server | requests/s | transfer/s | p50 | p99 |
|---|---|---|---|---|---|
${rows}
| mean | Marquee | nginx | Marquee / nginx |
|---|---|---|---|
| requests/s | ${M_RPS} | ${N_RPS} | **${rps_ratio}** |
| transfer (MiB/s) | ${M_TX} | ${N_TX} | |
| p50 latency (ms) | ${M_P50} | ${N_P50} | |
| p99 latency (ms) | ${M_P99} | ${N_P99} | **${p99_ratio}** |
| sendfile off: requests/s | ${A_RPS} | | ${a_rps_ratio} |
| sendfile off: p99 latency (ms) | ${A_P99} | | ${a_p99_ratio} |

Marquee RSS: ${idle} MiB idle, ${m_peak} MiB peak under load.

Targets: requests/s >= 0.9x nginx, p99 <= 1.2x nginx, RSS under load <= 120 MB. Result: ${verdict}.
<!-- origin:end -->
MD
)
write_section origin "$section"
