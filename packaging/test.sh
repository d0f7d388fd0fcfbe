#!/usr/bin/env bash
# The whole test suite, as the README's second set-up command and CI run it: installs what
# the tests need, runs every test against the debug build, then builds the static binary
# (its FFmpeg build is cached in /var/cache/marquee-build) and runs the tests that matter
# for what ships against it: real-world sources, the origin, the static checks, and
# install.sh, the .deb and the systemd service in a fresh Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where rustup puts cargo, in case this shell has not picked it up yet.
export PATH="$PATH:${HOME:-/root}/.cargo/bin"

bash packaging/deps.sh test
cargo test --locked

static_started=$SECONDS
bash packaging/deps.sh static
packaging/build-static.sh
MARQUEE_TEST_BIN=dist/marquee cargo test --locked --test it -- \
    sources:: origin:: static_binary:: install:: install_systemd:: service::
echo "==> static binary stage: $((SECONDS - static_started)) s"
