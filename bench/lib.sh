# Shared by the bench scripts.

# write_section NAME TEXT: puts TEXT (which starts and ends with the NAME markers) into
# bench/RESULTS.md, replacing that section if it is there.
write_section() {
  local name=$1 section=$2 results=bench/RESULTS.md
  [ -f "$results" ] || printf '# Benchmark results\n\nEach section is rewritten by the script that names it.\n' > "$results"
  if grep -q "<!-- $name:begin -->" "$results"; then
    python3 - "$results" "$name" "$section" <<'PY'
import re, sys
path, name, section = sys.argv[1:4]
text = open(path).read()
pattern = r"<!-- %s:begin -->.*?<!-- %s:end -->" % (name, name)
open(path, "w").write(re.sub(pattern, lambda _: section, text, flags=re.S))
PY
  else
    printf '\n%s\n' "$section" >> "$results"
  fi
  echo "==> wrote $results"
}

# --- Shared by the origin benchmarks (origin.sh, origin-tls.sh) ---

# Stops the Marquee ($MPID) and nginx ($WORK/nginx.pid) a benchmark started.
# origin_setup TOOL...: checks the tools are installed and builds the release binary
# into $BIN.
origin_setup() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "needs $tool: bash packaging/deps.sh test" >&2; exit 1; }
  done
  echo "==> building marquee (release)"
  cargo build --release --locked -q
  BIN=$PWD/target/release/marquee
}

origin_cleanup() {
  [ -n "${MPID:-}" ] && kill "$MPID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
}

# origin_package: one 720p, 30 s package in $DATA, made by Marquee ($BIN) itself; sets
# PKG (its folder) and ID (its asset id).
origin_package() {
  if ! ls "$DATA"/library/*/master.m3u8 >/dev/null 2>&1; then
    rm -rf "$DATA"; mkdir -p "$DATA"
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=30" \
      -f lavfi -i "sine=frequency=440:duration=30" -c:v libx264 -preset veryfast -crf 20 -c:a aac -shortest "$WORK/clip.mp4"
    printf '[transcode]\npreset = "veryfast"\n' > "$DATA/marquee.toml"
    "$BIN" ingest --data-dir "$DATA" "$WORK/clip.mp4" > /dev/null
  fi
  PKG=$(dirname "$(ls "$DATA"/library/*/master.m3u8 | head -1)")
  ID=$(basename "$PKG")
}

# origin_urls: every playlist and segment of the package in $URLS, as a player would ask,
# and $WORK/mix.lua, which makes wrk cycle through them.
origin_urls() {
  URLS=$WORK/urls.txt
  (cd "$PKG" && find . -name '*.m3u8' -o -name '*.m4s' -o -name 'init.mp4' | sed "s|^\./|/p/public/$ID/|" | sort) > "$URLS"
  cat > "$WORK/mix.lua" <<'LUA'
local paths = {}
for line in io.lines(os.getenv("URLS")) do paths[#paths + 1] = line end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA
}

rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }
