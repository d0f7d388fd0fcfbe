#!/usr/bin/env bash
# Builds a fully static `marquee` (glibc, FFmpeg, x264, zimg and libaom linked in) at
# dist/marquee, which runs on a machine with no FFmpeg installed. Prints that path on its
# last line.
#
#   packaging/deps.sh static       once, as root: the static libraries and FFmpeg's source entry
#   packaging/build-static.sh
#
# FFmpeg is Debian 12's own source (`apt-get source ffmpeg`), configured with only the
# components in packaging/ffmpeg-components.txt. That build takes minutes, so it is cached
# outside the clone in $MARQUEE_BUILD_CACHE (default /var/cache/marquee-build), under a
# name made from everything that shapes it: a second run, or CI on the same host, skips it.
# The Rust build uses its own target folder (target/static) and leaves the usual one alone.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
COMPONENTS="$ROOT/packaging/ffmpeg-components.txt"
CACHE_ROOT="${MARQUEE_BUILD_CACHE:-/var/cache/marquee-build}"
TARGET=x86_64-unknown-linux-gnu
# Raise when the way FFmpeg is built changes in a way the flags below do not show.
RECIPE=1
# The stripped binary's ceiling. 40 MB until the paywall (Stripe, AES-128, the billing
# pages) took it to 42.5; libaom (AV1 decoding, about 3 MB) is the next thing to replace.
MAX_SIZE_MB=48

say() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

export PATH="$PATH:${HOME:-/root}/.cargo/bin"
for tool in apt-get dpkg-source cc make nasm pkg-config cargo file; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: run packaging/deps.sh static (as root) first"
done
# Static archives the link needs; Debian's -dev packages ship them.
for lib in x264 zimg aom z stdc++; do
    [ -e "$(cc -print-file-name="lib$lib.a")" ] ||
        die "lib$lib.a not found: run packaging/deps.sh static (as root) first"
done

# --- FFmpeg -----------------------------------------------------------------------------

# `kind a,b` lines → --enable-kind=a,b
component_flags() {
    sed -e 's/#.*//' "$COMPONENTS" | awk 'NF == 0 { next }
        NF != 2 { printf "bad line in ffmpeg-components.txt: %s\n", $0 > "/dev/stderr"; exit 1 }
        { printf "--enable-%s=%s\n", $1, $2 }'
}
# (A command substitution, so that a bad line stops the script.)
COMPONENT_LINES="$(component_flags)"
mapfile -t COMPONENT_FLAGS <<<"$COMPONENT_LINES"
CONFIGURE_FLAGS=(
    --enable-static --disable-shared --enable-pic
    --disable-autodetect --disable-programs --disable-doc --disable-debug
    --disable-everything --disable-network --disable-postproc
    --enable-gpl --enable-libx264 --enable-libzimg --enable-libaom --enable-zlib
    --pkg-config-flags=--static
    "${COMPONENT_FLAGS[@]}"
)

# The source version apt would fetch, from the local package lists (no download).
DSC="$(apt-get source --print-uris ffmpeg 2>/dev/null | sed -n "s/^'[^']*' \(ffmpeg_[^ ]*\.dsc\) .*/\1/p" | head -n1)"
[ -n "$DSC" ] || die "no FFmpeg source in the package lists: run packaging/deps.sh static (as root) first"
VERSION="${DSC#ffmpeg_}"
VERSION="${VERSION%.dsc}"
HASH="$(printf '%s\n' "recipe $RECIPE" "$VERSION" "${CONFIGURE_FLAGS[@]}" | sha256sum | cut -c1-16)"
FFMPEG_DIR="$CACHE_ROOT/ffmpeg-$HASH"

build_ffmpeg() {
    mkdir -p "$CACHE_ROOT"
    local work
    work="$(mktemp -d "$CACHE_ROOT/work.XXXXXX")"
    # A build stopped half-way leaves only its work folder, never a half-filled cache entry.
    trap 'rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM
    say "fetching Debian's FFmpeg $VERSION source"
    (cd "$work" && apt-get source --quiet ffmpeg >"$work/source.log" 2>&1) ||
        die "apt-get source ffmpeg failed: $(tail -n5 "$work/source.log")"
    local src
    src="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'ffmpeg-*' | head -n1)"
    [ -n "$src" ] || die "apt-get source left no ffmpeg-* folder in $work"

    say "configuring FFmpeg (${#COMPONENT_FLAGS[@]} component lines from $(basename "$COMPONENTS"))"
    (cd "$src" && ./configure --prefix="$FFMPEG_DIR" "${CONFIGURE_FLAGS[@]}" >"$work/configure.log" 2>&1) ||
        die "FFmpeg's configure failed: $(tail -n5 "$src/ffbuild/config.log")"
    # configure only warns about a component name it does not know.
    if grep -i "did not match anything" "$work/configure.log" >&2; then
        die "ffmpeg-components.txt names components this FFmpeg does not have (above)"
    fi

    local jobs total started
    jobs="$(nproc)"
    total="$(cd "$src" && make -n 2>/dev/null | grep -c -E '^printf "(CC|CXX|AS|X86ASM)' || true)"
    started=$SECONDS
    say "compiling FFmpeg with $jobs jobs (about $total files; a few minutes)"
    (cd "$src" && make -j"$jobs" >"$work/make.log" 2>&1) &
    local make_pid=$!
    while kill -0 "$make_pid" 2>/dev/null; do
        sleep 20
        kill -0 "$make_pid" 2>/dev/null || break
        say "  $(find "$src" -name '*.o' | wc -l) of about $total files compiled ($((SECONDS - started)) s)"
    done
    wait "$make_pid" || die "FFmpeg's build failed: $(tail -n20 "$work/make.log")"
    (cd "$src" && make install DESTDIR="$work/stage" >"$work/install.log" 2>&1) || die "make install failed: $(tail -n5 "$work/install.log")"
    say "FFmpeg built in $((SECONDS - started)) s"

    # Publish the finished build in one rename (its prefix is already the final folder).
    mv -T "$work/stage$FFMPEG_DIR" "$FFMPEG_DIR"
    rm -rf "$work"
    trap - EXIT
}

if [ -e "$FFMPEG_DIR/lib/libavcodec.a" ]; then
    say "using the cached FFmpeg build $FFMPEG_DIR"
else
    build_ffmpeg
fi

# --- marquee --------------------------------------------------------------------------

# x264, zimg (C++), libaom, zlib and libm, as FFmpeg's own pkg-config files list them.
# Given to the final link only (`cargo rustc -- -C link-arg`), they come after FFmpeg's
# archives on the linker's command line, as static linking needs, and leave every other
# crate's build untouched.
mapfile -t EXTRA_LIBS < <(PKG_CONFIG_LIBDIR="$FFMPEG_DIR/lib/pkgconfig" \
    pkg-config --static --libs-only-l libavdevice libavfilter libavformat libavcodec libswresample libswscale libavutil |
    tr ' ' '\n' | grep -v -E '^-l(av|sw|postproc)|^$' | awk '!seen[$0]++')
# rustc ends its own library list with -Bdynamic, so say again that these are archives.
LINK_ARGS=(-C link-arg=-Wl,-Bstatic)
for lib in "${EXTRA_LIBS[@]}"; do
    LINK_ARGS+=(-C "link-arg=$lib")
done
# +crt-static alone makes a static-PIE; relocation-model=static makes a plain static
# executable, the kind `file` calls "statically linked" and `ldd` "not a dynamic executable".
# getrandom finds glibc's getrandom() with dlsym, which finds nothing in a static binary,
# and then falls back to reading /dev/random and /dev/urandom: link the call in instead.
export RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static --cfg getrandom_backend=\"linux_getrandom\""
export FFMPEG_DIR
# The shipped binary only: link-time optimisation across crates and one code unit drop
# code no path reaches, which keeps it under MAX_SIZE_MB (a slower build, once per release).
export CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
say "building marquee (release, static; FFmpeg from $FFMPEG_DIR; also linked: ${EXTRA_LIBS[*]})"
started=$SECONDS
cargo rustc --release --locked --features static --target "$TARGET" --target-dir "$ROOT/target/static" \
    --manifest-path "$ROOT/Cargo.toml" --bin marquee -- "${LINK_ARGS[@]}"
say "cargo build took $((SECONDS - started)) s"

mkdir -p "$ROOT/dist"
strip -o "$ROOT/dist/marquee.tmp" "$ROOT/target/static/$TARGET/release/marquee"
mv "$ROOT/dist/marquee.tmp" "$ROOT/dist/marquee"
BIN="$ROOT/dist/marquee"

description="$(file -b "$BIN")"
case "$description" in
    *"statically linked"*) ;;
    *) die "dist/marquee is not statically linked: $description" ;;
esac
size_mb=$(($(stat -c %s "$BIN") / 1024 / 1024))
[ "$size_mb" -le "$MAX_SIZE_MB" ] || die "dist/marquee is $size_mb MB, over the $MAX_SIZE_MB MB target"
say "dist/marquee: $size_mb MB, $description"
echo "$BIN"
