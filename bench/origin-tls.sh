#!/usr/bin/env bash
# HTTPS origin benchmark: one package served by `marquee serve --tls` and by nginx with the
# same certificate (Marquee's self-signed one) and the same cipher (TLS 1.3,
# TLS_AES_128_GCM_SHA256, forced on the clients through an OpenSSL configuration and on
# nginx), at the same URLs. Three rows, each run alternating the two servers:
#   h1     wrk (HTTP/1.1, keep-alive) cycling through every playlist and segment;
#   h2     h2load (HTTP/2, 10 streams per connection) over the same URLs;
#   mixed  h2load where each connection first fetches the watch page, then segments
#          (what a browser's player does: it shares the page's connection).
# Figures go into bench/RESULTS.md between the origin-tls markers.
#
# Usage: bench/origin-tls.sh [seconds-per-run] [runs-per-side]   (defaults 15 and 2)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${1:-15}
RUNS=${2:-2}
THREADS=2 CONNECTIONS=64 STREAMS=10
WORK=$PWD/bench/work/origin-tls
DATA=$WORK/data
M_PORT=18710 M_PLAIN=18711 N_PORT=18712
mkdir -p "$WORK"
origin_setup wrk h2load nginx ffmpeg openssl

trap origin_cleanup EXIT

origin_package

# The clients speak TLS 1.3 with AES-128-GCM only.
cat > "$WORK/openssl.cnf" <<'CNF'
openssl_conf = conf
[conf]
ssl_conf = ssl
[ssl]
system_default = tls
[tls]
MinProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
CNF
export OPENSSL_CONF=$WORK/openssl.cnf

# start_marquee: HTTPS on M_PORT; the first start makes the self-signed certificate.
start_marquee() {
  MARQUEE_TLS__LISTEN="127.0.0.1:$M_PORT" "$BIN" serve --tls --data-dir "$DATA" --listen "127.0.0.1:$M_PLAIN" \
    > "$WORK/marquee.out" 2> "$WORK/marquee.log" &
  MPID=$!
  for _ in $(seq 1 100); do curl -skf "https://127.0.0.1:$M_PORT/healthz" >/dev/null && break; sleep 0.1; done
  curl -skf "https://127.0.0.1:$M_PORT/p/public/$ID/master.m3u8" >/dev/null || { echo "marquee does not serve the package" >&2; exit 1; }
}
start_marquee
CERT=$DATA/tls/cert.pem KEY=$DATA/tls/key.pem

# The URL lists: every playlist and segment; for the mixed row the watch page first.
origin_urls
segments=$(grep -c '\.m4s$' "$URLS"); playlists=$(grep -c '\.m3u8$' "$URLS")
# nginx serves a copy of Marquee's watch page at the same path (a static file there).
mkdir -p "$WORK/www/watch"
curl -skf "https://127.0.0.1:$M_PORT/watch/$ID" -o "$WORK/www/watch/$ID"
page_bytes=$(stat -c %s "$WORK/www/watch/$ID")

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
  types { application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; video/mp4 mp4; text/html html; }
  default_type text/html;
  ssl_certificate $CERT; ssl_certificate_key $KEY;
  ssl_protocols TLSv1.3;
  ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
  ssl_session_cache shared:SSL:10m;
  server {
    listen 127.0.0.1:$N_PORT ssl http2;
    location /p/public/ { alias $DATA/library/; add_header Cache-Control "public, max-age=31536000, immutable"; }
    location /watch/ { root $WORK/www; }
  }
}
NGINX
nginx -c "$WORK/nginx.conf"
sleep 0.5
curl -skf "https://127.0.0.1:$N_PORT/p/public/$ID/master.m3u8" >/dev/null || { echo "nginx does not serve the package" >&2; exit 1; }
for port in $M_PORT $N_PORT; do
  cipher=$(curl -sk -o /dev/null -w '%{http_version}' --http2 "https://127.0.0.1:$port/p/public/$ID/master.m3u8")
  [ "$cipher" = 2 ] || { echo "port $port does not speak HTTP/2" >&2; exit 1; }
  suite=$(openssl s_client -connect "127.0.0.1:$port" -brief </dev/null 2>&1 | awk -F': ' '/Ciphersuite/ {print $2}')
  [ "$suite" = TLS_AES_128_GCM_SHA256 ] || { echo "port $port negotiated '$suite'" >&2; exit 1; }
done


# Samples the RSS of pid $1 while process $2 runs; prints the peak in MiB.
peak_rss() {
  local pid=$1 runner=$2 peak=0
  while kill -0 "$runner" 2>/dev/null; do
    if [ -n "$pid" ]; then peak=$(awk -v a="$peak" -v b="$(rss_mib "$pid")" 'BEGIN { print (b > a ? b : a) }'); fi
    sleep 0.5
  done
  echo "$peak"
}

# run_h1 PORT [PID]: "requests/s p50-ms p99-ms peak-MiB" from wrk.
run_h1() {
  local port=$1 pid=${2:-}
  URLS=$URLS wrk -t$THREADS -c$CONNECTIONS -d"${DURATION}s" --latency -s "$WORK/mix.lua" "https://127.0.0.1:$port" > "$WORK/wrk.txt" &
  local peak; peak=$(peak_rss "$pid" $!)
  grep -qE 'Non-2xx|Socket errors' "$WORK/wrk.txt" && { echo "errors in the run:" >&2; cat "$WORK/wrk.txt" >&2; exit 1; }
  echo "$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.txt") $(to_ms "$(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt")") $(to_ms "$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")") $peak"
}

# run_h2 PORT LIST [PID]: the same from h2load, percentiles from its per-request log
# (elapsed microseconds in the third column).
run_h2() {
  local port=$1 list=$2 pid=${3:-}
  sed "s|^|https://127.0.0.1:$port|" "$list" > "$WORK/h2-urls.txt"
  rm -f "$WORK/h2.log"
  h2load -t$THREADS -c$CONNECTIONS -m$STREAMS -D "$DURATION" --warm-up-time=1 \
    -i "$WORK/h2-urls.txt" --log-file="$WORK/h2.log" > "$WORK/h2.txt" 2>&1 &
  local peak; peak=$(peak_rss "$pid" $!)
  grep -qE '(^|[ ,])[1-9][0-9]* (failed|errored|timeout|4xx|5xx)' "$WORK/h2.txt" && { echo "errors in the run:" >&2; cat "$WORK/h2.txt" >&2; exit 1; }
  local rps p50 p99
  rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$WORK/h2.txt")
  read -r p50 p99 < <(awk '{print $3}' "$WORK/h2.log" | sort -n | awk '{v[NR] = $1} END {printf "%.2f %.2f\n", v[int(NR * 0.5)] / 1000, v[int(NR * 0.99)] / 1000}')
  echo "$rps $p50 $p99 $peak"
}

# The mixed list: the watch page, then every segment.
MIXED=$WORK/mixed.txt
{ echo "/watch/$ID"; grep '\.m4s$' "$URLS"; } > "$MIXED"

idle=$(rss_mib "$MPID")
# Warm both (page cache, session caches).
for port in $M_PORT $N_PORT; do
  URLS=$URLS wrk -t1 -c4 -d2s -s "$WORK/mix.lua" "https://127.0.0.1:$port" >/dev/null
done

declare -A sum_rps sum_p99 sum_p50
rows="" m_peak=0
record() { # row server rps p50 p99
  rows+="| $r | $1 | $2 | $3 | $4 | $5 |"$'\n'
  sum_rps[$1.$2]=$(awk -v a="${sum_rps[$1.$2]:-0}" -v b="$3" 'BEGIN { print a + b }')
  sum_p50[$1.$2]=$(awk -v a="${sum_p50[$1.$2]:-0}" -v b="$4" 'BEGIN { print a + b }')
  sum_p99[$1.$2]=$(awk -v a="${sum_p99[$1.$2]:-0}" -v b="$5" 'BEGIN { print a + b }')
  echo "run $r $1 $2: $3 req/s, p50 $4 ms, p99 $5 ms"
}
for r in $(seq 1 "$RUNS"); do
  # Alternate which server goes first, row by row.
  for row in h1 h2 mixed; do
    order="Marquee nginx"; [ $(( r % 2 )) = 0 ] && order="nginx Marquee"
    for server in $order; do
      if [ "$server" = Marquee ]; then port=$M_PORT pid=$MPID; else port=$N_PORT pid=""; fi
      case $row in
        h1) read -r rps p50 p99 peak < <(run_h1 "$port" "$pid") ;;
        h2) read -r rps p50 p99 peak < <(run_h2 "$port" "$URLS" "$pid") ;;
        mixed) read -r rps p50 p99 peak < <(run_h2 "$port" "$MIXED" "$pid") ;;
      esac
      [ "$server" = Marquee ] && m_peak=$(awk -v a="$m_peak" -v b="$peak" 'BEGIN { print (b > a ? b : a) }')
      record "$row" "$server" "$rps" "$p50" "$p99"
    done
  done
done

summary="" verdicts=""
for row in h1 h2 mixed; do
  read -r m_rps n_rps m_p50 n_p50 m_p99 n_p99 < <(awk -v runs="$RUNS" \
    -v a="${sum_rps[$row.Marquee]}" -v b="${sum_rps[$row.nginx]}" \
    -v c="${sum_p50[$row.Marquee]}" -v d="${sum_p50[$row.nginx]}" \
    -v e="${sum_p99[$row.Marquee]}" -v f="${sum_p99[$row.nginx]}" \
    'BEGIN { printf "%.0f %.0f %.2f %.2f %.2f %.2f\n", a/runs, b/runs, c/runs, d/runs, e/runs, f/runs }')
  rr=$(awk -v a="$m_rps" -v b="$n_rps" 'BEGIN { printf "%.2f", a / b }')
  pr=$(awk -v a="$m_p99" -v b="$n_p99" 'BEGIN { printf "%.2f", a / b }')
  summary+="| $row | $m_rps | $n_rps | **$rr** | $m_p50 / $n_p50 | $m_p99 / $n_p99 | **$pr** |"$'\n'
  verdicts+="$row: $(awk -v r="$rr" -v p="$pr" 'BEGIN { print "requests/s " (r >= 0.9 ? "meets" : "misses") " >= 0.9x, p99 " (p <= 1.2 ? "meets" : "misses") " <= 1.2x" }'). "
done
echo "$verdicts"

# Kernel TLS would let sendfile work under TLS; say whether this kernel has it at all.
ulps=$(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null || echo none)
if grep -qw tls <<<"$ulps"; then
  ktls="Kernel TLS is available on this kernel; neither server uses it in this run."
else
  ktls="Kernel TLS (sendfile under TLS) cannot be measured here: kernel $(uname -r) has no \`tls\` TCP upper layer (\`tcp_available_ulp\`: $ulps)."
fi

section=$(cat <<MD
<!-- origin-tls:begin -->
## HTTPS origin: Marquee (\`serve --tls\`) vs nginx, same certificate and cipher

Measured $(date -u +%Y-%m-%d) by \`bench/origin-tls.sh $DURATION $RUNS\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')),
shared with other work (figures are noisy; runs alternate which server goes first).
One 720p, 30 s package (${segments} segments, ${playlists} playlists) at the same URLs on both.
Both servers: Marquee's self-signed ECDSA P-256 certificate, TLS 1.3 with
TLS_AES_128_GCM_SHA256 only (checked with \`openssl s_client\` before the runs). nginx
$(nginx -v 2>&1 | sed 's|.*/||'): static, \`sendfile on\` (which TLS cannot use), \`worker_processes auto\`,
HTTP/2 on, a shared session cache, access log off. Marquee: release build, default settings
(rustls with ring, actix-web's HTTP/1 and HTTP/2 dispatchers, the token and ready checks
from memory on every request, HTTP/2 behind \`H2Gate\`'s stream and header limits).
${ktls}
- **h1**: \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s\` over HTTPS, cycling through every playlist and segment.
- **h2**: \`h2load -t$THREADS -c$CONNECTIONS -m$STREAMS -D $DURATION\`, the same URLs; p50/p99 from h2load's per-request log.
- **mixed**: h2load as above, each connection asking first for the watch page (${page_bytes} bytes;
  nginx serves a saved copy of Marquee's page) and then every segment, as
  a browser's player does on the page's connection (h2load goes through the list in order on
  each connection, so one request in $((segments + 1)) is the page).

| run | row | server | requests/s | p50 (ms) | p99 (ms) |
|---|---|---|---|---|---|
${rows}
| row | Marquee requests/s | nginx requests/s | ratio | p50 ms (Marquee / nginx) | p99 ms (Marquee / nginx) | p99 ratio |
|---|---|---|---|---|---|---|
${summary}
Marquee RSS: ${idle} MiB idle, ${m_peak} MiB peak under load.

Targets: requests/s >= 0.9x nginx and p99 <= 1.2x on every row. Result: ${verdicts}
<!-- origin-tls:end -->
MD
)
write_section origin-tls "$section"
