#!/usr/bin/env bash
# MSRV check: compiles the crate and every locked dependency, all targets (library,
# binary, tests, examples, benches), with Debian 12's Rust 1.85 (packages rustc-web,
# cargo-web, libstd-rust-web-dev), the Rust of Cargo.toml's rust-version. A language
# feature, std API or dependency that needs a newer Rust fails here.
#
# Debian's security archive has moved rustc-web to newer releases; bookworm's main
# archive keeps 1.85. The script installs the newest 1.85.* Debian has (downgrading a
# newer rustc-web if one is installed), so the check stays a 1.85 check.
#
# It is `cargo check` for the host only: the release binaries for the boards are built
# and tested with rustup's stable Rust by scripts/arm-build.sh and scripts/arm-test.sh.
# (Until the musl builds, this script cross-built static glibc aarch64 and armv7 release
# binaries with Debian's toolchain; checking costs a fraction of that.)
#
# Needs: Debian 12, root (apt-get), the Debian mirror and crates.io.
#
# Environment:
#   MSRV_TARGET_DIR  cargo target dir (default: target/msrv)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

MSRV=$(sed -n 's/^rust-version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
[[ -n $MSRV ]] || die "no rust-version in Cargo.toml"
PKGS=(rustc-web cargo-web libstd-rust-web-dev)

installed_version() {
    dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null \
        | awk '$1 == "installed" { print $2 }'
}
# Newest Debian version of rustc-web whose upstream release is $MSRV (e.g. 1.85.0+dfsg3-1~deb12u3).
msrv_deb_version() {
    apt-cache madison rustc-web | awk -v m="$MSRV" '{ v = $3 } index(v, m ".") == 1 || index(v, m "+") == 1 { print v }' \
        | sort -V | tail -n1
}

want=$(msrv_deb_version)
if [[ -z $want ]]; then
    apt-get update -qq || true
    want=$(msrv_deb_version)
fi
[[ -n $want ]] || die "Debian has no rustc-web $MSRV.* (apt-cache madison rustc-web)"
specs=()
for p in "${PKGS[@]}"; do
    [[ $(installed_version "$p") == "$want" ]] || specs+=("$p=$want")
done
if ((${#specs[@]})); then
    echo "apt-get install ${specs[*]}"
    log=$(mktemp)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --allow-downgrades "${specs[@]}" \
        >"$log" 2>&1 || { cat "$log" >&2; die "apt-get install ${specs[*]} failed"; }
    grep -i 'downgrading' "$log" || true
    rm -f "$log"
fi

release=$(/usr/bin/rustc -vV | sed -n 's/^release: //p')
[[ $release == "$MSRV" || $release == "$MSRV".* ]] \
    || die "/usr/bin/rustc is $release after installing rustc-web=$want, not $MSRV"
echo "Debian rustc-web $want: $(/usr/bin/rustc --version), $(/usr/bin/cargo --version)"

# Debian's cargo and rustc, never the rustup proxies that come first on PATH.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET RUSTC_WRAPPER RUSTC_BOOTSTRAP
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_DIR=${MSRV_TARGET_DIR:-$ROOT/target/msrv}
start=$(date +%s)
/usr/bin/cargo check --locked --all-targets
/usr/bin/cargo check --locked --all-targets --no-default-features
echo "MSRV $MSRV: cargo check of all targets, with and without default features, passed in $(($(date +%s) - start))s"
