//! Golden bytes of format version 3, signed desired state (`spec::signed`): the seed pod,
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
    030134750f98bd59fcfc026e3101047465737480d095ffbc3102817c00399a4c
    26815235c417fa7c39e32856ad522c12272e2794dd03178484c87817cc8da14f
    098979a860179fcaf49e35edfb9a6ec9356eaaaf2fd300ea713ec0747b6a8455
    3bf14a5698663a12fb071caf4382bf9656740d414f719239af1770387395b86c
    f44f8abdad02f0600422401bb729fc14e2e90d9de6db06
";

const SIGNED_INDEX: &str = "
    030534750f98bd59fcfc026e310080d095ffbc31020502047465737482e76de5
    dbd4b02c037765625eed000102030405a1bc617eede74ca41bfc1d9e280843d0
    03fe460112ca002c116eb505167f2f72cedc84751d74617a838824bef068063d
    783e26cc8e5756cba68c6e51c4cc6508
";

const SIGNED_DELETION: &str = "
    030a34750f98bd59fcfc026e3101047465737480d095ffbc318ecaee25e2ad63
    0775180bc58871747f6bbf3e5dd7826b66e6a3b8b02b3d70cd0c87492740579a
    a6750a3e256973ebe25f47c3a12f2911922ef5a09433d99609
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
fn golden_bytes_of_version_3() {
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
fn version_2_still_decodes_and_version_3_is_not_version_2() {
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
        Err(spec::DecodeError::UnsupportedVersion(3))
    );
}
