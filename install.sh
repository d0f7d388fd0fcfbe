#!/usr/bin/env bash
# Installs Marquee on a fresh Debian 12 and runs it in the foreground.
#
#   ./install.sh                      as root, from a clone of the repository
#
# Environment:
#   MARQUEE_DATA_DIR   where Marquee keeps its database, inbox and library (/var/lib/marquee)
#   MARQUEE_LISTEN     address the web server binds to (0.0.0.0:8080)
#
# Running it again rebuilds, reinstalls and restarts; nothing in the data dir is touched.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "install.sh must run as root (try: sudo ./install.sh)"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install.sh supports Debian 12"
if [ -r /etc/os-release ]; then
    # shellcheck source=/dev/null
    os_id="$(. /etc/os-release && echo "${ID:-}")"
    # shellcheck source=/dev/null
    os_version="$(. /etc/os-release && echo "${VERSION_ID:-}")"
    if [ "$os_id" != debian ] || [ "$os_version" != 12 ]; then
        say "warning: this is ${os_id:-an unknown system} ${os_version}; install.sh is made for Debian 12 and may fail here"
    fi
fi

DATA_DIR="${MARQUEE_DATA_DIR:-/var/lib/marquee}"
LISTEN="${MARQUEE_LISTEN:-0.0.0.0:8080}"
BIN=/usr/local/bin/marquee

bash packaging/deps.sh build
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

say "building Marquee (the first build takes several minutes)"
cargo build --release --locked

say "installing $BIN"
# Copy then rename, so a running marquee keeps its old binary and a half-copied file is
# never visible under the real name.
install -m 0755 target/release/marquee "$BIN.new"
mv -f "$BIN.new" "$BIN"

say "creating the data dir $DATA_DIR"
mkdir -p "$DATA_DIR/inbox"

port="${LISTEN##*:}"
host="${LISTEN%:*}"
echo
echo "Marquee is starting. It answers at:"
case "$host" in
    0.0.0.0 | "[::]" | "")
        first_ip="$(hostname -I 2>/dev/null | awk '{print $1}' || true)"
        if [ -n "$first_ip" ]; then
            case "$first_ip" in
                *:*) first_ip="[$first_ip]" ;;
            esac
            echo "    http://$first_ip:$port/"
        fi
        echo "    http://localhost:$port/"
        ;;
    *)
        echo "    http://$host:$port/"
        ;;
esac
echo
echo "Open it in a browser to watch. Drop video files into $DATA_DIR/inbox/: they are"
echo "transcoded to adaptive HLS and appear on the home page when ready."
echo "API key for /api/v1/assets: $BIN apikey create --data-dir $DATA_DIR --name ops"
echo "Marquee runs in the foreground: Ctrl-C stops it (running jobs go back to the queue)."
echo "(Installing it as a systemd service comes in a later release.)"
echo

exec "$BIN" serve --data-dir "$DATA_DIR" --listen "$LISTEN"
