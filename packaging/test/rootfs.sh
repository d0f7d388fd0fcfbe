#!/usr/bin/env bash
# Prints the path of a cached tarball of a fresh Debian 12 (bookworm) root filesystem,
# made with debootstrap from the Debian mirror on first use. The install tests unpack it
# into a temp folder and run install.sh in a chroot, as on a freshly installed machine.
#
#   packaging/test/rootfs.sh [--with-ffmpeg-libs] [--with-systemd]
#
# --with-ffmpeg-libs adds Debian's FFmpeg runtime libraries, for testing a dynamically
# linked marquee (until the static build is used everywhere); --with-systemd adds systemd
# as init, for booting the tree with systemd-nspawn.
#
# The cache lives outside the clone (MARQUEE_ROOTFS_CACHE, /var/cache/marquee-test) and is
# keyed by suite, variant and month, so repeated runs are fast and a month-old tree is
# rebuilt with current packages.
set -euo pipefail

SUITE=bookworm
MIRROR="${MARQUEE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${MARQUEE_ROOTFS_CACHE:-/var/cache/marquee-test}"
ffmpeg=0
systemd=0
for option in "$@"; do
    case "$option" in
        --with-ffmpeg-libs) ffmpeg=1 ;;
        --with-systemd) systemd=1 ;;
        *)
            echo "usage: $0 [--with-ffmpeg-libs] [--with-systemd]" >&2
            exit 2
            ;;
    esac
done
# The same options in any order name the same tree.
variant=base
include=ca-certificates
if [ "$ffmpeg" = 1 ]; then
    variant="$variant-ffmpeg"
    include="$include,libavcodec59,libavformat59,libavfilter8,libavdevice59,libswscale6,libswresample4,libavutil57"
fi
if [ "$systemd" = 1 ]; then
    variant="$variant-systemd"
    include="$include,systemd,systemd-sysv,dbus"
fi
tarball="$CACHE/debian-$SUITE-$variant-$(date -u +%Y%m).tar"
if [ -s "$tarball" ]; then
    echo "$tarball"
    exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
    echo "error: debootstrap is missing (packaging/deps.sh test installs it)" >&2
    exit 1
}
mkdir -p "$CACHE"
work="$(mktemp -d "$CACHE/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "==> debootstrap $SUITE ($variant) into $work (first run only)" >&2
debootstrap --variant=minbase --include="$include" "$SUITE" "$work/root" "$MIRROR" >&2
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
tar -C "$work/root" -cf "$work/rootfs.tar" .
# Rename into place: a run killed half-way leaves no truncated tarball under the real name.
mv "$work/rootfs.tar" "$tarball"
echo "$tarball"
