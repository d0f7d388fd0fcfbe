#!/usr/bin/env bash
# Transcode benchmark: Marquee's in-process ladder against the `ffmpeg` program making the
# same ladder (same x264 preset, bitrates, GOP and segment settings) in one command with a
# split filter and var_stream_map. Runs alternate on the same machine; the figures go into
# bench/RESULTS.md between the transcode markers.
#
# Usage: bench/transcode.sh [runs-per-side]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS=${1:-3}
WORK=bench/work/transcode
mkdir -p "$WORK"
command -v ffmpeg >/dev/null || { echo "needs the ffmpeg program: bash packaging/deps.sh test" >&2; exit 1; }
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

echo "==> building marquee (release)"
cargo build --release --locked -q
BIN=$PWD/target/release/marquee

SRC=$WORK/source-1080p30-60s.mp4
if [ ! -f "$SRC" ]; then
  echo "==> making a 1080p30, 60 s source"
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=60" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=60" \
    -c:v libx264 -preset fast -crf 18 -pix_fmt yuv420p -c:a aac -b:a 192k -shortest "$SRC"
fi

# The ladder both sides make: Marquee's default (src/config.rs).
PRESET=veryfast SEG=4 FPS=30 GOP=$((FPS * SEG))
HEIGHTS=(1080 720 540 360 240) WIDTHS=(1920 1280 960 640 426) KBPS=(5000 3000 2000 1200 700)

REQUEST=$WORK/request.json
ladder=$(for i in "${!HEIGHTS[@]}"; do printf '{"height":%s,"video_kbps":%s}' "${HEIGHTS[$i]}" "${KBPS[$i]}"; if [ "$i" -lt 4 ]; then printf ,; fi; done)
printf '{"source":"%s","output_dir":"%s","sidecars":[],"settings":{"segment_secs":%s,"ladder":[%s],"audio_kbps":128,"preset":"%s","threads":0}}\n' \
  "$PWD/$SRC" "$PWD/$WORK/marquee-out" "$SEG" "$ladder" "$PRESET" > "$REQUEST"

filter="[0:v]fps=$FPS,split=5[s0][s1][s2][s3][s4]"
maps=() vopts=() vsm=""
for i in "${!HEIGHTS[@]}"; do
  filter+=";[s$i]scale=${WIDTHS[$i]}:${HEIGHTS[$i]}:flags=bicubic,setsar=1,format=yuv420p[o$i]"
  maps+=(-map "[o$i]")
  k=${KBPS[$i]}
  vopts+=(-b:v:$i "${k}k" -maxrate:v:$i "$((k * 3 / 2))k" -bufsize:v:$i "$((k * 2))k")
  vsm+="v:$i,agroup:aud "
done
vsm+="a:0,agroup:aud"

run_marquee() {
  rm -rf "$WORK/marquee-out"
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$BIN" worker < "$REQUEST" > "$WORK/marquee-events.txt"
  grep -q '"event":"done"' "$WORK/marquee-events.txt" || { echo "marquee worker failed" >&2; tail -3 "$WORK/marquee-events.txt" >&2; exit 1; }
  cat "$WORK/time.txt"
}

run_ffmpeg() {
  rm -rf "$WORK/ffmpeg-out"; mkdir -p "$WORK/ffmpeg-out"
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" ffmpeg -v error -y -i "$SRC" -filter_complex "$filter" \
    "${maps[@]}" -map 0:a \
    -c:v libx264 -preset "$PRESET" -profile:v high "${vopts[@]}" \
    -x264-params "keyint=$GOP:min-keyint=$GOP:scenecut=0:open-gop=0" -forced-idr 1 \
    -force_key_frames "expr:gte(t,n_forced*$SEG)" \
    -c:a aac -b:a 128k -ac 2 -ar 48000 \
    -f hls -hls_time "$SEG" -hls_playlist_type vod -hls_segment_type fmp4 -hls_flags independent_segments \
    -master_pl_name master.m3u8 -var_stream_map "$vsm" \
    -hls_segment_filename "$WORK/ffmpeg-out/stream_%v/seg_%05d.m4s" "$WORK/ffmpeg-out/stream_%v/index.m3u8"
  cat "$WORK/time.txt"
}

m_times=() f_times=() m_rss=() f_rss=()
for r in $(seq 1 "$RUNS"); do
  read -r t rss < <(run_marquee); m_times+=("$t"); m_rss+=("$rss"); echo "run $r marquee: ${t}s, peak RSS ${rss} KiB"
  read -r t rss < <(run_ffmpeg);  f_times+=("$t"); f_rss+=("$rss"); echo "run $r ffmpeg:  ${t}s, peak RSS ${rss} KiB"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
max() { printf '%s\n' "$@" | sort -g | tail -1; }
mm=$(median "${m_times[@]}") fm=$(median "${f_times[@]}")
ratio=$(awk -v a="$mm" -v b="$fm" 'BEGIN { printf "%.2f", a / b }')
m_peak=$(( $(max "${m_rss[@]}") / 1024 )) f_peak=$(( $(max "${f_rss[@]}") / 1024 ))
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.0 ? "meets" : "misses") }')
echo "median marquee ${mm}s, ffmpeg ${fm}s, ratio ${ratio} (${verdict} the <= 1.0 target)"

section=$(cat <<MD
<!-- transcode:begin -->
## Transcode: full ladder, Marquee vs the ffmpeg program

Measured $(date -u +%Y-%m-%d) by \`bench/transcode.sh $RUNS\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/ {print $2}') GiB).
Source: 1920x1080, 30 fps, 60 s, with AAC audio. Both sides make the same ladder
(1080p 5000k, 720p 3000k, 540p 2000k, 360p 1200k, 240p 700k; capped VBR at 1.5x; x264
\`$PRESET\`, high profile; ${SEG} s segments, closed GOP of ${GOP} frames, IDR on every
boundary; AAC 128k stereo; HLS fMP4). Marquee also writes a poster and a thumbnail
sprite; the ffmpeg command does not. Marquee is timed as its \`marquee worker\` process
(the part that transcodes); runs alternate.

| run | Marquee (s) | ffmpeg (s) |
|---|---|---|
$(for i in "${!m_times[@]}"; do echo "| $((i + 1)) | ${m_times[$i]} | ${f_times[$i]} |"; done)

| | Marquee | ffmpeg program |
|---|---|---|
| median wall time | ${mm} s | ${fm} s |
| peak RSS | ${m_peak} MiB | ${f_peak} MiB |

**Ratio (Marquee / ffmpeg, median wall time): ${ratio}** — target <= 1.0: ${verdict}.
<!-- transcode:end -->
MD
)
write_section transcode "$section"
