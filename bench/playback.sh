#!/usr/bin/env bash
# Playback start-up benchmark: time to first frame in headless Chromium, from navigation to
# the first rendered frame (requestVideoFrameCallback), over N loads of the same title, each
# in a fresh browser context: Marquee's watch page, beside a bare page (served by nginx) that
# plays the same master playlist with hls.js defaults. p50 and p95 go into bench/RESULTS.md.
#
# Usage: bench/playback.sh [loads]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
LOADS=${1:-20}
WORK=$PWD/bench/work/playback
DATA=$WORK/data
M_PORT=18720 N_PORT=18721
mkdir -p "$WORK"
origin_setup nginx ffmpeg node
[ -d tests/browser/node_modules/playwright-core ] || { echo "needs playwright-core: bash packaging/deps.sh test" >&2; exit 1; }
trap origin_cleanup EXIT

# The package, published as soon as it is ready.
if ! ls "$DATA"/library/*/master.m3u8 >/dev/null 2>&1; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=30" \
    -f lavfi -i "sine=frequency=440:duration=30" -c:v libx264 -preset veryfast -crf 20 -c:a aac -shortest "$WORK/clip.mp4"
  printf '[transcode]\npreset = "veryfast"\n\n[catalog]\nnew_titles = "published"\n' > "$DATA/marquee.toml"
  "$BIN" ingest --data-dir "$DATA" "$WORK/clip.mp4" > /dev/null
fi
ID=$(basename "$(dirname "$(ls "$DATA"/library/*/master.m3u8 | head -1)")")

"$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$M_PORT" > "$WORK/marquee.out" 2> "$WORK/marquee.log" &
MPID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$M_PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$M_PORT/watch/$ID" > /dev/null || { echo "the watch page does not answer" >&2; exit 1; }

# The bare page: hls.js defaults, autoplay, the same master playlist from Marquee's origin.
mkdir -p "$WORK/static"
cp web-ui/static/vendor/hls.min.js "$WORK/static/"
cat > "$WORK/static/index.html" <<HTML
<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bare</title></head><body>
<video id="v" muted autoplay playsinline></video>
<script src="hls.min.js"></script>
<script>const h = new Hls(); h.loadSource('http://127.0.0.1:$M_PORT/p/public/$ID/master.m3u8'); h.attachMedia(document.getElementById('v'));</script>
</body></html>
HTML
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 256; }
http { access_log off; types { text/html html; text/javascript js; } server { listen 127.0.0.1:$N_PORT; root $WORK/static; } }
NGINX
nginx -c "$WORK/nginx.conf"

echo "==> time to first frame: Marquee's watch page and the bare hls.js page, $LOADS loads each, taking turns"
read -r m50 m95 mmin mmax b50 b95 bmin bmax < <(
  (cd tests/browser && node ttff.mjs "$LOADS" "http://127.0.0.1:$M_PORT/watch/$ID" "http://127.0.0.1:$N_PORT/") | tail -1 |
    python3 -c 'import json, sys, statistics
out = []
for ms in json.load(sys.stdin)["ms"]:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    out += [f"{statistics.median(ms):.0f}", f"{p95:.0f}", f"{ms[0]:.0f}", f"{ms[-1]:.0f}"]
print(" ".join(out))')
echo "    watch page: p50 $m50 ms, p95 $m95 ms; bare page: p50 $b50 ms, p95 $b95 ms"

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
section="<!-- playback:begin -->
## Playback start-up: time to first frame, Marquee's watch page vs a bare hls.js page

Measured $(date -u +%Y-%m-%d) by \`bench/playback.sh $LOADS\` on $(nproc) cores ($cpu).
Release build; one 720p, 30 s title (the default ladder, 4 s segments), published. Each of
$LOADS loads opens a fresh headless Chromium context (nothing cached), starts playback
muted as soon as the page has its video, and records the time from navigation start to the
first rendered frame (\`requestVideoFrameCallback\`). The bare page is served by nginx and
plays the same master playlist from Marquee's origin with hls.js defaults. The two pages
take turns, load by load. Loopback.

The watch page starts on the rendition that fits the bandwidth hls.js measured in this
browser last time (a fresh browser: 1.5 Mbit/s, so 240p here, switching up after the first
segment), lets the page preload the master playlist, opens the MediaSource while it is
parsed, runs hls.js without its worker (fMP4 needs no transmuxing; the worker costs a second
parse of hls.js), and fetches thumbnails only once playback runs.

| page | p50 | p95 | fastest | slowest |
|---|---|---|---|---|
| Marquee's watch page | $m50 ms | $m95 ms | $mmin ms | $mmax ms |
| bare hls.js page | $b50 ms | $b95 ms | $bmin ms | $bmax ms |

Target for the watch page: p50 ≤ 400 ms.
<!-- playback:end -->"
write_section playback "$section"
