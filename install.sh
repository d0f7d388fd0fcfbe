#!/usr/bin/env bash
# Installs Marquee as a systemd service on Debian 12 or Ubuntu 24.04, as root.
#
#   ./install.sh               install, or upgrade in place and restart
#   ./install.sh --uninstall   remove the binary, the service and the `marquee` user;
#                              keep the data (/var/lib/marquee) and the settings (/etc/marquee)
#   ./install.sh --purge       the same, and delete the data and the settings too
#
# The binary: ./marquee next to this script (a release download), else MARQUEE_BINARY, else
# one built from this clone with packaging/build-static.sh.
#
# Environment:
#   MARQUEE_BINARY   use this marquee binary
#   MARQUEE_LISTEN   address to listen on; written into /etc/marquee/marquee.toml on the
#                    first install (default 0.0.0.0:8080; with HTTPS on it only redirects)
#   MARQUEE_TLS__LISTEN  HTTPS address, written there the same way (default 0.0.0.0:8443)
#
# Where systemd is not running (a container), Marquee runs in the foreground instead.
set -euo pipefail

HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
BIN=/usr/local/bin/marquee
DATA_DIR=/var/lib/marquee
CONFIG_DIR=/etc/marquee
CONFIG="$CONFIG_DIR/marquee.toml"
UNIT=/etc/systemd/system/marquee.service
SERVICE_USER=marquee

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

ACTION=install
case "${1:-}" in
    "") ;;
    --uninstall) ACTION=uninstall ;;
    --purge) ACTION=purge ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown option: $1"
        ;;
esac

[ "$(id -u)" -eq 0 ] || die "install.sh must run as root (try: sudo $0 ${1:-})"

# The same test as sd_booted(3): this directory exists only when systemd is PID 1.
systemd_running() { [ -d /run/systemd/system ]; }

# The value of `$2 = ...` under the table [$1] of the settings file ("" for the top level),
# without quotes; nothing when it is not set there.
setting() {
    [ -r "$CONFIG" ] || return 0
    awk -v want="$1" -v key="$2" '
        /^[[:space:]]*\[/ {
            table = $0
            gsub(/[[:space:]]/, "", table)
            table = substr(table, 2, length(table) - 2)
            next
        }
        table == want && $0 ~ ("^[[:space:]]*" key "[[:space:]]*=") {
            sub(/^[^=]*=[[:space:]]*/, "")
            sub(/[[:space:]]*(#.*)?$/, "")
            gsub(/"/, "")
            print
            exit
        }' "$CONFIG"
}

# The plain HTTP address in the settings file, else the binary's default.
configured_listen() {
    local value
    value="$(setting "" listen)"
    echo "${value:-127.0.0.1:8080}"
}

# GET /healthz with bash's /dev/tcp: a fresh system may have neither curl nor wget.
healthz_answers() {
    local host="$1" port="$2" status=""
    { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
    printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
    IFS= read -r -t 5 status <&3 || true
    exec 3<&- 3>&-
    case "$status" in
        "HTTP/1.1 200"*) return 0 ;;
        *) return 1 ;;
    esac
}

# Waits up to $2 seconds for /healthz at $1 (host:port; 0.0.0.0 and [::] on loopback).
wait_healthy() {
    local listen="$1" seconds="$2" host port
    port="${listen##*:}"
    host="${listen%:*}"
    host="${host#[}"
    host="${host%]}"
    case "$host" in
        0.0.0.0 | "") host=127.0.0.1 ;;
        ::) host=::1 ;;
    esac
    for _ in $(seq $((seconds * 5))); do
        healthz_answers "$host" "$port" && return 0
        sleep 0.2
    done
    return 1
}

# Where Marquee answers and, for a self-signed certificate, its SHA-256 fingerprint: the
# binary says it (`marquee urls`, which the .deb's postinst prints too), reading the
# settings as the server does; then what to do next.
print_urls() {
    echo
    "$BIN" urls --config "$CONFIG" --data-dir "$DATA_DIR" || true
    echo
    echo "Drop video files into $DATA_DIR/inbox/: they are transcoded to adaptive HLS and"
    echo "appear on the home page when ready. Settings: $CONFIG."
    echo "API key for /api/v1/assets: runuser -u $SERVICE_USER -- $BIN apikey create --data-dir $DATA_DIR --name ops"
}

# The first-run setup link, or where to sign in once the owner exists. A fresh link: the
# one the service printed at start is stored hashed and cannot be shown again. Run as the
# service user, so what it writes in the database stays the service's.
print_setup_link() {
    echo
    runuser -u "$SERVICE_USER" -- "$BIN" admin setup-link --config "$CONFIG" --data-dir "$DATA_DIR" || true
}

# --- uninstall ----------------------------------------------------------------------------

if [ "$ACTION" != install ]; then
    if systemd_running && [ -e "$UNIT" ]; then
        say "stopping and disabling the marquee service"
        systemctl disable --now marquee.service || true
    fi
    rm -f "$UNIT" "$BIN" "$BIN.new"
    if systemd_running; then
        systemctl daemon-reload
    fi
    if id "$SERVICE_USER" >/dev/null 2>&1; then
        say "removing the $SERVICE_USER user"
        userdel "$SERVICE_USER"
    fi
    if [ "$ACTION" = purge ]; then
        say "deleting $DATA_DIR and $CONFIG_DIR"
        rm -rf "$DATA_DIR" "$CONFIG_DIR"
        say "Marquee is removed, with its data"
    else
        say "Marquee is removed; the data in $DATA_DIR and the settings in $CONFIG_DIR are kept"
        say "(./install.sh brings it back with them; ./install.sh --purge deletes them)"
    fi
    exit 0
fi

# --- install or upgrade -------------------------------------------------------------------

if [ -r /etc/os-release ]; then
    os_id="$(. /etc/os-release && echo "${ID:-}")"
    os_version="$(. /etc/os-release && echo "${VERSION_ID:-}")"
    case "$os_id $os_version" in
        "debian 12" | "ubuntu 24.04") ;;
        *) say "warning: this is ${os_id:-an unknown system} ${os_version}; install.sh is made for Debian 12 and Ubuntu 24.04 and may fail here" ;;
    esac
fi

# The binary to install: a release's ./marquee, an explicit one, or a build.
if [ -n "${MARQUEE_BINARY:-}" ]; then
    binary="$MARQUEE_BINARY"
elif [ -f "$HERE/marquee" ]; then
    binary="$HERE/marquee"
elif [ -f "$HERE/packaging/build-static.sh" ]; then
    bash "$HERE/packaging/deps.sh" static
    say "building the static marquee binary (the first build takes several minutes)"
    binary="$(bash "$HERE/packaging/build-static.sh" | tail -n 1)"
else
    die "no marquee binary next to install.sh and no source to build one from"
fi
[ -f "$binary" ] && [ -x "$binary" ] || die "$binary is not an executable file"
"$binary" --version >/dev/null 2>&1 || die "$binary does not run here (try the static release binary)"
[ -f "$HERE/systemd/marquee.service" ] || die "$HERE/systemd/marquee.service is missing"
[ -f "$HERE/packaging/marquee.toml" ] || die "$HERE/packaging/marquee.toml is missing"

upgrade=0
[ -e "$BIN" ] && upgrade=1

if ! id "$SERVICE_USER" >/dev/null 2>&1; then
    say "creating the $SERVICE_USER system user"
    useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "Marquee streaming service" "$SERVICE_USER"
fi

say "installing $BIN ($("$binary" --version | head -n 1))"
# Copy then rename: a running marquee keeps its old binary, and a half-copied file is
# never visible under the real name.
install -m 0755 "$binary" "$BIN.new"
mv -f "$BIN.new" "$BIN"

mkdir -p "$DATA_DIR/inbox"
# Data kept by an uninstall belongs to the old user's id: hand it to the new one.
if [ "$(stat -c %U "$DATA_DIR")" != "$SERVICE_USER" ] || [ "$(stat -c %U "$DATA_DIR/inbox")" != "$SERVICE_USER" ]; then
    chown -R "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"
fi
chmod 0750 "$DATA_DIR"

mkdir -p "$CONFIG_DIR"
if [ -e "$CONFIG" ]; then
    say "keeping the settings in $CONFIG"
else
    say "writing the default settings to $CONFIG"
    listen="${MARQUEE_LISTEN:-0.0.0.0:8080}"
    tls_listen="${MARQUEE_TLS__LISTEN:-0.0.0.0:8443}"
    case "$listen" in
        *[!0-9A-Za-z.:\[\]-]*) die "MARQUEE_LISTEN=$listen is not an address like 0.0.0.0:8080" ;;
    esac
    case "$tls_listen" in
        *[!0-9A-Za-z.:\[\]-]*) die "MARQUEE_TLS__LISTEN=$tls_listen is not an address like 0.0.0.0:8443" ;;
    esac
    # The top-level `listen` is plain HTTP, the one under [tls] is HTTPS.
    awk -v plain="$listen" -v secure="$tls_listen" '
        /^\[/ { table = $0 }
        /^listen = / { $0 = "listen = \"" (table == "[tls]" ? secure : plain) "\"" }
        { print }' "$HERE/packaging/marquee.toml" >"$CONFIG.new"
    chown "root:$SERVICE_USER" "$CONFIG.new"
    chmod 0640 "$CONFIG.new"
    mv -f "$CONFIG.new" "$CONFIG"
fi
chown "root:$SERVICE_USER" "$CONFIG_DIR" "$CONFIG"
chmod 0750 "$CONFIG_DIR"

listen="${MARQUEE_LISTEN:-$(configured_listen)}"

if ! systemd_running; then
    say "systemd is not running here (a container?): running Marquee in the foreground instead of as a service"
    # As the service user, with the one capability the service has.
    setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups \
        --inh-caps=+net_bind_service --ambient-caps=+net_bind_service \
        "$BIN" serve --config "$CONFIG" --data-dir "$DATA_DIR" &
    server=$!
    signalled=0
    trap 'signalled=1; kill -TERM "$server" 2>/dev/null' TERM INT
    if wait_healthy "$listen" 60; then
        print_urls
        echo "Marquee runs in the foreground: Ctrl-C stops it (running jobs go back to the queue)."
        echo
    else
        say "warning: Marquee did not answer /healthz on $listen within 60 s"
    fi
    # A signal handled by the trap interrupts `wait` (status 128+n): wait again for the
    # server's own status, which bash keeps even when the server has already exited.
    while :; do
        status=0
        wait "$server" || status=$?
        if [ "$signalled" = 1 ] && [ "$status" -gt 128 ]; then
            signalled=2
            continue
        fi
        break
    done
    exit "$status"
fi

say "installing $UNIT"
install -m 0644 "$HERE/systemd/marquee.service" "$UNIT.new"
mv -f "$UNIT.new" "$UNIT"
systemctl daemon-reload
systemctl enable marquee.service >/dev/null 2>&1
if [ "$upgrade" = 1 ]; then
    say "upgraded in place: restarting the service"
else
    say "starting the service"
fi
# Type=notify: restart returns once Marquee has sent READY=1 (its /healthz answers).
if ! systemctl restart marquee.service || ! wait_healthy "$listen" 60; then
    journalctl -u marquee.service -n 40 --no-pager >&2 || true
    die "the marquee service did not start; the log is above (journalctl -u marquee)"
fi
print_urls
print_setup_link
echo "It runs as the systemd service marquee: systemctl status marquee, journalctl -u marquee."
echo
