//! Signed desired state, measured (for docs/benchmarks.md): the bytes a signature adds
//! to a spec (format version 2 around the version-1 message), and the time to sign and
//! to verify one spec the way the device does (`signed::open`, then Ed25519 with the
//! trusted key), for the seed pod and the full sample pod of the golden-byte tests.
//! Prints a markdown table; measures, asserts nothing about time.
//!
//! Run: `cargo run --release --example sign-bench`; on aarch64 under qemu: build with
//! `--target aarch64-unknown-linux-musl` and run the binary with `qemu-aarch64-static
//! -cpu cortex-a53`.

#[allow(dead_code)]
#[path = "../tests/it/wire/samples.rs"]
mod samples;

use std::time::Instant;

use pealet::spec::encode;
use pealet::spec::signed::{self, SignedKind};
use pealet::trust::{Signer, TrustedKeys};

const ROUNDS: u32 = 2000;

fn main() {
    let signer = Signer::from_seed(&[1; 32]);
    let keys = TrustedKeys::new(vec![signer.public.clone()]);
    let generation = 1_765_000_000_000; // a clock in milliseconds, late 2025: 6 bytes
    println!(
        "| spec | v1 bytes | signed bytes | added | sign µs | verify µs ({ROUNDS} rounds, {}) |",
        std::env::consts::ARCH
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let pods = [
        ("seed pod", samples::seed_pod()),
        ("full pod", samples::full_pod()),
    ];
    for (what, pod) in pods {
        let v1 = encode(&pod);
        let name = pod.name.to_string();
        let sign = || {
            signer
                .sign(
                    SignedKind::Pod,
                    "pi-kitchen-01",
                    Some(&name),
                    generation,
                    &v1,
                )
                .expect("signs")
        };
        let bytes = sign();
        let start = Instant::now();
        for _ in 0..ROUNDS {
            std::hint::black_box(sign());
        }
        let sign_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
        let start = Instant::now();
        for _ in 0..ROUNDS {
            let env = signed::open(std::hint::black_box(&bytes)).expect("opens");
            keys.verify(&env).expect("verifies");
        }
        let verify_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
        println!(
            "| {what} (node `pi-kitchen-01`, pod `{name}`) | {} | {} | {} | {sign_us:.1} | {verify_us:.1} |",
            v1.len(),
            bytes.len(),
            bytes.len() - v1.len()
        );
    }
}
