//! Hostile input: a deterministic corpus of over 200k payloads (random bytes, every
//! truncation, bit flip and byte substitution of the golden messages, compressed and
//! uncompressed, and random varints spliced where length prefixes sit). Decoding never panics, and whatever decodes
//! re-encodes, decodes to the same value and prints as a manifest.

use pealet::spec::bounded::{MAX_LABELS, MAX_PAYLOAD, MAX_SHORT};
use pealet::spec::manifest::{emit, write};
use pealet::spec::*;

use super::samples;

/// xorshift64*: tiny, deterministic, good enough to spread bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    /// A varint of a random magnitude: small, near a limit, or huge.
    fn varint(&mut self) -> Vec<u8> {
        let mut n = match self.below(4) {
            0 => self.next() % 300,
            1 => self.next() % 70_000,
            2 => self.next() >> self.below(64),
            _ => u64::MAX,
        };
        let mut out = Vec::new();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }
}

/// Decodes `bytes` every way there is; checks what decodes (and prints it as a manifest
/// when `print`). Returns whether it decoded.
fn check(bytes: &[u8], print: bool) -> bool {
    let any = decode_any(bytes);
    let each = [
        decode::<Pod>(bytes).map(AnyMessage::Pod),
        decode::<PodStatus>(bytes).map(AnyMessage::PodStatus),
        decode::<NodeStatus>(bytes).map(AnyMessage::NodeStatus),
        decode::<Event>(bytes).map(AnyMessage::Event),
        decode::<Index>(bytes).map(AnyMessage::Index),
        decode::<LogsRequest>(bytes).map(AnyMessage::LogsRequest),
        decode::<LogsResponse>(bytes).map(AnyMessage::LogsResponse),
    ];
    let Ok(msg) = any else {
        assert!(
            each.iter().all(Result::is_err),
            "decode_any failed but a typed decode did: {bytes:02x?}"
        );
        return false;
    };
    assert_eq!(
        each.iter().filter(|r| r.as_ref() == Ok(&msg)).count(),
        1,
        "{bytes:02x?}"
    );
    let again = match &msg {
        AnyMessage::Pod(m) => encode(m),
        AnyMessage::PodStatus(m) => encode(m),
        AnyMessage::NodeStatus(m) => encode(m),
        AnyMessage::Event(m) => encode(m),
        AnyMessage::Index(m) => encode(m),
        AnyMessage::LogsRequest(m) => encode(m),
        AnyMessage::LogsResponse(m) => encode(m),
    };
    assert_eq!(
        decode_any(&again).as_ref(),
        Ok(&msg),
        "re-encoding changed {bytes:02x?}"
    );
    if !print {
        return true;
    }
    let tree = write::message(&msg);
    assert!(!emit::to_yaml(&tree).is_empty());
    assert!(!emit::to_json(&tree).is_empty());
    true
}

#[test]
fn hostile_payloads_never_panic() {
    // Compressed (what `encode` sends) and uncompressed: mutations of the first exercise
    // the decompressor, of the second the postcard decoder behind it.
    let goldens: Vec<Vec<u8>> = samples::all_encoded()
        .into_iter()
        .chain(samples::all_uncompressed())
        .map(|(_, b)| b)
        .collect();
    assert!(goldens[..6].iter().all(|g| g[1] & codec::COMPRESSED != 0));
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    // (payloads tried, payloads that decoded, compressed payloads that decoded)
    let mut n = (0usize, 0usize, 0usize);
    let run = |n: &mut (usize, usize, usize), bytes: &[u8]| {
        n.0 += 1;
        // Printing is slow in a debug build: a quarter of the payloads is plenty.
        let ok = check(bytes, n.0 % 4 == 0);
        n.1 += usize::from(ok);
        n.2 += usize::from(ok && bytes.get(1).is_some_and(|k| k & codec::COMPRESSED != 0));
    };
    for g in &goldens {
        assert!(check(g, true));
        for len in 0..g.len() {
            let r = decode_any(&g[..len]);
            assert!(
                matches!(r, Err(DecodeError::Truncated(_) | DecodeError::Empty)),
                "{len}: {r:?}"
            );
            run(&mut n, &g[..len]);
        }
        for i in 0..g.len() {
            let mut m = g.clone();
            for bit in 0..8 {
                m[i] ^= 1 << bit;
                run(&mut n, &m);
                m[i] ^= 1 << bit;
            }
            for b in [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, rng.byte(), rng.byte()] {
                m[i] = b;
                run(&mut n, &m);
            }
            for _ in 0..8 {
                let mut m = g[..i].to_vec();
                m.extend(rng.varint());
                m.extend(&g[i + 1..]);
                run(&mut n, &m);
            }
        }
    }
    while n.0 < 80_000 {
        // Several mutations of one golden message at once.
        let mut m = goldens[rng.below(goldens.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(m.len());
            match rng.below(4) {
                0 => m[i] = rng.byte(),
                1 => m.truncate(i.max(2)),
                2 => {
                    m.splice(i..i + 1, rng.varint());
                }
                _ => m.insert(i, rng.byte()),
            }
        }
        run(&mut n, &m);
    }
    while n.0 < 210_000 {
        let max = if rng.below(8) == 0 { 2000 } else { 64 };
        let len = rng.below(max);
        let mut m: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        if m.len() >= 2 && rng.below(4) != 0 {
            m[0] = codec::FORMAT_VERSION;
            m[1] = 1 + rng.below(4) as u8;
            if rng.below(2) == 0 {
                m[1] |= codec::COMPRESSED;
            }
        }
        run(&mut n, &m);
    }
    let (total, decoded, compressed) = n;
    eprintln!("{total} payloads, {decoded} decoded, {compressed} of them compressed");
    assert!(total >= 200_000);
    assert!(
        compressed > 100,
        "only {compressed} compressed payloads decoded: the corpus misses the decompressor"
    );
    assert!(
        decoded > 10_000,
        "only {decoded} of {total} payloads decoded: the corpus is too shallow"
    );
}

#[test]
fn typed_errors_for_each_way_of_failing() {
    let seed = encode(&samples::seed_pod());
    let v = codec::FORMAT_VERSION;
    let pod = |rest: &[u8]| [&[v, 1, 4][..], b"test", rest].concat();
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (vec![], DecodeError::Empty),
        (vec![v], DecodeError::Truncated("envelope")),
        (vec![1, 1], DecodeError::UnsupportedVersion(1)),
        (vec![3, 1], DecodeError::UnsupportedVersion(3)),
        (vec![v, 10], DecodeError::UnknownKind(10)),
        (
            seed[..seed.len() - 1].to_vec(),
            DecodeError::Truncated("Pod"),
        ),
        ([&seed[..], &[0]].concat(), DecodeError::TrailingBytes(1)),
        (
            vec![0; MAX_PAYLOAD + 1],
            DecodeError::TooLarge {
                len: MAX_PAYLOAD + 1,
                max: MAX_PAYLOAD,
            },
        ),
        // 65 labels (with the bytes for them): refused before any label is read.
        (
            pod(&[&[0, 0, 65][..], &[0; 3 * 65]].concat()),
            DecodeError::TooManyItems {
                max: MAX_LABELS,
                got: 65,
            },
        ),
        // A length of 2^32 - 1 with nothing behind it: refused, nothing allocated.
        (
            pod(&[0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            DecodeError::Truncated("Pod"),
        ),
        // No labels or annotations, then 17 init containers.
        (
            pod(&[&[0, 0, 0, 0, 17][..], &[0; 17 * 40]].concat()),
            DecodeError::TooManyItems { max: 16, got: 17 },
        ),
        // An Event whose reason has 254 bytes.
        (
            [&[v, 4, 0, 0xfe, 0x01][..], &[b'a'; 254]].concat(),
            DecodeError::StringTooLong {
                max: MAX_SHORT,
                got: 254,
            },
        ),
        (
            pod(&[0, 0, 0, 0, 0, 0, 0, 7]),
            DecodeError::Malformed {
                kind: Kind::Pod,
                what: "invalid value",
            },
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(decode_any(&bytes), Err(want.clone()), "{bytes:02x?}");
    }
    assert_eq!(
        decode::<PodStatus>(&seed),
        Err(DecodeError::WrongKind {
            expected: Kind::PodStatus,
            got: Kind::Pod
        })
    );
    // Exactly at the limit is accepted as far as size goes.
    assert!(!matches!(
        decode_any(&vec![1; MAX_PAYLOAD]),
        Err(DecodeError::TooLarge { .. })
    ));
}
