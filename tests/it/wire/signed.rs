//! Golden bytes of format version 2, signed desired state (`spec::signed`): the seed pod,
//! the two-pod index and a deletion, for node `n1`, signed with the key whose seed is 32
//! bytes of 0x01 at generation 1,700,000,000,000 (Ed25519 signatures are deterministic).
//! A change here is a change of format: describe it in docs/wire-format.md and replace
//! the hex deliberately. Hostile variants of each are refused or fail verification.

use pealet::spec::signed::{self, SignedKind};
use pealet::spec::{self, Index, Pod};
use pealet::trust::{Signer, TrustedKeys};

use super::{hex, samples, unhex};

const GENERATION: u64 = 1_700_000_000_000;

/// The seed pod (62 bytes compressed) signed: 151 bytes.
const SIGNED_SEED_POD: &str = "
    020134750f98bd59fcfc026e3101047465737480d095ffbc3101817c00399a4c
    26815235c417fa7c39e32856ad522c12272e2794dd03178484c87817cc8da14f
    098979a860179fcaf49e35edfb9a6ec9356eaaaf2fd3002f3d5606e8ee3afe52
    511907c79f5dedd43855b6ecd02babb583d179d4e42362903b9126d1fef2cce6
    02572675cd6d884cc6a6a40b0f34302561f0c427bc760d
";

const SIGNED_INDEX: &str = "
    020534750f98bd59fcfc026e310080d095ffbc3101050204746573749937e294
    b13b09fb037765625eed000102030405326971b20c793209ebe9da279bc06a99
    3baee1492d80ca888ba95cddda704ac93ee0a38cfe8cf3df040325ef415455b3
    08d50a8bacc80965316ef87a54641802
";

const SIGNED_DELETION: &str = "
    020a34750f98bd59fcfc026e3101047465737480d095ffbc3196280ec422cc89
    9d7feb04322f1c5f1c16bfd9fa03a1a36b8a093d9e3949762b8095c3a1f9d180
    5c97c7ecae3143e5137659056a30e50f33492ca605bc4eb10b
";

fn signer() -> Signer {
    Signer::from_seed(&[1; 32])
}

fn check(kind: SignedKind, pod: Option<&str>, message: &[u8], golden: &str) -> Vec<u8> {
    let bytes = signer().sign(kind, "n1", pod, GENERATION, message).unwrap();
    assert_eq!(
        bytes,
        unhex(golden),
        "signed bytes changed; now:\n{}",
        hex(&bytes)
    );
    let env = signed::open(&bytes).unwrap();
    assert_eq!((env.kind, env.message), (kind, message));
    assert_eq!(env.header.generation, GENERATION);
    let keys = TrustedKeys::new(vec![signer().public]);
    assert_eq!(keys.verify(&env), Ok(signer().public.id));
    // Any one flipped bit is refused by the parser or by the signature.
    for i in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[i / 8] ^= 1 << (i % 8);
        if let Ok(env) = signed::open(&b) {
            assert!(keys.verify(&env).is_err(), "bit {i} flipped still verifies");
        }
    }
    bytes
}

#[test]
fn golden_bytes_of_version_2() {
    let pod = spec::encode(&samples::seed_pod());
    let bytes = check(SignedKind::Pod, Some("test"), &pod, SIGNED_SEED_POD);
    assert_eq!(&bytes[..2], &[signed::SIGNED_VERSION, 1]);
    assert_eq!(
        bytes.len() - pod.len(),
        89,
        "bytes a signature adds to a spec"
    );
    let got: Pod = signed::desired(&bytes).unwrap().unwrap();
    assert_eq!(got, samples::seed_pod());

    let index = spec::encode(&samples::index());
    let bytes = check(SignedKind::Index, None, &index, SIGNED_INDEX);
    let got: Index = signed::desired(&bytes).unwrap().unwrap();
    assert_eq!(got, samples::index());

    let bytes = check(SignedKind::Deletion, Some("test"), b"", SIGNED_DELETION);
    assert!(signed::desired::<Pod>(&bytes).is_none());
}

#[test]
fn version_1_still_decodes_and_version_2_is_not_version_1() {
    let pod = spec::encode(&samples::seed_pod());
    assert_eq!(
        signed::desired::<Pod>(&pod).unwrap().unwrap(),
        samples::seed_pod()
    );
    let bytes = signer()
        .sign(SignedKind::Pod, "n1", Some("test"), GENERATION, &pod)
        .unwrap();
    assert_eq!(
        spec::decode::<Pod>(&bytes),
        Err(spec::DecodeError::UnsupportedVersion(2))
    );
}
