//! The static preset dictionary: bytes that sit in the LZ window before the first byte of
//! every message, so that a message can copy common words from it on first use.
//!
//! How it was chosen: general vocabulary of Kubernetes pods and of the shell, written
//! from knowledge of the Kubernetes documentation's conventions and common container
//! images, plus a few byte patterns of the postcard encoding itself (runs of zero bytes,
//! which are empty lists and absent options; the default probe timings). It was not cut
//! from the example manifests in tests/data/k8s-examples, which serve as the benchmark: a
//! test checks that no 21-byte substring of this dictionary occurs in any of them.
//!
//! The most frequent words come last: they are nearest to the message, so their
//! distances are the shortest and cheapest to code. Changing a single byte here changes
//! the wire format (the golden bytes of tests/it/wire.rs catch it).

/// The dictionary, in window order.
pub const DICT: &[u8] = concat!(
    // Less frequent: images, registries, tools, paths.
    "registry.k8s.io/pause:3.9 quay.io/ ghcr.io/ gcr.io/ ",
    "docker.io/library/ubuntu debian:bookworm-slim postgres mysql mongo ",
    "python:3 node:20 golang:1 httpd:2.4 ",
    "http://localhost:8080/ curl -fsS wget -q -O- https://kubernetes.io/ ",
    "127.0.0.1 0.0.0.0 10.0.0.1 ",
    "/var/log/ /var/lib/ /var/run/secrets/kubernetes.io/serviceaccount ",
    "/etc/config /etc/ /usr/local/bin/ /opt/ /proc/ /sys/ /dev/null 2>&1 ",
    "/tmp/healthy /healthz /readyz /livez /metrics /ready /index.html ",
    "/usr/share/nginx/ /html /data /config /cache /app /work ",
    "if [ -f ]; then fi; exit 0; exit 1; ",
    "cat ls -l mkdir -p touch rm -rf date; hostname; ",
    "tail -f /dev/null && || $( ${ }) ",
    "POD_NAME POD_NAMESPACE POD_IP NODE_NAME HOSTNAME HOME PATH ",
    "MY_ LOG_LEVEL DEBUG _HOST _PORT _ADDR _URL SERVICE_ ",
    // Label keys lose their `app.kubernetes.io/` prefix to the Key encoding.
    "name component part-of instance managed-by created-by kubernetes.io/ ",
    "frontend backend worker server client sidecar database cache ",
    "environment production staging version tier role ",
    "liveness readiness startup probe health check ",
    "memory cpu storage limits requests ",
    "shared volume mount secret service port host path value ",
    "message termination log data config workdir ",
    "Hello, World! Hello from the ",
    "example demo test hello world ",
    // Postcard patterns: empty lists and absent options; a probe's default timings.
    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x0a\x01\x01\x03\0",
    // Most frequent: images, the shell, container words.
    "redis nginx:latest alpine:latest busybox:1.36 busybox ",
    "sh /bin/sh -c /bin/bash ",
    "printenv echo sleep 3600; while true; do ; done; ",
    "container "
)
.as_bytes();

#[cfg(test)]
mod tests {
    #[test]
    fn is_small() {
        assert!(super::DICT.len() <= 1536, "{}", super::DICT.len());
    }
}
