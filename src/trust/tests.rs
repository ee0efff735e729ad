//! Tests of signed desired state: keys, signatures, the gate and the replay rules.

use super::*;
use crate::desired::Update;
use crate::mqtt::Topics;
use crate::spec::manifest::read::read_pod;
use crate::spec::{Index, encode};

fn signer(seed: u8) -> Signer {
    Signer::from_seed(&[seed; 32])
}

fn pod_bytes(name: &str, image: &str) -> Vec<u8> {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\n\
         spec: {{containers: [{{name: c, image: {image}}}]}}\n"
    );
    encode(&read_pod(&yaml).unwrap().pod)
}

fn topics(keys: &[&Signer]) -> Topics {
    let keys = keys.iter().map(|s| s.public.clone()).collect();
    Topics::new("p", "n1").with_keys(TrustedKeys::new(keys))
}

/// What the gate says about the message `payload` on `topic`.
fn gate(g: &mut Gate, t: &Topics, topic: &str, payload: &[u8]) -> Result<Update, Refused> {
    g.admit(t.receive(topic, payload).unwrap()).map(|(u, _)| u)
}

#[test]
fn public_keys_print_and_parse() {
    let s = signer(1);
    let text = s.public.to_string();
    assert!(
        text.starts_with("ed25519:") && text.len() == 8 + 44,
        "{text}"
    );
    assert_eq!(PublicKey::parse(&text).unwrap(), s.public);
    assert!(PublicKey::parse("ed25519:AAAA").is_err());
    assert!(PublicKey::parse(&text[8..]).is_err());
}

#[test]
fn only_trusted_fresh_signatures_pass() {
    let (k1, k2, rogue) = (signer(1), signer(2), signer(3));
    let t = topics(&[&k1, &k2]);
    let mut g = Gate::new(true, Generations::default());
    let topic = t.pod("web");
    let v1 = k1.sign(
        SignedKind::Pod,
        "n1",
        Some("web"),
        10,
        &pod_bytes("web", "a:1"),
    );
    let v1 = v1.unwrap();
    assert!(matches!(
        gate(&mut g, &t, &topic, &v1),
        Ok(Update::Pod { pod: Ok(_), .. })
    ));
    // The same message again (a retained one after a reconnect) passes; nothing changes.
    let (_, changed) = g.admit(t.receive(&topic, &v1).unwrap()).unwrap();
    assert!(!changed);
    // Rotation: the second trusted key signs a newer spec.
    let v2 = k2.sign(
        SignedKind::Pod,
        "n1",
        Some("web"),
        20,
        &pod_bytes("web", "a:2"),
    );
    assert!(gate(&mut g, &t, &topic, &v2.unwrap()).is_ok());
    // A replay of the older spec: refused.
    let e = gate(&mut g, &t, &topic, &v1).unwrap_err();
    assert_eq!(e.reason, "Replayed", "{e:?}");
    assert!(
        e.why.contains("generation 10 is not newer than 20"),
        "{}",
        e.why
    );
    // An untrusted key, a flipped bit, no signature, another node: refused.
    let forged = rogue.sign(
        SignedKind::Pod,
        "n1",
        Some("web"),
        30,
        &pod_bytes("web", "evil"),
    );
    let e = gate(&mut g, &t, &topic, &forged.unwrap()).unwrap_err();
    assert!(e.why.contains("does not trust"), "{}", e.why);
    let mut bent = k1.sign(
        SignedKind::Pod,
        "n1",
        Some("web"),
        30,
        &pod_bytes("web", "a:3"),
    );
    let bent = bent.as_mut().unwrap();
    let at = bent.len() - 70;
    bent[at] ^= 1;
    let e = gate(&mut g, &t, &topic, bent).unwrap_err();
    assert_eq!(e.reason, "Untrusted");
    let e = gate(&mut g, &t, &topic, &pod_bytes("web", "a:4")).unwrap_err();
    assert!(e.why.starts_with("unsigned pod spec"), "{}", e.why);
    let elsewhere = k1.sign(
        SignedKind::Pod,
        "n2",
        Some("web"),
        40,
        &pod_bytes("web", "a:5"),
    );
    let e = gate(&mut g, &t, &topic, &elsewhere.unwrap()).unwrap_err();
    assert!(e.why.contains("signed for node \"n2\""), "{}", e.why);
    let other_pod = k1.sign(
        SignedKind::Pod,
        "n1",
        Some("db"),
        40,
        &pod_bytes("db", "a:5"),
    );
    assert!(gate(&mut g, &t, &topic, &other_pod.unwrap()).is_err());
    // Deletion: unsigned refused, signed passes, the deleted spec cannot come back.
    assert!(gate(&mut g, &t, &topic, b"").is_err());
    let del = k1
        .sign(SignedKind::Deletion, "n1", Some("web"), 50, b"")
        .unwrap();
    assert!(matches!(
        gate(&mut g, &t, &topic, &del),
        Ok(Update::Deleted { .. })
    ));
    let v3 = k2.sign(
        SignedKind::Pod,
        "n1",
        Some("web"),
        20,
        &pod_bytes("web", "a:2"),
    );
    assert!(gate(&mut g, &t, &topic, &v3.unwrap()).is_err());
    // The index is signed too.
    let ix = k1.sign(
        SignedKind::Index,
        "n1",
        None,
        60,
        &encode(&Index::default()),
    );
    assert!(matches!(
        gate(&mut g, &t, &t.index(), &ix.unwrap()),
        Ok(Update::Index(Ok(_)))
    ));
    assert!(gate(&mut g, &t, &t.index(), &encode(&Index::default())).is_err());
}

#[test]
fn without_keys_both_formats_pass() {
    let t = Topics::new("p", "n1");
    let mut g = Gate::default();
    let signed = signer(9).sign(
        SignedKind::Pod,
        "n1",
        Some("web"),
        1,
        &pod_bytes("web", "a:1"),
    );
    assert!(matches!(
        gate(&mut g, &t, &t.pod("web"), &signed.unwrap()),
        Ok(Update::Pod { pod: Ok(_), .. })
    ));
    assert!(gate(&mut g, &t, &t.pod("web"), &pod_bytes("web", "a:1")).is_ok());
    assert!(matches!(
        gate(&mut g, &t, &t.pod("web"), b""),
        Ok(Update::Deleted { .. })
    ));
}

#[test]
fn generations_are_bounded_and_survive_encoding() {
    let mut g = Generations::default();
    for i in 0..(MAX_SUBJECTS as u64 + 10) {
        let deleted = i % 2 == 0;
        g.accept(Subject::Pod(format!("p{i}")), 100 + i, i, deleted);
    }
    assert_eq!(g.seen.len(), MAX_SUBJECTS);
    // Deletions went first: the oldest live pod is still known.
    assert!(g.check(&Subject::Pod("p1".into()), 101, 1).is_ok());
    // A forgotten subject needs a generation past the floor.
    assert!(g.check(&Subject::Pod("p0".into()), 100, 0).is_err());
    assert!(g.check(&Subject::Pod("new".into()), 1, 0).is_err());
    assert!(g.check(&Subject::Pod("new".into()), 1_000, 0).is_ok());
    let again = Generations::decode(&g.encode()).unwrap();
    assert_eq!(again, g);
    assert!(Generations::decode(b"\x02").is_none());
    assert!(Generations::decode(b"").is_none());
}

#[test]
fn keys_round_trip_through_files() {
    let dir = std::env::temp_dir().join(format!("pealet-trust-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (s, pem) = Signer::generate().unwrap();
    let path = dir.join("key");
    write_private(&path, &pem).unwrap();
    assert!(write_private(&path, &pem).is_err(), "never overwritten");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(Signer::load(&path).unwrap().public, s.public);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(Signer::load(&path), Err(KeyError::Exposed { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keys_of_openssl_genpkey_load() {
    // `openssl genpkey -algorithm ed25519` (PKCS#8 v1, without the public key), and
    // the public key `openssl pkey -pubout` gives for it.
    let pem = "-----BEGIN PRIVATE KEY-----\n\
               MC4CAQAwBQYDK2VwBCIEIAjTxdPz0a2N75SDye5Ich9KzqT6FoOnUnk7ly6a1Ywf\n\
               -----END PRIVATE KEY-----\n";
    let dir = std::env::temp_dir().join(format!("pealet-trust-ossl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("key.pem");
    write_private(&path, pem).unwrap();
    let s = Signer::load(&path).unwrap();
    assert_eq!(
        s.public.to_string(),
        "ed25519:D27f19AgFKRUCZF86Od8YNuL/+vYZK3uc+LBA3fKLsE="
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
