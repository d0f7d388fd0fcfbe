#!/usr/bin/env bash
# Prints the path of a cached tarball of a fresh root filesystem, made with debootstrap on
# first use: Debian 12 (bookworm) by default, or Ubuntu 24.04 (noble) with
# MARQUEE_TEST_DISTRO=ubuntu-noble. The install tests unpack it into a temp folder and run
# install.sh in a chroot, as on a freshly installed machine.
#
#   packaging/test/rootfs.sh [--with-ffmpeg-libs] [--with-systemd]
#
# --with-ffmpeg-libs adds Debian's FFmpeg runtime libraries, for testing a dynamically
# linked marquee (until the static build is used everywhere); --with-systemd adds systemd
# as init, for booting the tree with systemd-nspawn.
#
# The cache lives outside the clone (MARQUEE_ROOTFS_CACHE, /var/cache/marquee-test) and is
# keyed by distribution, suite, variant and month, so repeated runs are fast and a
# month-old tree is rebuilt with current packages.
set -euo pipefail

CACHE="${MARQUEE_ROOTFS_CACHE:-/var/cache/marquee-test}"
DISTRO="${MARQUEE_TEST_DISTRO:-debian-bookworm}"
case "$DISTRO" in
    debian-bookworm)
        SUITE=bookworm
        MIRROR="${MARQUEE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
        debootstrap_extra=()
        ;;
    ubuntu-noble)
        SUITE=noble
        MIRROR="${MARQUEE_UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}"
        # Debian 12 ships neither Ubuntu's archive key nor a `noble` script: the key comes
        # from Ubuntu's keyring package, checked against the hash pinned here, and the
        # `gutsy` script covers every Ubuntu release since.
        keyring_deb=ubuntu-keyring_2023.11.28.1_all.deb
        keyring_sha256=36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8
        keyring="$CACHE/ubuntu-archive-keyring-2023.11.28.1.gpg"
        if [ ! -s "$keyring" ]; then
            mkdir -p "$CACHE"
            kwork="$(mktemp -d "$CACHE/.keyring.XXXXXX")"
            curl -fsS -o "$kwork/$keyring_deb" "$MIRROR/pool/main/u/ubuntu-keyring/$keyring_deb"
            echo "$keyring_sha256  $kwork/$keyring_deb" | sha256sum -c --quiet - >&2 || {
                echo "error: $keyring_deb does not have the pinned SHA-256" >&2
                rm -rf "$kwork"
                exit 1
            }
            dpkg-deb -x "$kwork/$keyring_deb" "$kwork/x"
            mv "$kwork/x/usr/share/keyrings/ubuntu-archive-keyring.gpg" "$keyring"
            rm -rf "$kwork"
        fi
        debootstrap_extra=(--keyring="$keyring")
        ;;
    *)
        echo "error: MARQUEE_TEST_DISTRO must be debian-bookworm or ubuntu-noble, not $DISTRO" >&2
        exit 2
        ;;
esac
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
    [ "$DISTRO" = debian-bookworm ] || {
        echo "error: --with-ffmpeg-libs names Debian 12's FFmpeg packages" >&2
        exit 2
    }
    variant="$variant-ffmpeg"
    include="$include,libavcodec59,libavformat59,libavfilter8,libavdevice59,libswscale6,libswresample4,libavutil57"
fi
if [ "$systemd" = 1 ]; then
    variant="$variant-systemd"
    include="$include,systemd,systemd-sysv,dbus"
fi
tarball="$CACHE/$DISTRO-$variant-$(date -u +%Y%m).tar"
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
script=()
[ "$DISTRO" = ubuntu-noble ] && script=(/usr/share/debootstrap/scripts/gutsy)
debootstrap --variant=minbase "${debootstrap_extra[@]}" --include="$include" "$SUITE" "$work/root" "$MIRROR" "${script[@]}" >&2
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
tar -C "$work/root" -cf "$work/rootfs.tar" .
# Rename into place: a run killed half-way leaves no truncated tarball under the real name.
mv "$work/rootfs.tar" "$tarball"
echo "$tarball"
