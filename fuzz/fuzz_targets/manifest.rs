//! Fuzzes the manifest reader: any text must give pods or field errors, never a panic,
//! and every pod it accepts must encode, decode back equal, validate cleanly, and read
//! back equal from the YAML that `decode` prints for it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pealet::spec::manifest::{emit, read, write};
use pealet::spec::{Pod, decode, encode, validate::validate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pods) = read::read_pods(text) {
        for p in pods {
            let bytes = encode(&p.pod);
            let back: Pod = decode(&bytes).expect("an accepted pod decodes");
            assert_eq!(back, p.pod);
            assert!(validate(&back).is_empty(), "an accepted pod is valid");
            let yaml = emit::to_yaml(&write::pod(&back));
            let again = read::read_pod(&yaml).expect("printed pod reads back").pod;
            assert_eq!(again, back, "{yaml}");
        }
    }
});
