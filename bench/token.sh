#!/usr/bin/env bash
# Playback token micro-benchmark (criterion): verifying a token, which the origin does on
# every premium request, minting one, and deriving a viewer tag from a session. Target:
# verification ≤ 2 µs. The median of each goes into bench/RESULTS.md.
#
# Usage: bench/token.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
out=$(cargo bench --locked -q --bench token 2>&1 | tee /dev/stderr)
# criterion prints "<name>  time:   [low median high]" per benchmark.
median() {
  printf '%s\n' "$out" | python3 -c 'import re, sys
name = sys.argv[1]
text = sys.stdin.read()
m = re.search(re.escape(name) + r"\s+time:\s+\[\S+ \S+ (\S+) (\S+)", text)
print(f"{m.group(1)} {m.group(2)}" if m else "n/a")' "$1"
}
verify=$(median "verify a playback token")
mint=$(median "mint a playback token")
tag=$(median "derive a viewer tag from a session")
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
section="<!-- token:begin -->
## Playback tokens: verify, mint, viewer tag

Measured $(date -u +%Y-%m-%d) by \`bench/token.sh\` (criterion, \`cargo bench --bench token\`)
on $(nproc) cores ($cpu). A key ring of two keys; HMAC-SHA256 with ring; a 76-character
token for a 12-character asset id. Median of criterion's samples.

| operation | median |
|---|---|
| verify a playback token | $verify |
| mint a playback token | $mint |
| derive a viewer tag from a session | $tag |

Target: verification ≤ 2 µs.
<!-- token:end -->"
write_section token "$section"
