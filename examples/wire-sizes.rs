//! Prints a markdown table of the encoded sizes of sample messages (for docs/benchmarks.md).
//!
//! Run: `cargo run --example wire-sizes`. The samples are those of the golden-byte tests.

#[allow(dead_code)]
#[path = "../tests/it/wire/samples.rs"]
mod samples;

use pealet::spec::encode;
use pealet::spec::manifest::{emit, write};

fn main() {
    let rows = [
        (
            "seed pod (`test`, alpine, `echo Hello World!`)",
            encode(&samples::seed_pod()),
        ),
        (
            "full pod (probes, env, resources, volumes, security)",
            encode(&samples::full_pod()),
        ),
        (
            "status: running, two containers",
            encode(&samples::running_status()),
        ),
        (
            "status: CrashLoopBackOff",
            encode(&samples::crashloop_status()),
        ),
        ("node status", encode(&samples::node_status())),
        ("event", encode(&samples::event())),
    ];
    println!("| message | postcard bytes | as YAML | as JSON |");
    println!("|---|---:|---:|---:|");
    for (name, bytes) in rows {
        let msg = pealet::spec::decode_any(&bytes).expect("a sample decodes");
        let tree = write::message(&msg);
        let (yaml, json) = (emit::to_yaml(&tree).len(), emit::to_json(&tree).len());
        println!("| {name} | {} | {yaml} | {json} |", bytes.len());
    }
}
