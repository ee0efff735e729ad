# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source it
# Shared by scripts/arm-build.sh and scripts/arm-test.sh (sourced, not run).
#
# The docker-free ARM build uses Debian 12's own Rust toolchain (packages rustc-web and
# cargo-web, Rust 1.85) instead of rustup: Debian ships the standard library of every
# release architecture as a .deb (libstd-rust-web-dev:arm64, :armhf), so the arm64 and
# armhf ones can be unpacked next to the host's std in a private sysroot and the same
# rustc cross-compiles. Because that rustc is 1.85, the build also proves the crate's
# MSRV (rust-version in Cargo.toml) together with every locked dependency.

# Paths. ROOT is the repository; everything we create lives under target/ (ignored by
# git). The target dir is separate from the host build's target/ so they never collide.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ARM_SYSROOT=${ARM_SYSROOT:-$ROOT/target/arm-sysroot}
ARM_TARGET_DIR=${ARM_TARGET_DIR:-$ROOT/target/arm}
# One line per target that arm-build.sh built; arm-test.sh tests exactly those.
ARM_BUILT_LIST=$ARM_TARGET_DIR/built-targets

# Debian's toolchain, never the rustup proxies that come first on PATH.
DEB_RUSTC=/usr/bin/rustc
DEB_RUSTDOC=/usr/bin/rustdoc
DEB_CARGO=/usr/bin/cargo

# Per target: Debian architecture, GNU triple of the cross gcc, qemu user emulator.
# Debian's armhf is ARMv7 + VFPv3-D16, so it matches armv7-unknown-linux-gnueabihf;
# there is no Debian std for ARMv6 (Pi Zero/1): that one is built with cross only.
declare -A DEB_ARCH=(
    [aarch64-unknown-linux-gnu]=arm64
    [armv7-unknown-linux-gnueabihf]=armhf
)
declare -A GNU_TRIPLE=(
    [aarch64-unknown-linux-gnu]=aarch64-linux-gnu
    [armv7-unknown-linux-gnueabihf]=arm-linux-gnueabihf
)
declare -A QEMU=(
    [aarch64-unknown-linux-gnu]=qemu-aarch64-static
    [armv7-unknown-linux-gnueabihf]=qemu-arm-static
)

# The oldest core of the boards each target is for (exported as QEMU_CPU by
# arm-test.sh): qemu's default CPU has every optional feature and would hide an
# instruction the Pi 3's Cortex-A53 or the Pi 2's Cortex-A7 lacks (LSE atomics, ...).
declare -A QEMU_CPU_MODEL=(
    [aarch64-unknown-linux-gnu]=cortex-a53
    [armv7-unknown-linux-gnueabihf]=cortex-a7
)

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
warn() { printf 'warning: %s\n' "$*" >&2; }
step() { printf '\n--> %s\n' "$*"; }

# Version of an installed Debian package, empty when it is not installed.
deb_installed_version() {
    dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null \
        | awk '$1 == "installed" { print $2 }'
}

# Upper-case, underscored form of a target for cargo's CARGO_TARGET_<T>_* variables.
cargo_env_name() { tr 'a-z-' 'A-Z_' <<<"$1"; }

# Sets up the environment for running Debian's cargo for one ARM target:
# - RUSTC/RUSTDOC: Debian's 1.85 (cargo-web would find rustup's rustc on PATH otherwise);
# - --sysroot only for the target's crates, through the per-target rustflags: with
#   --target given, build scripts and proc macros are built for the host without these
#   flags, against /usr/lib/rustlib/<host> (libstd-rust-web-dev:amd64). The private
#   sysroot also links that host std, because rustc loads proc macros while compiling
#   a target crate and resolves their std from <sysroot>/lib/rustlib/<host>;
# - +crt-static: a fully static executable (static glibc), no loader on the device;
# - the cross gcc as linker (it brings the target's static libc.a from libc6-dev-*-cross),
#   and as the C compiler of ring's build script (rustls' crypto: C and assembly);
# - qemu as the runner, so 'cargo test' runs the test binaries under emulation.
# A RUSTFLAGS in the caller's environment would override the per-target flags: drop it.
arm_cargo_env() {
    local target=$1 t
    t=$(cargo_env_name "$target")
    case $ARM_SYSROOT in *[[:space:]]*) die "ARM_SYSROOT must not contain spaces: $ARM_SYSROOT" ;; esac
    unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET RUSTC_WRAPPER
    export RUSTC=$DEB_RUSTC RUSTDOC=$DEB_RUSTDOC
    export CARGO_TARGET_DIR=$ARM_TARGET_DIR
    export "CARGO_TARGET_${t}_LINKER=${GNU_TRIPLE[$target]}-gcc"
    export "CC_${target//-/_}=${GNU_TRIPLE[$target]}-gcc"
    export "CARGO_TARGET_${t}_RUSTFLAGS=--sysroot=$ARM_SYSROOT -C target-feature=+crt-static"
    export "CARGO_TARGET_${t}_RUNNER=${QEMU[$target]}"
}
