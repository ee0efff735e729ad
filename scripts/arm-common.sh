# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source it
# Shared by scripts/arm-build.sh, scripts/arm-test.sh and scripts/release.sh (sourced, not run).
#
# The release binaries are static musl builds for the three board families, built
# without Docker with rustup's stable Rust and zig as C compiler and linker:
#
# - zig (PyPI package `ziglang`, one self-contained archive) carries musl's sources and
#   headers for every ARM variant and builds crt1.o and libc.a for exactly the CPU asked
#   for; cargo-zigbuild (PyPI) is the small wrapper that tells cargo and ring's build
#   script (cc crate) to use it. Both are pinned below and installed in a venv under
#   target/, never system-wide.
# - aarch64-unknown-linux-musl: rustup ships its std; installed with `rustup target add`.
# - armv7-unknown-linux-musleabihf and arm-unknown-linux-musleabihf (ARMv6): rustup's
#   mirror here has no std for them, so std is compiled from the `rust-src` component
#   with `-Z build-std` (RUSTC_BOOTSTRAP=1 lets stable cargo take that one flag).
# - `-C link-self-contained=no`: libc.a and the crt objects come from zig, which builds
#   them for the target CPU, not from the copies rustc would otherwise add.
#
# One toolchain for all three targets; Debian's cross gcc would cover aarch64 only.

# Paths. ROOT is the repository; everything we create lives under target/ (ignored by
# git), in a target dir of its own so it never collides with the host's target/.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ARM_TARGET_DIR=${ARM_TARGET_DIR:-$ROOT/target/arm}
ARM_TOOLS=${ARM_TOOLS:-$ROOT/target/arm-tools}
# One line per target that arm-build.sh built; arm-test.sh tests exactly those.
ARM_BUILT_LIST=$ARM_TARGET_DIR/built-targets

# Pinned versions of the PyPI packages (zig 0.14.1 bundles musl 1.2.5).
ZIGLANG_VERSION=0.14.1
CARGO_ZIGBUILD_VERSION=0.24.1

ALL_TARGETS=(aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf arm-unknown-linux-musleabihf)

# Per target: qemu user emulator; the board it is for.
declare -A QEMU=(
    [aarch64-unknown-linux-musl]=qemu-aarch64-static
    [armv7-unknown-linux-musleabihf]=qemu-arm-static
    [arm-unknown-linux-musleabihf]=qemu-arm-static
)
declare -A BOARDS=(
    [aarch64-unknown-linux-musl]="Pi 3/4/5, Zero 2 W, 64-bit OS"
    [armv7-unknown-linux-musleabihf]="Pi 2/3, 32-bit OS"
    [arm-unknown-linux-musleabihf]="Pi Zero/Zero W/1 (ARMv6)"
)
# The oldest core of the boards each target is for (exported as QEMU_CPU by
# arm-test.sh): qemu's default CPU has every optional feature and would hide an
# instruction the Pi 3's Cortex-A53, the Pi 2's Cortex-A7 or the Pi Zero's ARM1176
# lacks (LSE atomics, ARMv7 instructions, NEON, ...).
declare -A QEMU_CPU_MODEL=(
    [aarch64-unknown-linux-musl]=cortex-a53
    [armv7-unknown-linux-musleabihf]=cortex-a7
    [arm-unknown-linux-musleabihf]=arm1176
)
# Targets whose std is built from rust-src (no rustup std for them here).
declare -A BUILD_STD=(
    [armv7-unknown-linux-musleabihf]=1
    [arm-unknown-linux-musleabihf]=1
)
# What `readelf -A` must say about the 32-bit binaries (Tag_CPU_arch): an ARMv7
# object linked into the ARMv6 binary would make it v7, and crash on a Pi Zero.
declare -A CPU_ARCH_TAG=(
    [armv7-unknown-linux-musleabihf]=v7
    [arm-unknown-linux-musleabihf]=v6
)

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
warn() { printf 'warning: %s\n' "$*" >&2; }
step() { printf '\n--> %s\n' "$*"; }

is_known_target() {
    local t
    for t in "${ALL_TARGETS[@]}"; do [[ $t == "$1" ]] && return 0; done
    return 1
}

# Upper-case, underscored form of a target for cargo's CARGO_TARGET_<T>_* variables.
cargo_env_name() { tr 'a-z-' 'A-Z_' <<<"$1"; }

# Sets up the environment for `cargo zigbuild` / `cargo-zigbuild test` for one target,
# and the extra cargo arguments in the array ARM_CARGO_ARGS:
# - the venv's bin first on PATH: cargo-zigbuild, and the python that runs zig;
# - RUSTFLAGS apply to the target's crates only (cargo is given --target), so build
#   scripts and proc macros stay ordinary host builds;
# - qemu with the board's CPU as the runner, so `cargo test` runs the test binaries
#   under emulation.
arm_cargo_env() {
    local target=$1 t
    t=$(cargo_env_name "$target")
    unset CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET RUSTC_WRAPPER RUSTC RUSTDOC
    export PATH=$ARM_TOOLS/venv/bin:$PATH
    export CARGO_TARGET_DIR=$ARM_TARGET_DIR
    export RUSTFLAGS="-C link-self-contained=no"
    export "CARGO_TARGET_${t}_RUNNER=${QEMU[$target]} -cpu ${QEMU_CPU_MODEL[$target]}"
    ARM_CARGO_ARGS=(--target "$target")
    if [[ -n ${BUILD_STD[$target]:-} ]]; then
        export RUSTC_BOOTSTRAP=1
        ARM_CARGO_ARGS+=(-Z build-std=std,panic_abort)
    else
        unset RUSTC_BOOTSTRAP
    fi
}
