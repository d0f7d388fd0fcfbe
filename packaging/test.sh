#!/usr/bin/env bash
# The whole test suite, as the README's second set-up command and CI run it: installs what
# the tests need, runs every test against the debug build, then builds the static binary
# (its FFmpeg build is cached in /var/cache/marquee-build) and runs the tests that matter
# for what ships against it: real-world sources, the origin, the static checks, and
# install.sh, the .deb and the systemd service in a fresh Debian 12, and in a fresh
# Ubuntu 24.04 when Ubuntu's archive answers.
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

# install.sh on Ubuntu 24.04 too, when Ubuntu's archive answers: only Debian's mirrors are
# promised reachable from CI, so without it this says SKIPPED rather than failing.
ubuntu_mirror="${MARQUEE_UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}"
if curl -fsS --max-time 10 -o /dev/null "$ubuntu_mirror/dists/noble/Release"; then
    ubuntu_started=$SECONDS
    MARQUEE_TEST_DISTRO=ubuntu-noble MARQUEE_TEST_BIN=dist/marquee \
        cargo test --locked --test it -- install:: install_systemd::
    echo "==> Ubuntu 24.04 install stage: $((SECONDS - ubuntu_started)) s"
else
    echo "==> SKIPPED: the install tests on Ubuntu 24.04 ($ubuntu_mirror does not answer)"
fi
