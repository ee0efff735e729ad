#!/usr/bin/env bash
# Docker-free ARM build: static release binaries for aarch64 (Pi 3/4/5, Zero 2 W,
# 64-bit OS) and, when Debian's armhf std can be fetched, armv7 (Pi 2/3, 32-bit OS),
# with Debian 12's rustc-web 1.85 and the Debian cross gcc. Use it where 'cross'
# cannot run (no Docker); targets/README.md describes both ways.
#
# MSRV: Debian's rustc is 1.85, the crate's rust-version. Building here with Debian's
# cargo and rustc and the locked dependencies therefore also checks that neither the
# crate nor any dependency needs a newer Rust. If Debian moves rustc-web to a newer
# release, the script says so: the build then no longer proves the MSRV.
#
# Needs: Debian 12, root (apt-get, dpkg), the Debian mirror and crates.io.
# Idempotent: a second run installs and downloads nothing and only rebuilds.
#
# Environment:
#   ARM_TARGETS     targets to build (default: both below). aarch64 is required; any
#                   other target is skipped with a warning when its std cannot be fetched.
#   ARM_SYSROOT     private sysroot (default: target/arm-sysroot)
#   ARM_TARGET_DIR  cargo target dir (default: target/arm; never the host's target/)
#
# Output: $ARM_TARGET_DIR/<target>/release/pealet, and $ARM_TARGET_DIR/built-targets
# listing what was built (scripts/arm-test.sh tests exactly those).
set -euo pipefail
# shellcheck source=scripts/arm-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/arm-common.sh"
cd "$ROOT"

REQUIRED_TARGET=aarch64-unknown-linux-gnu
read -r -a TARGETS <<<"${ARM_TARGETS:-aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf}"
for t in "${TARGETS[@]}"; do
    [[ -n ${DEB_ARCH[$t]:-} ]] || die "unknown target $t (known: ${!DEB_ARCH[*]})"
done

mkdir -p "$ARM_TARGET_DIR" "$ARM_SYSROOT/lib/rustlib" "$ARM_SYSROOT/debs"
APT_LOG=$ARM_TARGET_DIR/apt.log
: >"$APT_LOG"

# apt-get update at most once per run, and only when something is missing. A failing
# index of some other repository or a mirror in sync must not stop us: what we need
# is checked afterwards, package by package.
apt_updated=0
apt_update() {
    ((apt_updated)) && return 0
    apt_updated=1
    echo "apt-get update"
    apt-get update -qq >>"$APT_LOG" 2>&1 \
        || warn "apt-get update reported errors (see $APT_LOG); going on with the lists it got"
}

step "Debian packages"
# 1. Foreign architectures first, so that the one apt-get update below also fetches
#    their package lists (needed by 'apt-get download libstd-rust-web-dev:<arch>').
for t in "${TARGETS[@]}"; do
    arch=${DEB_ARCH[$t]}
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
        dpkg --add-architecture "$arch"
        apt_update_needed=1
    fi
done
# 2. Host packages: Debian's Rust 1.85 (rustc-web ships /usr/bin/rustc and rustdoc,
#    cargo-web /usr/bin/cargo, libstd-rust-web-dev the amd64 std used for build scripts
#    and proc macros), qemu, and per target the cross gcc and the target's libc.
pkgs=(rustc-web cargo-web libstd-rust-web-dev qemu-user-static)
for t in "${TARGETS[@]}"; do
    pkgs+=("gcc-${GNU_TRIPLE[$t]}" "libc6-dev-${DEB_ARCH[$t]}-cross")
done
missing=()
for p in "${pkgs[@]}"; do
    [[ -n $(deb_installed_version "$p") ]] || missing+=("$p")
done
if ((${#missing[@]})) || [[ -n ${apt_update_needed:-} ]]; then
    apt_update
fi
if ((${#missing[@]})); then
    echo "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >>"$APT_LOG" 2>&1 \
        || { cat "$APT_LOG" >&2; die "apt-get install failed"; }
else
    echo "all installed: ${pkgs[*]}"
fi

step "Debian's Rust toolchain"
RUST_DEB_VERSION=$(deb_installed_version rustc-web)
HOST_STD_VERSION=$(deb_installed_version libstd-rust-web-dev)
[[ $RUST_DEB_VERSION == "$HOST_STD_VERSION" ]] \
    || die "rustc-web is $RUST_DEB_VERSION but libstd-rust-web-dev (amd64) is $HOST_STD_VERSION"
[[ -x $DEB_RUSTC && -x $DEB_CARGO ]] || die "$DEB_RUSTC or $DEB_CARGO missing after installing rustc-web and cargo-web"
RUSTC_RELEASE=$("$DEB_RUSTC" -vV | sed -n 's/^release: //p')
HOST_TRIPLE=$("$DEB_RUSTC" -vV | sed -n 's/^host: //p')
MSRV=$(sed -n 's/^rust-version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
echo "rustc $RUSTC_RELEASE (Debian package $RUST_DEB_VERSION), $("$DEB_CARGO" --version), host $HOST_TRIPLE"
if [[ $RUSTC_RELEASE == "$MSRV" || $RUSTC_RELEASE == "$MSRV".* ]]; then
    echo "Cargo.toml rust-version = $MSRV: this build checks the MSRV"
else
    warn "Debian's rustc is $RUSTC_RELEASE but Cargo.toml says rust-version = \"$MSRV\": this build no longer checks the MSRV"
fi

step "Private sysroot $ARM_SYSROOT"
# The host std (from libstd-rust-web-dev:amd64) is linked, not copied: rustc needs it
# in the same sysroot to load proc macros while compiling the target's crates.
[[ -d /usr/lib/rustlib/$HOST_TRIPLE/lib ]] || die "/usr/lib/rustlib/$HOST_TRIPLE/lib missing (libstd-rust-web-dev)"
ln -sfn "/usr/lib/rustlib/$HOST_TRIPLE" "$ARM_SYSROOT/lib/rustlib/$HOST_TRIPLE"

# Downloads libstd-rust-web-dev:<arch> of exactly the installed rustc-web's version and
# unpacks its lib/rustlib/<target> into the sysroot. Returns 1 when it cannot be fetched.
fetch_std() {
    local target=$1 arch=${DEB_ARCH[$1]}
    local dest=$ARM_SYSROOT/lib/rustlib/$target
    local stamp=$dest/.debian-version
    if [[ -f $stamp && $(<"$stamp") == "$RUST_DEB_VERSION" ]]; then
        echo "$target: std $RUST_DEB_VERSION already unpacked"
        return 0
    fi
    local dir=$ARM_SYSROOT/debs/$arch
    rm -rf "$dir" && mkdir -p "$dir"
    local spec="libstd-rust-web-dev:$arch=$RUST_DEB_VERSION"
    echo "$target: apt-get download $spec"
    # The package lists may be missing or stale (first run, or the foreign architecture
    # was added by hand): retry once after an update.
    if ! (cd "$dir" && apt-get download -qq -o APT::Sandbox::User=root "$spec") >>"$APT_LOG" 2>&1; then
        apt_update
        (cd "$dir" && apt-get download -qq -o APT::Sandbox::User=root "$spec") >>"$APT_LOG" 2>&1 || return 1
    fi
    local deb
    deb=$(echo "$dir"/*.deb)
    [[ -f $deb ]] || return 1
    # (This function runs as an 'if' condition, where set -e is off: check each step.)
    # The std must come from the very same rustc build, or rustc rejects it (E0514).
    local got_version got_arch
    got_version=$(dpkg-deb -f "$deb" Version)
    got_arch=$(dpkg-deb -f "$deb" Architecture)
    [[ $got_version == "$RUST_DEB_VERSION" && $got_arch == "$arch" ]] \
        || die "$deb is $got_version/$got_arch, but rustc-web is $RUST_DEB_VERSION: the $arch std must be the same version (apt-get update && apt-get install --only-upgrade rustc-web cargo-web libstd-rust-web-dev)"
    local tmp
    tmp=$(mktemp -d) || die "mktemp failed"
    dpkg-deb -x "$deb" "$tmp" || die "cannot unpack $deb"
    [[ -d $tmp/usr/lib/rustlib/$target/lib ]] || die "$deb has no usr/lib/rustlib/$target/lib"
    if ! { rm -rf "$dest" && mv "$tmp/usr/lib/rustlib/$target" "$dest" && rm -rf "$tmp" \
        && echo "$RUST_DEB_VERSION" >"$stamp"; }; then
        die "cannot install the $target std in $dest"
    fi
    echo "$target: unpacked $(find "$dest/lib" -name '*.rlib' | wc -l) rlibs"
}

available=()
for t in "${TARGETS[@]}"; do
    if fetch_std "$t"; then
        available+=("$t")
    elif [[ $t == "$REQUIRED_TARGET" ]]; then
        tail -n 5 "$APT_LOG" >&2
        die "cannot fetch libstd-rust-web-dev:${DEB_ARCH[$t]}=$RUST_DEB_VERSION, the version of the installed rustc-web: the std must match rustc exactly. If the mirror has moved on: apt-get update && apt-get install --only-upgrade rustc-web cargo-web libstd-rust-web-dev (full log: $APT_LOG)"
    else
        warn "$t SKIPPED: cannot fetch libstd-rust-web-dev:${DEB_ARCH[$t]}=$RUST_DEB_VERSION (see $APT_LOG)"
    fi
done

step "Build (Debian cargo $("$DEB_CARGO" --version | cut -d' ' -f2), --release --locked)"
built=()
for t in "${available[@]}"; do
    arm_cargo_env "$t"
    start=$(date +%s)
    "$DEB_CARGO" build --release --locked --target "$t"
    secs=$(($(date +%s) - start))
    bin=$ARM_TARGET_DIR/$t/release/pealet
    # Fully static: no program interpreter, no shared libraries.
    readelf=${GNU_TRIPLE[$t]}-readelf
    if "$readelf" -lW "$bin" | grep -q 'INTERP' || "$readelf" -dW "$bin" | grep -q 'NEEDED'; then
        "$readelf" -dW "$bin" >&2 || true
        die "$bin is not static"
    fi
    printf '%s: built in %ss, static, %s bytes: %s\n' "$t" "$secs" "$(stat -c %s "$bin")" "$bin"
    built+=("$t")
done
printf '%s\n' "${built[@]}" >"$ARM_BUILT_LIST"

step "Done: ${built[*]}"
if ((${#built[@]} < ${#TARGETS[@]})); then
    warn "not built: $(comm -23 <(printf '%s\n' "${TARGETS[@]}" | sort) <(printf '%s\n' "${built[@]}" | sort) | tr '\n' ' ')"
fi
