#!/usr/bin/env bash
# Tests the static musl binaries that scripts/arm-build.sh built (run it first), under
# qemu user emulation, for every target it lists in target/arm/built-targets, emulating
# the oldest core of its boards (Cortex-A53 for aarch64, Cortex-A7 for armv7, ARM1176
# for ARMv6):
#   1. 'pealet --version' runs;
#   2. every tests/data/k8s-examples/*.yaml is encoded by the x86_64 build and by the ARM
#      build: same exit status, same bytes; and both builds decode those bytes
#      ('decode -o json') to the same text. This catches word-size and endianness bugs
#      in the codec (armv7 and ARMv6 are 32-bit);
#   3. the library's unit tests, compiled for the target the same way (zig, musl, std
#      from rust-src where rustup has none), pass under qemu with the same CPU;
#   4. the static binary, stripped by the release profile, is no larger than 3 MiB.
#
# Environment:
#   PEALET_HOST_BIN    x86_64 pealet to compare with (default: target/release/pealet,
#                      else target/debug/pealet; build it with 'cargo build --release')
#   ARM_MAX_BYTES      size limit of the stripped binary (default: 3 MiB = 3145728)
#   ARM_TEST_SKIP_CLI  =1 skips steps 1 and 2, reported as SKIPPED: only for a branch that
#                      does not have the command line yet. CI must not set it.
#   ARM_TARGET_DIR, ARM_TOOLS, ARM_NICE  as for arm-build.sh
set -euo pipefail
# shellcheck source=scripts/arm-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/arm-common.sh"
cd "$ROOT"

MAX_BYTES=${ARM_MAX_BYTES:-$((3 * 1024 * 1024))}
NICE=${ARM_NICE:-0}
EXAMPLES=(tests/data/k8s-examples/*.yaml)
SKIP_CLI=${ARM_TEST_SKIP_CLI:-0}

[[ -f $ARM_BUILT_LIST ]] || die "$ARM_BUILT_LIST missing: run scripts/arm-build.sh first"
mapfile -t TARGETS <"$ARM_BUILT_LIST"
((${#TARGETS[@]})) || die "$ARM_BUILT_LIST lists no target: run scripts/arm-build.sh"

if [[ $SKIP_CLI != 1 ]]; then
    if [[ -z ${PEALET_HOST_BIN:-} ]]; then
        PEALET_HOST_BIN=$ROOT/target/release/pealet
        [[ -x $PEALET_HOST_BIN ]] || PEALET_HOST_BIN=$ROOT/target/debug/pealet
    fi
    [[ -x $PEALET_HOST_BIN ]] || die "no x86_64 pealet at $PEALET_HOST_BIN: run 'cargo build --release' or set PEALET_HOST_BIN"
    ((${#EXAMPLES[@]})) && [[ -f ${EXAMPLES[0]} ]] || die "no tests/data/k8s-examples/*.yaml"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

failures=()
fail() { printf 'FAIL: %s\n' "$*" >&2; failures+=("$*"); }
summary=()

# Runs "$@", saving stdout, stderr and the exit status under $WORK/<tag>.{out,err,rc}.
capture() {
    local tag=$1 rc=0
    shift
    "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" || rc=$?
    echo "$rc" >"$WORK/$tag.rc"
}

# Step 2 for one target: the ARM build must behave byte for byte like the x86_64 one.
compare_examples() {
    local t=$1 bin=$2 qemu=$3 f name encoded=0 rejected=0
    for f in "${EXAMPLES[@]}"; do
        name=$(basename "$f" .yaml)
        capture host-enc "$PEALET_HOST_BIN" encode "$f"
        capture arm-enc "$qemu" "$bin" encode "$f"
        if ! cmp -s "$WORK/host-enc.rc" "$WORK/arm-enc.rc"; then
            fail "$t $name: encode exits $(<"$WORK/host-enc.rc") on x86_64 but $(<"$WORK/arm-enc.rc") on $t"
            continue
        fi
        cmp -s "$WORK/host-enc.out" "$WORK/arm-enc.out" \
            || { fail "$t $name: encoded bytes differ ($(cmp "$WORK/host-enc.out" "$WORK/arm-enc.out" 2>&1 || true))"; continue; }
        cmp -s "$WORK/host-enc.err" "$WORK/arm-enc.err" \
            || { fail "$t $name: encode messages differ"; diff "$WORK/host-enc.err" "$WORK/arm-enc.err" >&2 || true; continue; }
        if [[ $(<"$WORK/host-enc.rc") != 0 ]]; then
            # Rejected the same way by both builds: equal, but say so.
            echo "  $name: rejected by both (exit $(<"$WORK/host-enc.rc")): $(head -n1 "$WORK/host-enc.err")"
            rejected=$((rejected + 1))
            continue
        fi
        [[ -s $WORK/host-enc.out ]] || { fail "$t $name: encode succeeds but writes nothing"; continue; }
        cp "$WORK/host-enc.out" "$WORK/pod.bin"
        capture host-dec "$PEALET_HOST_BIN" decode "$WORK/pod.bin" -o json
        capture arm-dec "$qemu" "$bin" decode "$WORK/pod.bin" -o json
        if [[ $(<"$WORK/host-dec.rc") != 0 || $(<"$WORK/arm-dec.rc") != 0 ]]; then
            fail "$t $name: decode -o json exits $(<"$WORK/host-dec.rc") on x86_64, $(<"$WORK/arm-dec.rc") on $t"
            cat "$WORK/host-dec.err" "$WORK/arm-dec.err" >&2
            continue
        fi
        [[ -s $WORK/host-dec.out ]] || { fail "$t $name: decode -o json succeeds but prints nothing"; continue; }
        cmp -s "$WORK/host-dec.out" "$WORK/arm-dec.out" \
            || { fail "$t $name: decode -o json differs"; diff "$WORK/host-dec.out" "$WORK/arm-dec.out" >&2 || true; continue; }
        echo "  $name: $(stat -c %s "$WORK/pod.bin") bytes, identical; JSON identical"
        encoded=$((encoded + 1))
    done
    ((encoded > 0)) || fail "$t: not one example encoded (is the command line there?)"
    summary+=("$t examples: $encoded encoded identically, $rejected rejected identically, of ${#EXAMPLES[@]}")
}

for t in "${TARGETS[@]}"; do
    bin=$ARM_TARGET_DIR/$t/release/pealet
    qemu=${QEMU[$t]}
    [[ -x $bin ]] || die "$bin missing: run scripts/arm-build.sh"
    command -v "$qemu" >/dev/null || die "$qemu missing (Debian package qemu-user-static; arm-build.sh installs it)"
    # qemu-user reads the CPU model from QEMU_CPU (the cargo runner passes -cpu too).
    export QEMU_CPU=${QEMU_CPU_MODEL[$t]}

    if [[ $SKIP_CLI == 1 ]]; then
        step "$t: --version and examples SKIPPED (ARM_TEST_SKIP_CLI=1)"
        summary+=("$t --version and examples: SKIPPED")
    else
        step "$t: pealet --version under $qemu (QEMU_CPU=$QEMU_CPU)"
        capture version "$qemu" "$bin" --version
        if [[ $(<"$WORK/version.rc") == 0 && -s $WORK/version.out ]]; then
            cat "$WORK/version.out"
            summary+=("$t --version: $(head -n1 "$WORK/version.out")")
        else
            fail "$t: --version exits $(<"$WORK/version.rc") and prints '$(cat "$WORK/version.out")'"
            cat "$WORK/version.err" >&2
        fi

        step "$t: examples, x86_64 ($PEALET_HOST_BIN) against $t"
        compare_examples "$t" "$bin" "$qemu"
    fi

    step "$t: library unit tests under $qemu -cpu $QEMU_CPU (zig, musl)"
    # The runner makes cargo start each test binary as '$qemu -cpu <model> <binary>'.
    # In a subshell: arm_cargo_env changes PATH and exports per target.
    start=$(date +%s)
    if (
        arm_cargo_env "$t"
        # No debug info: it only makes the test binaries bigger and slower to link.
        export CARGO_PROFILE_TEST_DEBUG=0 CARGO_PROFILE_DEV_DEBUG=0
        # Tells the tests that read /proc/self/smaps that qemu, not the kernel, renders it.
        export PEALET_TEST_EMULATED=1
        nice -n "$NICE" cargo-zigbuild test --locked --lib "${ARM_CARGO_ARGS[@]}"
    ) 2>&1 | tee "$WORK/unit.log"; then
        result=$(grep '^test result:' "$WORK/unit.log" | tail -n1)
        summary+=("$t unit tests ($(($(date +%s) - start))s incl. build): ${result#test result: }")
    else
        fail "$t: unit tests under qemu"
    fi

    step "$t: size"
    # The release profile strips (strip = true); arm-build.sh checked there is no .symtab.
    bytes=$(stat -c %s "$bin")
    size="$bytes bytes = $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1024 }') KiB (limit $MAX_BYTES bytes)"
    echo "stripped static $t binary: $size"
    summary+=("$t stripped static binary (${BOARDS[$t]}): $size")
    ((bytes <= MAX_BYTES)) || fail "$t: stripped binary is $bytes bytes, over the limit of $MAX_BYTES"
done

step "Summary"
printf '  %s\n' "${summary[@]}"
if ((${#failures[@]})); then
    printf '\n%d failure(s):\n' "${#failures[@]}" >&2
    printf '  %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "  all ARM checks passed"
