#!/usr/bin/env bash
# Sign-in flood: 2,000 failed sign-ins from 200 client addresses (127.0.0.2 …
# 127.0.0.201, 10 each, made-up emails and wrong passwords for the owner, 16 at a time)
# against a fresh data dir with one owner, with the server's RSS (VmRSS and VmHWM from
# /proc/PID/status) sampled every 0.2 s during the flood and for 10 s after. Each argon2
# check needs 19 MiB; the goal is RSS under 150 MB throughout.
#
# With REF_BIN=/path/to/other/marquee the same flood runs against that binary too (a
# build of main, say), side by side. Figures go into bench/RESULTS.md between the
# signin-flood markers.
#
# Usage: [REF_BIN=…] bench/signin_flood.sh   (uses target/release/marquee if built, else
#        target/debug/marquee; argon2 is optimised in both)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
WORK=$PWD/bench/work/signin-flood
PORT=18760
mkdir -p "$WORK"
if [ -x target/release/marquee ]; then BIN=$PWD/target/release/marquee; BUILD=release
else BIN=$PWD/target/debug/marquee; BUILD=debug; fi
[ -x "$BIN" ] || { echo "build marquee first (cargo build [--release])" >&2; exit 1; }
MPID=
trap '[ -n "$MPID" ] && kill "$MPID" 2>/dev/null || true' EXIT

# flood BIN LABEL: prints "label|rss_before|peak_during|after_10s|hwm|refused|throttled|secs".
flood() {
  local bin=$1 label=$2 data=$WORK/data-$2
  rm -rf "$data"; mkdir -p "$data"
  printf 'owner password 1234\n' | "$bin" admin create --data-dir "$data" \
    --email owner@example.com --name Owner > /dev/null
  "$bin" serve --data-dir "$data" --listen "127.0.0.1:$PORT" > "$WORK/$label.out" 2> "$WORK/$label.log" &
  MPID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 0.1; done
  python3 - "$MPID" "$PORT" "$label" <<'PY'
import concurrent.futures, http.client, socket, sys, threading, time, urllib.parse
pid, port, label = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def rss():
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        fields[k] = v.split()[0] if v.split() else "0"
    return int(fields["VmRSS"]) // 1024, int(fields["VmHWM"]) // 1024

samples, stop = [], threading.Event()
def sample():
    while not stop.is_set():
        samples.append(rss()[0]); time.sleep(0.2)

token = "A" * 43
def attempt(i):
    source = f"127.0.0.{2 + i % 200}"
    email = "owner@example.com" if i % 4 == 0 else f"made-up-{i}@example.com"
    body = urllib.parse.urlencode({"csrf": token, "email": email, "password": f"wrong guess {i}"})
    for _ in range(5):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(source, 0))
            conn.request("POST", "/login", body, {"Cookie": f"marquee_form={token}",
                         "Content-Type": "application/x-www-form-urlencoded"})
            status = conn.getresponse().status
            conn.close()
            return status
        except OSError:
            time.sleep(0.2)
    return 0

before = rss()[0]
threading.Thread(target=sample, daemon=True).start()
started = time.time()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    statuses = list(pool.map(attempt, range(2000)))
secs = time.time() - started
peak = max(samples + [rss()[0]])
time.sleep(10)
stop.set()
after, hwm = rss()
print("|".join(map(str, [label, before, peak, after, hwm, statuses.count(401),
                          statuses.count(429), round(secs, 1)])))
print(f"{label}: statuses {sorted(set(statuses))}", file=sys.stderr)
PY
  kill "$MPID"; wait "$MPID" 2>/dev/null || true; MPID=
}

echo "==> flood against $BIN ($BUILD)"
rows=$(flood "$BIN" this)
if [ -n "${REF_BIN:-}" ]; then
  echo "==> flood against REF_BIN=$REF_BIN"
  rows="$rows
$(flood "$REF_BIN" reference)"
fi
table=$(printf '%s\n' "$rows" | awk -F'|' -v bin="$BUILD" -v ref="${REF_BIN:-}" '{
  name = ($1 == "this") ? "this branch (" bin ")" : "reference (" ref ")"
  printf "| %s | %s | %s | +%s | %s | %s | %s | %s | %s |\n", name, $2, $3, $3 - $2, $4, $5, $6, $7, $8 }')
printf '%s\n' "$table"
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
section="<!-- signin-flood:begin -->
## Sign-in flood: RSS through 2,000 failed sign-ins from 200 addresses

Measured $(date -u +%Y-%m-%d) by \`bench/signin_flood.sh\` on $(nproc) cores ($cpu):
a fresh data dir with one owner; 2,000 failed sign-ins (a quarter wrong passwords for the
owner, the rest made-up emails), 10 from each of 200 loopback addresses, 16 at a time;
RSS sampled every 0.2 s. MB are MiB from \`/proc/PID/status\`; \"after\" is 10 s after the
flood; VmHWM is the peak the kernel saw.

| binary | RSS before | peak during | growth | after | VmHWM | 401 | 429 | seconds |
|---|---|---|---|---|---|---|---|---|
$table

Goal: RSS under 150 MB throughout. argon2 fills one of two pooled 19 MiB buffers per
check (\`accounts::passwords\`), and checks against the dummy hash for unknown emails have
a budget of their own, so a flood costs at most those buffers (about 40 MB, made at the
first sign-in and kept). A debug binary rests far higher than a release build (the
issue's release build rested at 66 MB), so with one the growth column is the figure to
read.
<!-- signin-flood:end -->"
write_section signin-flood "$section"
