#!/usr/bin/env bash
# Installs the system packages Marquee needs on Debian 12, as root.
#
#   packaging/deps.sh build   what building the binary needs (used by install.sh)
#   packaging/deps.sh test    the same, plus what the test suite and later tests use
#   packaging/deps.sh static  the build set, plus what packaging/build-static.sh needs: the
#                             static libraries FFmpeg links and Debian's FFmpeg source entry
#
# Safe to run again: apt skips what is already installed.
set -euo pipefail

MODE="${1:-}"
case "$MODE" in
    build | test | static) ;;
    *)
        echo "usage: $0 build|test|static" >&2
        exit 2
        ;;
esac

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "packaging/deps.sh installs system packages and must run as root (try: sudo $0 $MODE)"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: Marquee is installed on Debian 12"

# Edition 2024 and let-chains need Rust 1.88 or newer.
MIN_RUST_MINOR=88

BUILD_PACKAGES=(
    build-essential ca-certificates curl pkg-config
    clang libclang-dev nasm
    libx264-dev
    libavcodec-dev libavformat-dev libavfilter-dev libavdevice-dev
    libswscale-dev libswresample-dev libavutil-dev
)
# Used by tests only: ffmpeg/ffprobe as an independent client and reference, nginx, wrk,
# h2load (nghttp2-client, the HTTP/2 benchmark), pebble (a test ACME CA, with
# pebble-challtestsrv as its DNS server), a headless browser, and Node.js for front-end
# tests; debootstrap (a fresh Debian for the install.sh tests), systemd (systemd-analyze
# scores the unit) and systemd-container (systemd-nspawn boots that Debian to test the
# installed service).
TEST_PACKAGES=(ffmpeg wrk nghttp2-client chromium firefox-esr openssl pebble debootstrap systemd systemd-container)
# The static build: libzimg.a (zscale), libaom.a (AV1 decoding), dpkg-source for
# `apt-get source ffmpeg`, `file` to check the result.
STATIC_PACKAGES=(libzimg-dev libaom-dev dpkg-dev xz-utils file)

export DEBIAN_FRONTEND=noninteractive

# Packages that ship a daemon (nginx) must not start it on install: the tests start their
# own with their own configuration. policy-rc.d is Debian's switch for that.
POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=0
cleanup() {
    if [ "$OWN_POLICY" = 1 ]; then
        rm -f "$POLICY"
    fi
}
trap cleanup EXIT

apt_install() {
    apt-get install -y --no-install-recommends "$@"
}

# `apt-get source ffmpeg` needs a deb-src entry: the same archives as the binary packages.
DEB_SRC=/etc/apt/sources.list.d/marquee-deb-src
if [ "$MODE" = static ] && [ ! -e "$DEB_SRC.sources" ] && [ ! -e "$DEB_SRC.list" ]; then
    if [ -e /etc/apt/sources.list.d/debian.sources ]; then
        sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$DEB_SRC.tmp"
        mv "$DEB_SRC.tmp" "$DEB_SRC.sources"
    elif [ -e /etc/apt/sources.list ]; then
        # The one-line format: each deb line again as a deb-src line.
        sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list >"$DEB_SRC.tmp"
        mv "$DEB_SRC.tmp" "$DEB_SRC.list"
    else
        die "found no Debian package sources to add a deb-src entry for"
    fi
    say "added deb-src entries (for apt-get source ffmpeg)"
fi

say "updating the package lists"
apt-get update

say "installing build dependencies"
apt_install "${BUILD_PACKAGES[@]}"

if [ "$MODE" = static ]; then
    say "installing static-build dependencies"
    apt_install "${STATIC_PACKAGES[@]}"
fi

if [ "$MODE" = test ]; then
    say "installing test dependencies"
    extra=("${TEST_PACKAGES[@]}")
    if apt-cache show nginx-light >/dev/null 2>&1; then
        extra+=(nginx-light)
    else
        extra+=(nginx)
    fi
    # A Node.js from another source (NodeSource) bundles npm and conflicts with Debian's
    # npm package: only install Node.js when node or npm is missing.
    if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
        say "Node.js $(node --version) and npm $(npm --version) already present"
    else
        extra+=(nodejs npm)
    fi
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$POLICY"
        chmod 0755 "$POLICY"
        OWN_POLICY=1
    fi
    apt_install "${extra[@]}"
    # The browser test drives Debian's Chromium with playwright-core (no browser download).
    say "installing the browser-test driver (playwright-core from npm)"
    npm ci --prefix "$(cd "$(dirname "$0")/.." && pwd)/tests/browser" --no-audit --no-fund --loglevel=error
fi

# Rust: use the one on PATH or in ~/.cargo/bin; otherwise install it with rustup.
CARGO_BIN="${HOME:-/root}/.cargo/bin"
caller_has_cargo=1
if ! command -v cargo >/dev/null 2>&1; then
    caller_has_cargo=0
    if [ -x "$CARGO_BIN/cargo" ]; then
        export PATH="$CARGO_BIN:$PATH"
    else
        say "Rust (cargo) not found: installing it with rustup into $CARGO_BIN"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal ||
            die "could not install Rust with rustup; install Rust 1.$MIN_RUST_MINOR or newer and run this again"
        export PATH="$CARGO_BIN:$PATH"
    fi
fi

# The shell that called this script does not have ~/.cargo/bin on its PATH (a fresh
# rustup install only takes effect in new login shells). Link the tools into
# /usr/local/bin so that the command that runs next (`cargo build`, `cargo test`) finds
# them in the same shell.
if [ "$caller_has_cargo" = 0 ]; then
    for tool in cargo rustc rustup; do
        if [ -x "$CARGO_BIN/$tool" ] && [ ! -e "/usr/local/bin/$tool" ]; then
            ln -s "$CARGO_BIN/$tool" "/usr/local/bin/$tool"
            say "linked /usr/local/bin/$tool -> $CARGO_BIN/$tool"
        fi
    done
fi

rust_version="$(rustc --version 2>/dev/null || true)"
minor="$(printf '%s\n' "$rust_version" | sed -n 's/^rustc 1\.\([0-9][0-9]*\)\..*/\1/p')"
if [ -n "$minor" ] && [ "$minor" -lt "$MIN_RUST_MINOR" ]; then
    if command -v rustup >/dev/null 2>&1; then
        say "$rust_version is too old: updating the stable toolchain with rustup"
        rustup toolchain install stable --profile minimal
        rustup default stable
        rust_version="$(rustc --version)"
    else
        die "$rust_version is too old: Marquee needs Rust 1.$MIN_RUST_MINOR or newer (install it with rustup)"
    fi
fi
# CI also checks formatting and lints; a minimal rustup profile has neither tool.
if [ "$MODE" = test ]; then
    for component in rustfmt clippy; do
        tool=$([ "$component" = rustfmt ] && echo fmt || echo clippy)
        if ! cargo "$tool" --version >/dev/null 2>&1; then
            command -v rustup >/dev/null 2>&1 || die "cargo $tool is missing and rustup is not here to add $component"
            say "adding the $component component"
            rustup component add "$component"
        fi
    done
fi
say "using ${rust_version:-an unknown Rust version} ($(command -v cargo))"
say "dependencies for '$MODE' are installed"
