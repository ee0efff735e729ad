//! Prints markdown tables of encoded sizes (for docs/benchmarks.md): the sample messages of
//! the golden-byte tests, the seed pod beside the object a kubelet receives from an API
//! server, and every Kubernetes example manifest beside its minified JSON. "pealet" is
//! what `encode` sends (compressed when smaller), "postcard" the uncompressed form.
//!
//! Run: `cargo run --release --example wire-sizes`.

#[allow(dead_code)]
#[path = "../tests/it/wire/samples.rs"]
mod samples;

use std::path::Path;

use pealet::spec::codec::encode_uncompressed;
use pealet::spec::encode;
use pealet::spec::manifest::{emit, read, write, yaml};

fn main() {
    let names = [
        "seed pod (`test`, alpine, `echo Hello World!`)",
        "full pod (probes, env, resources, volumes, security)",
        "status: running, two containers",
        "status: CrashLoopBackOff",
        "node status",
        "event",
        "index (two pods)",
        "logs request",
        "logs answer, two lines",
        "logs answer, NoSuchPod",
    ];
    let packed = samples::all_encoded();
    let raw = samples::all_uncompressed();
    println!("| message | pealet bytes | postcard bytes | as YAML | as JSON |");
    println!("|---|---:|---:|---:|---:|");
    for ((name, (_, bytes)), (_, raw)) in names.into_iter().zip(packed).zip(raw) {
        let msg = pealet::spec::decode_any(&bytes).expect("a sample decodes");
        let tree = write::message(&msg);
        let (yaml, json) = (emit::to_yaml(&tree).len(), emit::to_json(&tree).len());
        println!(
            "| {name} | {} | {} | {yaml} | {json} |",
            bytes.len(),
            raw.len()
        );
    }
    println!();
    seed_beside_api_server();
    println!();
    kubernetes_examples();
}

/// Minified JSON of the first document of a YAML or JSON text, as written (no defaults).
fn minified_json(text: &str) -> String {
    let docs = yaml::parse(text).expect("the file parses");
    let doc = docs
        .iter()
        .find(|d| d.value != pealet::spec::manifest::Value::Null)
        .expect("a document");
    emit::to_json_compact(doc)
}

fn seed_beside_api_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let api = std::fs::read_to_string(root.join("docs/data/seed-pod-from-apiserver.json"))
        .expect("docs/data/seed-pod-from-apiserver.json");
    let seed = encode(&samples::seed_pod()).len();
    let api_min = minified_json(&api).len();
    println!("| seed pod as | bytes |");
    println!("|---|---:|");
    println!("| pealet wire format (envelope included) | {seed} |");
    println!(
        "| pealet wire format, uncompressed postcard | {} |",
        encode_uncompressed(&samples::seed_pod()).len()
    );
    println!("| from an API server, minified JSON (as a kubelet receives it) | {api_min} |");
    println!(
        "| from an API server, `kubectl get -o json` | {} |",
        api.len()
    );
    println!(
        "| ratio wire / API-server JSON | 1 : {:.1} |",
        api_min as f64 / seed as f64
    );
}

fn kubernetes_examples() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/k8s-examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/k8s-examples")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    println!("| Kubernetes example | file | minified JSON | postcard | pealet | pealet / JSON |");
    println!("|---|---:|---:|---:|---:|---:|");
    let (mut sum_json, mut sum_raw, mut sum_wire) = (0, 0, 0);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read example");
        let pod = read::read_pod(&text).expect("the example reads").pod;
        let wire = encode(&pod).len();
        let raw = encode_uncompressed(&pod).len();
        let json = minified_json(&text).len();
        sum_json += json;
        sum_raw += raw;
        sum_wire += wire;
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        println!(
            "| {name} | {} | {json} | {raw} | {wire} | {:.0}% |",
            text.len(),
            100.0 * wire as f64 / json as f64
        );
    }
    println!(
        "| all 14 | | {sum_json} | {sum_raw} | {sum_wire} | {:.0}% |",
        100.0 * sum_wire as f64 / sum_json as f64
    );
}
