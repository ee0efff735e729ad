//! The wire format's guarantees: golden bytes, compactness, and decoding of hostile input.
//!
//! The golden hex below pins the encoding of FORMAT_VERSION 2. If a change to a wire type
//! breaks one of these tests, the format changed: bump `codec::FORMAT_VERSION`, describe
//! the new bytes in docs/wire-format.md, and replace the hex deliberately.

mod corpus;
pub mod samples;
mod signed;

use pealet::spec::*;

/// What `encode` sends: each sample compresses, so each kind byte has the high bit set.
const SEED_POD: &str = "
    02817c00399a4c26815235c417fa7c39e32856ad522c12272e2794dd03178484
    c87817cc8da14f098979a860179fcaf49e35edfb9a6ec9356eaaaf2fd300
";

const FULL_POD: &str = "
    0281bd04002b391a712287267127ea53ed18b179fa36aabf79f152487e80ad62
    366414b049c9b07a61e70974cc95e9888ddd58f08b7d1356ed7336407e73da2d
    cde31c55b99a9be60723efea2aabd5e17d37c36a64cabdc293f66499c7739854
    ab2d4f73cf80e3cb12fa457264bfc33162a349eebc108eab59d48ab031aac95a
    e3f27b00b4db09f8ad4cc0c452454f35feda271449c88968ba7b501366e4f251
    749728fb473b1cda597ba422d5f011ef309d45b2fde331565d87a874eff8d9b5
    75414baa1bf10019d1f4c3dff85c7e3c4f468a79731bea9bb60505893ff3886c
    7e0f382ba95da1efa932455baab0b044f0fc7732151b68538299e9d3c68465ed
    52a0cd85e436592cfb24a171fddcdd7ff0c7af78a56bf13a0b2751eb282a0683
    85be826161648b1448b70512dc11418ddaea68aa4b698c0f90535e42961529e5
    0ee2e2a5fdfe61066d191e53862f29628cd6a3b06a05f7c3853d6723d6254727
    1f2b8f4591a6f61f15e5c7fd71429f93fb9249c6ccb000
";

const RUNNING_STATUS: &str = "
    02829d017f1c8079fc0e79b132fb840efbe7f7e0d48d4ffcd68cf932d63118a9
    03f7f1a2fe1deb53979681a8b88eeaff7ecfc2837d5732220b3f06ebe1c7bae5
    925b178bfb53ba0dcd7999bdf2291c7f230ded339652b6b013bdb12b0667d400
    f7b50c89000000
";

const CRASHLOOP_STATUS: &str = "
    028288027f9fb9606703d65caf608b1106fbc94a71c7fa8186ddd799c35100fa
    ac81b5f9ca021eb78f19377b1efb3b75b85c7833568a54699c5437a27ef039ca
    edde9a8e1dddf25e076231c1681891dd2f455a59d2a664117dfcd045e3040b0b
    f21ebca8069155f817e0b48d30e0f2a2ccff10ed9678e76ce5d9a40cc1b8bdf6
    6a3ca0509237fb12a174973fb5c72f559b467ec45444f4015cffb282f72b2cb7
    c780ac932280f9ff0b6136996e00
";

const NODE_STATUS: &str = "
    02838e0100433e9951930b87547f4991af07b7fecce79286f75f3718063ea661
    83f3d3d885a44ad0b1bdcc51e9e41712c02c94afcf9639ce45de3414559ee0df
    73460240ea89fc2a15aff191401c970043a620550810f0ae5af3f25ffd04f9ae
    41b918a16cdbe0fce4352600
";

const EVENT: &str = "
    028455000ecd91e8b5634d988c72df58cc770b696b657fe3c7e4be0863a49ae3
    71555171017f5a1f925f8bdb4d16993988ecd092667cb17432f02a5259031d3f
    c5
";

/// The same messages uncompressed (`encode_uncompressed`): they pin the postcard layout
/// field by field, independently of the compressor, and must decode as well.
const SEED_POD_RAW: &str = "
    02010474657374000002010a637265617465642d62791d6b756265726e657465
    732d636f6d706c6574652d7265666572656e636501046e616d65047465737400
    000104746573740d616c70696e653a6c61746573740002046563686f0c48656c
    6c6f20576f726c6421000000000000000000000000000002000000000000
";

const FULL_POD_RAW: &str = "
    020103776562010465646765012436663165306338652d326231642d34633535
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
    010001010101104e45545f42494e445f534552564943450103414c4c01020877
    65622e6a736f6e0001142f6465762f7465726d696e6174696f6e2d6c6f670100
    0305636163686500000007736372617463680001018080800806636f6e666967
    01082f6574632f61707002000001057765622d3101000a000001010d67617465
    7761792e6c6f63616c010a00010000010101d00f0001236e65742e697076342e
    69705f756e70726976696c656765645f706f72745f73746172740130010000
";

const RUNNING_STATUS_RAW: &str = "
    0202c5944f75fa09aee101000000000000000300000300000001000a2a000701
    00c0a80114999b89d80600020f6e67696e782d636f6e7461696e657201020001
    010100011f3e5d7c9bbad9f81736557493b2d1f00f2e4d6c8baac9e807264564
    83a2c1e0001064656269616e2d636f6e7461696e657201030001010100013e5d
    7c9bbad9f81736557493b2d1f00f2e4d6c8baac9e80726456483a2c1e0ff00
";

const CRASHLOOP_STATUS_RAW: &str = "
    0202e74fa719056a838c01000000000000010401110125636f6e7461696e6572
    73207769746820756e7265616479207374617475733a205b6170705d01040111
    0125636f6e7461696e657273207769746820756e726561647920737461747573
    3a205b6170705d000001000a2a00090100c0a80114999b89d806000103617070
    0002012c6261636b2d6f6666203430732072657374617274696e67206661696c
    656420636f6e7461696e65723d617070010202000c003d3e00010003015d7c9b
    bad9f81736557493b2d1f00f2e4d6c8baac9e80726456483a2c1e0ff1e010102
    00030126485454502070726f6265206661696c65642077697468207374617475
    73636f64653a20353030
";

const NODE_STATUS_RAW: &str = "
    02030570692d30310105302e312e30056c696e75780561726d363411362e362e
    35312b7270742d7270692d76380207a01f808080802020a01f808080801c2000
    010c4b7562656c65745265616479011e7065616c657420697320706f7374696e
    6720726561647920737461747573999b89d806010000999b89d806010000999b
    89d806010000999b89d806f19f89d806
";

const EVENT_RAW: &str = "
    020401074261636b4f6666010361707001036170703b4261636b2d6f66662072
    657374617274696e67206661696c656420636f6e7461696e6572206170702069
    6e20706f64206170705f64656661756c74d79b89d80603
";

/// An index (two pods) is mostly hashes: compression does not help, so `encode` sends it
/// as it is, kind byte 5 without the compressed bit.
const INDEX: &str = INDEX_RAW;

const INDEX_RAW: &str = "
    020502047465737482e76de5dbd4b02c037765625eed000102030405
";

/// `pealet logs --node N app -c app --tail 20 --previous`: kind 6, too short to gain
/// from compression.
const LOGS_REQUEST: &str = LOGS_REQUEST_RAW;
const LOGS_REQUEST_RAW: &str = "
    020609316132622d3363346403617070010361707001140100
";

/// The answer with two lines of text (kind 7), and the NoSuchPod answer.
const LOGS_RESPONSE: &str = "
    02872a0071539a528b6a67326dfbebaf0da275f87b0b1036c7079a3658c9073b
    d0561bd33ab5b88000
";
const LOGS_RESPONSE_RAW: &str = "
    020709316132622d336334640003617070196c697374656e696e67206f6e203a
    383038300a72656164790a00
";
const LOGS_ERROR: &str = "
    0287260071539a528b6a67326dfbecb85524166f2aca515aa0a605819cdb3bbd
    7bc4f0fa5f048a
";
const LOGS_ERROR_RAW: &str = "
    020709316132622d336334640100196e6f20706f64202261707022206f6e2074
    686973206e6f6465
";

/// `pealet logs --node N app -f` renewing its follow: kind 8, the LogsRequest fields then
/// the Follow (its cursor).
const LOGS_FOLLOW: &str = LOGS_FOLLOW_RAW;
const LOGS_FOLLOW_RAW: &str = "
    020809316132622d33633464036170700000000001ef9bafcdf8acd19101ac02
";

/// A follow's chunk (kind 9): the id, then the LogChunk without a variant index.
const LOGS_CHUNK: &str = LOGS_CHUNK_RAW;
const LOGS_CHUNK_RAW: &str = "
    020909316132622d336334640103617070046279650a00ef9bafcdf8acd19101
    d4020100
";

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn golden<M: codec::Message + PartialEq + std::fmt::Debug>(msg: &M, packed: &str, raw: &str) {
    let bytes = encode(msg);
    assert_eq!(
        bytes,
        unhex(packed),
        "encoding changed; now:\n{}",
        hex(&bytes)
    );
    assert_eq!(&decode::<M>(&bytes).unwrap(), msg);
    let bytes = codec::encode_uncompressed(msg);
    assert_eq!(
        bytes,
        unhex(raw),
        "postcard layout changed; now:\n{}",
        hex(&bytes)
    );
    assert_eq!(&decode::<M>(&bytes).unwrap(), msg);
}

#[test]
fn golden_bytes_of_version_2() {
    golden(&samples::seed_pod(), SEED_POD, SEED_POD_RAW);
    golden(&samples::full_pod(), FULL_POD, FULL_POD_RAW);
    golden(
        &samples::running_status(),
        RUNNING_STATUS,
        RUNNING_STATUS_RAW,
    );
    golden(
        &samples::crashloop_status(),
        CRASHLOOP_STATUS,
        CRASHLOOP_STATUS_RAW,
    );
    golden(&samples::node_status(), NODE_STATUS, NODE_STATUS_RAW);
    golden(&samples::event(), EVENT, EVENT_RAW);
    golden(&samples::index(), INDEX, INDEX_RAW);
}

#[test]
fn golden_logs_messages_are_kinds_6_and_7() {
    golden(&samples::logs_request(), LOGS_REQUEST, LOGS_REQUEST_RAW);
    golden(&samples::logs_response(), LOGS_RESPONSE, LOGS_RESPONSE_RAW);
    golden(&samples::logs_error(), LOGS_ERROR, LOGS_ERROR_RAW);
    assert_eq!(unhex(LOGS_REQUEST_RAW)[..2], [codec::FORMAT_VERSION, 6]);
    assert_eq!(unhex(LOGS_RESPONSE_RAW)[..2], [codec::FORMAT_VERSION, 7]);
}

#[test]
fn golden_follow_messages_are_kinds_8_and_9() {
    golden(&samples::logs_follow(), LOGS_FOLLOW, LOGS_FOLLOW_RAW);
    golden(&samples::logs_chunk(), LOGS_CHUNK, LOGS_CHUNK_RAW);
    assert_eq!(unhex(LOGS_FOLLOW_RAW)[..2], [codec::FORMAT_VERSION, 8]);
    assert_eq!(unhex(LOGS_CHUNK_RAW)[..2], [codec::FORMAT_VERSION, 9]);
    // The kinds of version 1 before them read the same: a LogsRequest body is a
    // request without follow, and a chunk's variant index is not a LogsResponse.
    let mut plain = samples::logs_follow();
    plain.follow = None;
    let raw = codec::encode_uncompressed(&plain);
    assert_eq!(raw[1], 6);
    assert_eq!(raw[2..], unhex(LOGS_FOLLOW_RAW)[2..raw.len()]);
    let mut response = unhex(LOGS_RESPONSE_RAW);
    response[12] = 2;
    assert!(matches!(
        decode::<pealet::spec::LogsResponse>(&response),
        Err(pealet::spec::DecodeError::Malformed { .. })
    ));
}

#[test]
fn golden_envelopes_name_version_and_kind() {
    for (packed, raw, kind) in [
        (SEED_POD, SEED_POD_RAW, 1),
        (RUNNING_STATUS, RUNNING_STATUS_RAW, 2),
        (NODE_STATUS, NODE_STATUS_RAW, 3),
        (EVENT, EVENT_RAW, 4),
    ] {
        assert_eq!(unhex(raw)[..2], [codec::FORMAT_VERSION, kind]);
        assert_eq!(
            unhex(packed)[..2],
            [codec::FORMAT_VERSION, kind | codec::COMPRESSED]
        );
    }
}

#[test]
fn golden_index_is_kind_5_uncompressed() {
    assert_eq!(unhex(INDEX)[..2], [codec::FORMAT_VERSION, 5]);
    assert_eq!(
        encode(&samples::index()),
        codec::encode_uncompressed(&samples::index())
    );
}

#[test]
fn seed_pod_is_compact() {
    let bytes = encode(&samples::seed_pod());
    assert!(bytes.len() <= 160, "seed pod takes {} bytes", bytes.len());
    assert_eq!(bytes.len(), 62);
    assert_eq!(codec::encode_uncompressed(&samples::seed_pod()).len(), 126);
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

fn k8s_examples() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/k8s-examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 14);
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn every_kubernetes_example_takes_at_most_half_its_minified_json() {
    use pealet::spec::manifest::{Value, emit, read, yaml};
    for (name, text) in k8s_examples() {
        let pod = read::read_pod(&text).unwrap().pod;
        let bytes = encode(&pod);
        assert_eq!(decode::<Pod>(&bytes).unwrap(), pod, "{name}");
        let docs = yaml::parse(&text).unwrap();
        let doc = docs.iter().find(|d| d.value != Value::Null).unwrap();
        let json = emit::to_json_compact(doc).len();
        assert!(
            bytes.len() * 2 <= json,
            "{name}: {} bytes, JSON {json}",
            bytes.len()
        );
    }
}

#[test]
fn compression_never_expands() {
    let mut status = samples::running_status();
    // Digests as random as real ones: xorshift bytes.
    let mut x = 0x0123_4567_89ab_cdefu64;
    for c in status.container_statuses.as_mut_slice() {
        let mut digest = [0u8; 32];
        for b in &mut digest {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            *b = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
        c.image_id = Some(Digest(digest));
    }
    let bytes = encode(&status);
    assert!(
        bytes.len() <= 160,
        "running status takes {} bytes",
        bytes.len()
    );
    assert_eq!(decode::<PodStatus>(&bytes).unwrap(), status);
    for (name, packed) in samples::all_encoded() {
        let raw = decode_any(&packed).unwrap();
        let raw = match &raw {
            AnyMessage::Pod(m) => codec::encode_uncompressed(m),
            AnyMessage::PodStatus(m) => codec::encode_uncompressed(m),
            AnyMessage::NodeStatus(m) => codec::encode_uncompressed(m),
            AnyMessage::Event(m) => codec::encode_uncompressed(m),
            AnyMessage::Index(m) => codec::encode_uncompressed(m),
            AnyMessage::LogsRequest(m) => codec::encode_uncompressed(m),
            AnyMessage::LogsResponse(m) => codec::encode_uncompressed(m),
        };
        assert!(packed.len() <= raw.len(), "{name}");
    }
    // A message that does not compress is sent as it is.
    let mut event = samples::event();
    event.message = (0..200)
        .map(|i| char::from(b'!' + ((i * 7919 + i * i * 31) % 90) as u8))
        .collect::<String>()
        .as_str()
        .try_into()
        .unwrap();
    let bytes = encode(&event);
    if bytes[1] & codec::COMPRESSED == 0 {
        assert_eq!(bytes, codec::encode_uncompressed(&event));
    }
    assert!(bytes.len() <= codec::encode_uncompressed(&event).len());
}

#[test]
fn dictionary_is_not_cut_from_the_benchmark_examples() {
    // No dictionary entry longer than 20 bytes comes from an example manifest.
    let dict = pack::DICT;
    for (name, text) in k8s_examples() {
        for w in dict.windows(21) {
            let w = String::from_utf8_lossy(w);
            assert!(!text.contains(&*w), "{name} contains {w:?}");
        }
    }
}

#[test]
fn spec_hash_of_a_pod_ignores_compression() {
    let pod = samples::seed_pod();
    let raw = pealet::spec::codec::encode_uncompressed(&pod);
    assert_ne!(raw, encode(&pod), "the seed pod is sent compressed");
    assert_eq!(SpecHash::of_pod(&pod), SpecHash::of(&raw));
}
