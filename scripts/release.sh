#!/usr/bin/env bash
# Builds the three release binaries (scripts/arm-build.sh: static musl for aarch64, armv7
# and ARMv6) and puts them into one directory as a release publishes them:
#
#   <dir>/pealet-<version>-aarch64-unknown-linux-musl
#   <dir>/pealet-<version>-armv7-unknown-linux-musleabihf
#   <dir>/pealet-<version>-arm-unknown-linux-musleabihf
#   <dir>/SHA256SUMS            (sha256sum format: check with 'sha256sum -c SHA256SUMS')
#
# Usage: scripts/release.sh [DIR]      (default DIR: target/dist; earlier pealet-* files and SHA256SUMS there are removed)
# Needs what arm-build.sh needs (root on Debian 12 for its installs). ARM_TARGET_DIR,
# ARM_TOOLS and ARM_NICE are passed on to it. ARM_TARGETS is not: a release has all three.
set -euo pipefail
# shellcheck source=scripts/arm-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/arm-common.sh"
cd "$ROOT"

DIR=${1:-$ROOT/target/dist}
VERSION=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n1)
[[ -n $VERSION ]] || die "no version in Cargo.toml"

ARM_TARGETS="${ALL_TARGETS[*]}" bash "$ROOT/scripts/arm-build.sh"

step "Release directory $DIR"
mkdir -p "$DIR"
find "$DIR" -mindepth 1 -maxdepth 1 -name 'pealet-*' -delete
rm -f "$DIR/SHA256SUMS"
names=()
for t in "${ALL_TARGETS[@]}"; do
    name=pealet-$VERSION-$t
    install -m 0755 "$ARM_TARGET_DIR/$t/release/pealet" "$DIR/$name"
    names+=("$name")
done
(cd "$DIR" && sha256sum "${names[@]}" >SHA256SUMS && sha256sum --quiet -c SHA256SUMS)
(cd "$DIR" && ls -l "${names[@]}" && cat SHA256SUMS)
echo "release of pealet $VERSION in $DIR"
