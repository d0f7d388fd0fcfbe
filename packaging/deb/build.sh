#!/usr/bin/env bash
# Builds dist/marquee_<version>_<arch>.deb with dpkg-deb: the binary (/usr/bin/marquee),
# the systemd unit, the commented default settings (a conffile: dpkg keeps the operator's
# edits on upgrade) and maintainer scripts that create the `marquee` user and start the
# service. Prints the path of the .deb on its last line.
#
#   packaging/deb/build.sh [BINARY]    default: dist/marquee (the static build)
#
# MARQUEE_DEB_OUT sets the output folder (default dist/); MARQUEE_DEB_COMPRESSION the
# compression (xz, the default, gzip, zstd or none: the tests use none).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
binary="${1:-$ROOT/dist/marquee}"
out="${MARQUEE_DEB_OUT:-$ROOT/dist}"
[ -x "$binary" ] || {
    echo "error: no marquee binary at $binary (build one with packaging/build-static.sh, or name one)" >&2
    exit 1
}

version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)"
arch="$(dpkg --print-architecture)"
# A dynamically linked binary (a development build) needs Debian's FFmpeg libraries.
depends="passwd"
# (ldd fails on a static binary: read its words, not its status.)
linkage="$(ldd "$binary" 2>&1 || true)"
if ! grep -q "not a dynamic executable\|statically linked" <<<"$linkage"; then
    depends="$depends, libavcodec59, libavformat59, libavfilter8, libavdevice59, libswscale6, libswresample4, libavutil57"
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/pkg"
install -D -m 0755 "$binary" "$pkg/usr/bin/marquee"
# Debian packages own /usr/bin, not /usr/local/bin (install.sh's place).
install -d "$pkg/lib/systemd/system"
sed 's|/usr/local/bin/marquee|/usr/bin/marquee|g' "$ROOT/systemd/marquee.service" \
    >"$pkg/lib/systemd/system/marquee.service"
chmod 0644 "$pkg/lib/systemd/system/marquee.service"
install -D -m 0640 "$ROOT/packaging/marquee.toml" "$pkg/etc/marquee/marquee.toml"
install -D -m 0644 "$ROOT/README.md" "$pkg/usr/share/doc/marquee/README.md"
install -D -m 0644 "$ROOT/LICENSE" "$pkg/usr/share/doc/marquee/copyright"

install -d "$pkg/DEBIAN"
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: marquee
Version: $version
Architecture: $arch
Maintainer: Marquee developers <marquee@localhost>
Section: video
Priority: optional
Depends: $depends
Installed-Size: $(du -sk "$pkg" | cut -f1)
Homepage: https://localhost/marquee
Description: self-hosted streaming service in one binary
 Marquee turns video files dropped into a watched folder into adaptive HLS
 and serves them from its own origin with a web player. It runs as the
 systemd service marquee; settings are in /etc/marquee/marquee.toml and the
 data in /var/lib/marquee.
CONTROL
echo /etc/marquee/marquee.toml >"$pkg/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$ROOT/packaging/deb/$script" "$pkg/DEBIAN/$script"
done

mkdir -p "$out"
deb="$out/marquee_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${MARQUEE_DEB_COMPRESSION:-xz}" --build "$pkg" "$deb.new" >&2
mv -f "$deb.new" "$deb"
echo "$deb"
