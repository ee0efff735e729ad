//! Fuzz target: any bytes as a signed desired-state message (format version 3; seeds in
//! `fuzz/seeds/signed`): the envelope parser, signature verification against a fixed
//! trusted key, and the device's receive path on a pod topic and on the index topic
//! (which decodes the message inside). Nothing panics; a payload that verifies must
//! have been signed by the key (the fuzzer cannot forge one).

#![no_main]

use libfuzzer_sys::fuzz_target;
use pealet::mqtt::Topics;
use pealet::spec::signed;
use pealet::spec::{Index, Pod};
use pealet::trust::{Signer, TrustedKeys};

fuzz_target!(|data: &[u8]| {
    let key = Signer::from_seed(&[1; 32]).public;
    let keys = TrustedKeys::new(vec![key]);
    if let Ok(env) = signed::open(data) {
        let _ = keys.verify(&env);
        assert_eq!(env.signed.len() + signed::SIGNATURE_LEN, data.len());
    }
    let _ = signed::desired::<Pod>(data);
    let _ = signed::desired::<Index>(data);
    let topics = Topics::new("pealet/v1", "n1").with_keys(keys);
    let _ = topics.receive(&topics.pod("test"), data);
    let _ = topics.receive(&topics.index(), data);
});
