#!/usr/bin/env bash
# Docker-free release build: static musl binaries for every board family,
#   aarch64-unknown-linux-musl      Pi 3/4/5, Zero 2 W with a 64-bit OS
#   armv7-unknown-linux-musleabihf  Pi 2/3 with a 32-bit OS
#   arm-unknown-linux-musleabihf    Pi Zero, Zero W, Pi 1 (ARMv6, hard float)
# with rustup's stable Rust and zig as C compiler and linker (scripts/arm-common.sh says
# why). These are the binaries a release publishes (scripts/release.sh) and the ones
# scripts/arm-test.sh runs under qemu.
#
# Needs: Debian 12, root (apt-get), rustup, and the Debian mirror, PyPI and crates.io.
# Installs what is missing: qemu-user-static, python3-venv and binutils (apt), the
# aarch64 musl target and the rust-src component (rustup), and the pinned ziglang and
# cargo-zigbuild in a venv under target/arm-tools. Idempotent: a second run installs
# and downloads nothing and only rebuilds.
#
# Environment:
#   ARM_TARGETS     targets to build (default: all three)
#   ARM_TARGET_DIR  cargo target dir (default: target/arm; never the host's target/)
#   ARM_TOOLS       where the venv goes (default: target/arm-tools)
#   ARM_NICE        niceness of the builds (default: 0)
#
# Output: $ARM_TARGET_DIR/<target>/release/pealet, and $ARM_TARGET_DIR/built-targets
# listing what was built.
set -euo pipefail
# shellcheck source=scripts/arm-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/arm-common.sh"
cd "$ROOT"

read -r -a TARGETS <<<"${ARM_TARGETS:-${ALL_TARGETS[*]}}"
for t in "${TARGETS[@]}"; do
    is_known_target "$t" || die "unknown target $t (known: ${ALL_TARGETS[*]})"
done
NICE=${ARM_NICE:-0}

step "Debian packages"
pkgs=(qemu-user-static python3-venv binutils)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "apt-get install ${missing[*]}"
    apt-get update -qq || warn "apt-get update reported errors; going on with the lists it got"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || die "apt-get install ${missing[*]} failed"
else
    echo "all installed: ${pkgs[*]}"
fi

step "Rust: stable, the aarch64 musl std, rust-src"
command -v rustup >/dev/null || die "rustup missing: the musl builds use rustup's stable Rust"
need_rustup_std=0
for t in "${TARGETS[@]}"; do [[ -n ${BUILD_STD[$t]:-} ]] || need_rustup_std=1; done
if ((need_rustup_std)); then
    rustup target list --installed | grep -qx aarch64-unknown-linux-musl \
        || rustup target add aarch64-unknown-linux-musl
fi
rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
rustc --version
cargo --version

step "zig $ZIGLANG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION (venv $ARM_TOOLS/venv)"
venv=$ARM_TOOLS/venv
want="ziglang==$ZIGLANG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
if [[ ! -f $venv/pinned || $(<"$venv/pinned") != "$want" ]]; then
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    # shellcheck disable=SC2086  # $want is two requirement words
    "$venv/bin/pip" install --quiet --disable-pip-version-check $want
    echo "$want" >"$venv/pinned"
fi
echo "zig $("$venv/bin/python3" -m ziglang version), $("$venv/bin/cargo-zigbuild" --version)"

step "Build (cargo zigbuild --release --locked)"
mkdir -p "$ARM_TARGET_DIR"
built=()
for t in "${TARGETS[@]}"; do
    (
        arm_cargo_env "$t"
        start=$(date +%s)
        nice -n "$NICE" cargo zigbuild --release --locked "${ARM_CARGO_ARGS[@]}"
        bin=$ARM_TARGET_DIR/$t/release/pealet
        # Fully static (no program interpreter, no shared libraries), and stripped.
        if readelf -lW "$bin" | grep -q 'INTERP' || readelf -dW "$bin" | grep -q 'NEEDED'; then
            readelf -dW "$bin" >&2 || true
            die "$bin is not static"
        fi
        ! readelf -SW "$bin" | grep -q '\.symtab' || die "$bin is not stripped"
        if [[ -n ${CPU_ARCH_TAG[$t]:-} ]]; then
            arch=$(readelf -A "$bin" | sed -n 's/^ *Tag_CPU_arch: *//p')
            [[ $arch == "${CPU_ARCH_TAG[$t]}" ]] \
                || die "$bin is built for CPU architecture '$arch', not ${CPU_ARCH_TAG[$t]}"
        fi
        printf '%s: built in %ss, static, stripped, %s bytes: %s\n' \
            "$t" "$(($(date +%s) - start))" "$(stat -c %s "$bin")" "$bin"
    )
    built+=("$t")
done
printf '%s\n' "${built[@]}" >"$ARM_BUILT_LIST"

step "Done: ${built[*]}"
