//! The wire format's guarantees: golden bytes, compactness, and decoding of hostile input.
//!
//! The golden hex below pins the encoding of FORMAT_VERSION 1. If a change to a wire type
//! breaks one of these tests, the format changed: bump `codec::FORMAT_VERSION`, describe
//! the new bytes in docs/wire-format.md, and replace the hex deliberately.

mod corpus;
pub mod samples;

use pealet::spec::*;

const SEED_POD: &str = "
    01010474657374000002010a637265617465642d62791d6b756265726e657465
    732d636f6d706c6574652d7265666572656e636501046e616d65047465737400
    000104746573740d616c70696e653a6c61746573740002046563686f0c48656c
    6c6f20576f726c6421000000000000000000000000000002000000000000
";

const FULL_POD: &str = "
    010103776562010465646765012436663165306338652d326231642d34633535
    2d396135372d3064316633633262396531300200036170700377656201046e61
    6d650377656201031164656661756c742d636f6e7461696e657203776562010b
    6c6f672d736869707065720762757379626f78000003027368022d6312746169
    6c202d46202f63616368652f6c6f670000000000000000000000010001037765
    620a6e67696e783a312e32370100000004044d4f4445000a70726f6475637469
    6f6e0341505001030361707006504f445f49500106064d454d5f4d4202010377
    65620101808040010104687474705001903f0002056361636865062f63616368
    65000006636f6e666967082f6574632f6170700101036170700101fa01018080
    80200001f40301808080400001010001082f6865616c74687a01046874747000
    0107582d50726f62650131050a010103000102000050000a0101030001000203
    6361740a2f746d702f7265616479000a01011e0001000102050101e807000000
    010001010101104e45545f42494e445f534552564943450103414c4c01142f64
    65762f7465726d696e6174696f6e2d6c6f670100030563616368650000000773
    6372617463680001018080800806636f6e66696701082f6574632f6170700200
    0001057765622d3101000a000001010d676174657761792e6c6f63616c010a00
    010000010101d00f0001236e65742e697076342e69705f756e70726976696c65
    6765645f706f72745f73746172740130
";

const RUNNING_STATUS: &str = "
    01029937e294b13b09fb01000000000000000300000300000001000a2a000701
    00c0a80114999b89d80600020f6e67696e782d636f6e7461696e657201020001
    010100011f3e5d7c9bbad9f81736557493b2d1f00f2e4d6c8baac9e807264564
    83a2c1e0001064656269616e2d636f6e7461696e657201030001010100013e5d
    7c9bbad9f81736557493b2d1f00f2e4d6c8baac9e80726456483a2c1e0ff00
";

const CRASHLOOP_STATUS: &str = "
    0102e74fa719056a838c01000000000000010401110125636f6e7461696e6572
    73207769746820756e7265616479207374617475733a205b6170705d01040111
    0125636f6e7461696e657273207769746820756e726561647920737461747573
    3a205b6170705d000001000a2a00090100c0a80114999b89d806000103617070
    0002012c6261636b2d6f6666203430732072657374617274696e67206661696c
    656420636f6e7461696e65723d617070010202000c003d3e00010003015d7c9b
    bad9f81736557493b2d1f00f2e4d6c8baac9e80726456483a2c1e0ff1e010102
    00030126485454502070726f6265206661696c65642077697468207374617475
    73636f64653a20353030
";

const NODE_STATUS: &str = "
    01030570692d30310105302e312e30056c696e75780561726d363411362e362e
    35312b7270742d7270692d76380207a01f808080802020a01f808080801c2000
    010c4b7562656c65745265616479011e7065616c657420697320706f7374696e
    6720726561647920737461747573999b89d806010000999b89d806010000999b
    89d806010000999b89d806f19f89d806
";

const EVENT: &str = "
    010401074261636b4f6666010361707001036170703b4261636b2d6f66662072
    657374617274696e67206661696c656420636f6e7461696e6572206170702069
    6e20706f64206170705f64656661756c74d79b89d80603
";

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn golden<M: codec::Message + PartialEq + std::fmt::Debug>(msg: &M, hex: &str) {
    let bytes = encode(msg);
    let got: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(bytes, unhex(hex), "encoding changed; now:\n{got}");
    assert_eq!(&decode::<M>(&bytes).unwrap(), msg);
}

#[test]
fn golden_bytes_of_version_1() {
    golden(&samples::seed_pod(), SEED_POD);
    golden(&samples::full_pod(), FULL_POD);
    golden(&samples::running_status(), RUNNING_STATUS);
    golden(&samples::crashloop_status(), CRASHLOOP_STATUS);
    golden(&samples::node_status(), NODE_STATUS);
    golden(&samples::event(), EVENT);
}

#[test]
fn golden_envelopes_name_version_and_kind() {
    for (hex, kind) in [
        (SEED_POD, 1),
        (RUNNING_STATUS, 2),
        (NODE_STATUS, 3),
        (EVENT, 4),
    ] {
        assert_eq!(unhex(hex)[..2], [codec::FORMAT_VERSION, kind]);
    }
}

#[test]
fn seed_pod_is_compact() {
    let bytes = encode(&samples::seed_pod());
    assert!(bytes.len() <= 160, "seed pod takes {} bytes", bytes.len());
    assert_eq!(bytes.len(), 126);
}

#[test]
fn running_status_is_compact() {
    let bytes = encode(&samples::running_status());
    assert!(
        bytes.len() <= 160,
        "running status takes {} bytes",
        bytes.len()
    );
}

#[test]
fn spec_hash_is_fnv1a_of_the_encoded_pod() {
    // FNV-1a 64 of the empty input is its offset basis.
    assert_eq!(SpecHash::of(b"").to_string(), "cbf29ce484222325");
    assert_eq!(SpecHash::of(b"a").to_string(), "af63dc4c8601ec8c");
    let st = samples::running_status();
    assert_eq!(st.spec_hash, SpecHash::of(&unhex(SEED_POD)));
}
