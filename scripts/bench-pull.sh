#!/usr/bin/env bash
# Pull benchmark: a ~50 MB image from a loopback docker-registry, pulled by
# 'pealet image pull' and copied by 'skopeo copy docker://... oci:DIR' in the same run;
# when umoci is installed, also 'skopeo copy' followed by 'umoci unpack' (download and
# unpack: what a runtime needs before it can start a container).
# Prints wall times (median of RUNS), their ratios, and pealet's peak memory above idle
# (max RSS of the pull minus max RSS of 'pealet image ls' on the same store).
#
# Needs: docker-registry, skopeo, GNU time, python3, gzip (Debian packages
# docker-registry skopeo time python3 gzip; umoci optional); root is not needed.
# Network: 127.0.0.1 only.
# Environment: PEALET (default target/release/pealet, built if missing), SIZE_MB (50),
# RUNS (5), KEEP=1 keeps the work directory, DATA_DIR: a directory whose files make the
# layer instead of SIZE_MB of random data (e.g. DATA_DIR=/usr/lib/python3.11: compressible
# and many files, so it measures inflate and per-file costs, not hashing and copying).
set -euo pipefail
cd "$(dirname "$0")/.."
PEALET=${PEALET:-$PWD/target/release/pealet}
SIZE_MB=${SIZE_MB:-50}
RUNS=${RUNS:-5}
[[ -x $PEALET ]] || cargo build --release --locked
for tool in docker-registry skopeo python3 gzip /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench-pull: $tool is missing" >&2; exit 1; }
done

work=$(mktemp -d /tmp/pealet-bench.XXXXXX)
reg_pid=
cleanup() {
    if [[ -n $reg_pid ]]; then
        kill "$reg_pid" 2>/dev/null || true
        wait "$reg_pid" 2>/dev/null || true
    fi
    [[ ${KEEP:-0} == 1 ]] || rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
  secret: bench
YML
docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.1)" 2>/dev/null && break
    sleep 0.1
done

# The image: busybox and SIZE_MB of random data (incompressible, so the blob is as
# large as the layer) or DATA_DIR's files, gzip'd, as a one-layer OCI layout.
layout=$work/layout
mkdir -p "$work/rootfs/bin" "$layout/blobs/sha256"
cp /bin/busybox "$work/rootfs/bin/busybox" 2>/dev/null || cp /usr/bin/busybox "$work/rootfs/bin/busybox" 2>/dev/null || true
if [[ -n ${DATA_DIR:-} ]]; then
    cp -a "$DATA_DIR" "$work/rootfs/data"
else
    head -c "${SIZE_MB}M" /dev/urandom >"$work/rootfs/data.bin"
fi
tar -C "$work/rootfs" --numeric-owner --owner=0 --group=0 -cf "$work/layer.tar" .
diffid=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -1 -n -c "$work/layer.tar" >"$work/layer.tgz"
put() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$layout/blobs/sha256/$d"; echo "$d $(stat -c %s "$layout/blobs/sha256/$d")"; }
read -r ld ls_ < <(put "$work/layer.tgz")
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/busybox","sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diffid" >"$work/config.json"
read -r cd_ cs < <(put "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$cd_" "$cs" "$ld" "$ls_" >"$work/manifest.json"
read -r md ms < <(put "$work/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s}]}' "$md" "$ms" >"$layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
rm -f "$work/layer.tar"
skopeo copy -q --dest-tls-verify=false "oci:$layout" "docker://127.0.0.1:$port/bench:v1"
ref=127.0.0.1:$port/bench:v1
echo "image: $ref, layer blob $ls_ bytes (gzip), $(du -sb "$work/rootfs" | cut -f1) bytes of files"
umoci=$(command -v umoci || true)

# measure CMD...: wall seconds and max RSS (KiB) of one command, by GNU time (a small
# C parent, so the figure is the command's own).
measure() {
    /usr/bin/time -f '%e %M' -o "$work/time.out" "$@" >/dev/null
    cat "$work/time.out"
}

pealet_t=() skopeo_t=() pealet_rss=() skopeo_rss=() idle_rss=() unpack_t=()
for i in $(seq "$RUNS"); do
    rm -rf "$work/store" "$work/oci-out" "$work/bundle"
    read -r t rss < <(measure "$PEALET" image --root "$work/store" pull "$ref")
    pealet_t+=("$t") pealet_rss+=("$rss")
    read -r _ rss < <(measure "$PEALET" image --root "$work/store" ls)
    idle_rss+=("$rss")
    read -r t rss < <(measure skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/oci-out:v1")
    skopeo_t+=("$t") skopeo_rss+=("$rss")
    line="run $i: pealet ${pealet_t[-1]}s (max RSS ${pealet_rss[-1]} KiB, idle ${idle_rss[-1]} KiB), skopeo ${t}s (max RSS $rss KiB)"
    if [[ -n $umoci ]]; then
        rm -rf "$work/oci-out"
        read -r t _ < <(measure sh -c 'skopeo copy -q --src-tls-verify=false "$1" "$2" && umoci unpack --rootless --image "$3" "$4"' \
            sh "docker://$ref" "oci:$work/oci-out:v1" "$work/oci-out:v1" "$work/bundle")
        unpack_t+=("$t")
        line+=", skopeo+umoci ${t}s"
    fi
    echo "$line"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
pt=$(median "${pealet_t[@]}") st=$(median "${skopeo_t[@]}")
prss=$(median "${pealet_rss[@]}") irss=$(median "${idle_rss[@]}") srss=$(median "${skopeo_rss[@]}")
ut=0
[[ -n $umoci ]] && ut=$(median "${unpack_t[@]}")
python3 - "$pt" "$st" "$prss" "$irss" "$srss" "$ls_" "$ut" <<'PY'
import sys
pt, st, prss, irss, srss, size, ut = map(float, sys.argv[1:])
print(f"pealet pull:  {pt:.2f} s  ({size / pt / 1e6:.1f} MB/s, downloads, verifies and unpacks)")
print(f"skopeo copy:  {st:.2f} s  (downloads and verifies into an OCI directory)")
print(f"ratio pealet/skopeo: {pt / st:.2f}")
if ut:
    print(f"skopeo copy + umoci unpack:  {ut:.2f} s  (downloads, verifies, unpacks)")
    print(f"ratio pealet/(skopeo+umoci): {pt / ut:.2f}")
print(f"pealet peak memory: {prss / 1024:.1f} MiB max RSS, {irss / 1024:.1f} MiB idle "
      f"(image ls), {(prss - irss) / 1024:.2f} MiB above idle; skopeo {srss / 1024:.1f} MiB")
PY
