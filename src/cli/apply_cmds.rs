//! `pealet apply` and `pealet delete`: change a node's desired pods on the broker, the
//! pod message first, then the node's index (see docs/wire-format.md, "Deletions");
//! signed with the operator's key when `signing_key` is set. `pealet keygen` makes one.

use lexopt::prelude::*;

use super::CliError;
use super::remote::{self, NodeView, Want, failed};
use crate::config::{Flags, Settings};
use crate::mqtt::Topics;
use crate::spec::bounded::{MAX_PAYLOAD, name};
use crate::spec::signed::{self, SignedKind};
use crate::spec::{self, SpecHash};
use crate::trust::{self, Signer, TrustedKeys};

pub const APPLY_HELP: &str = "\
Usage: pealet apply -f FILE --node NODE[,NODE...] [broker settings]

Validates the Pod manifests in FILE (YAML or JSON; '-' is standard input), then
publishes each pod, retained, on <prefix>/<node>/pods/<pod>, and the node's updated
index of desired pods on <prefix>/<node>/index. Prints for each pod and node whether
it was created, configured (its spec changed) or unchanged.

Nothing is published when any pod is invalid.

With --signing-key FILE (or signing_key in the config), every pod message and index
is signed for its node (format version 3): devices that trust the key's public part
(trusted_keys) accept them, and refuse unsigned ones.
";

pub const KEYGEN_HELP: &str = "\
Usage: pealet keygen --out FILE

Makes an Ed25519 key for signing desired state. Writes the private key to FILE
(PKCS#8 PEM, mode 0600; an existing FILE is never overwritten) and its public key to
FILE.pub, and prints the public key (ed25519:...). Give FILE to operators as
signing_key (--signing-key); put the public key in each device's trusted_keys.
";

pub const DELETE_HELP: &str = "\
Usage: pealet delete pod NAME --node NODE[,NODE...] [broker settings]

Clears the retained pod message of NAME and removes it from the node's index; the
device then stops the pod and clears its status. With a signing key, the pod message
is replaced by a signed deletion (kept retained: it tells a device that was away,
and it outdates the pod's older signed specs) and the index is signed.

Exit status: 1 when the pod is on none of the nodes.
";

pub fn apply(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut flags = Flags::default();
    let mut file = None;
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Short('f') | Long("filename") => file = Some(args.value()?.string()?),
            Long(n) if Flags::takes(n) => {
                let n = n.to_owned();
                remote::setting(&mut flags, &n, &mut args)?;
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    let file = file.ok_or_else(|| CliError::Usage("apply needs -f FILE".into()))?;
    let pods = super::spec_cmds::read_manifest(&file).map_err(CliError::Invalid)?;
    let mut encoded = Vec::new();
    for p in pods {
        let bytes = spec::encode(&p.pod);
        if bytes.len() > MAX_PAYLOAD {
            return Err(CliError::Invalid(vec![format!(
                "pod {}: encodes to {} bytes, more than the limit of {MAX_PAYLOAD}",
                p.pod.name,
                bytes.len()
            )]));
        }
        encoded.push((p.pod.name.to_string(), SpecHash::of_pod(&p.pod), bytes));
    }
    let (settings, nodes) = remote::settings(&flags, true)?;
    let signer = signer(&settings)?;
    let mut op = remote::connect(&settings)?;
    let want = Want {
        pods: true,
        statuses: true,
        index: true,
    };
    let views = remote::fetch(&mut op, &settings, &nodes, want)?;
    for (node, view) in &views {
        let topics = Topics::new(&settings.prefix, node);
        let seal = Sealer {
            signer: signer.as_ref(),
            node,
            view,
        };
        let (mut index, rebuilt) = view.index_to_edit(node)?;
        let old_index = index.clone();
        if rebuilt && !index.pods.is_empty() {
            eprintln!(
                "warning: node {node} has no index on the broker; rebuilt it from {} retained pods and statuses",
                index.pods.len()
            );
        }
        let mut lines = Vec::new();
        for (pod, hash, bytes) in &encoded {
            let what = match view.pods.get(pod) {
                None => "created",
                Some(Ok(old)) if SpecHash::of_pod(old) == *hash => "unchanged",
                Some(_) => "configured",
            };
            if what != "unchanged" || seal.resign(Some(pod)) {
                let bytes = seal.pod(pod, bytes)?;
                op.publish(&topics.pod(pod), &bytes, true).map_err(failed)?;
            }
            let pod_name = name(pod).map_err(failed)?;
            index.insert(pod_name, *hash).map_err(failed)?;
            lines.push(format!("{node}: pod/{pod} {what}"));
        }
        // The index goes last: the device runs a pod once the index lists its hash.
        if index != old_index || rebuilt || seal.resign(None) {
            let bytes = seal.index(&index)?;
            op.publish(&topics.index(), &bytes, true).map_err(failed)?;
        }
        for l in lines {
            println!("{l}");
        }
    }
    op.disconnect();
    Ok(())
}

pub fn delete(mut args: lexopt::Parser) -> Result<(), CliError> {
    let (flags, words) = remote::words_and_settings(&mut args)?;
    let pod = match words.as_slice() {
        [kind, pod] if matches!(kind.as_str(), "pod" | "pods" | "po") => pod.clone(),
        [kind] if kind.starts_with("pod/") => kind["pod/".len()..].to_owned(),
        _ => {
            return Err(CliError::Usage(
                "usage: pealet delete pod NAME --node NODE".into(),
            ));
        }
    };
    let (settings, nodes) = remote::settings(&flags, true)?;
    let signer = signer(&settings)?;
    let mut op = remote::connect(&settings)?;
    let want = Want {
        pods: true,
        statuses: true,
        index: true,
    };
    let views = remote::fetch(&mut op, &settings, &nodes, want)?;
    let mut found = false;
    for (node, view) in &views {
        let topics = Topics::new(&settings.prefix, node);
        let seal = Sealer {
            signer: signer.as_ref(),
            node,
            view,
        };
        let (mut index, rebuilt) = view.index_to_edit(node)?;
        let listed = index.remove(&pod);
        if !listed && !view.pods.contains_key(&pod) {
            eprintln!("{node}: pod/{pod} not found");
            continue;
        }
        found = true;
        op.publish(&topics.pod(&pod), &seal.deletion(&pod)?, true)
            .map_err(failed)?;
        if listed || rebuilt || view.index.is_none() || seal.resign(None) {
            let bytes = seal.index(&index)?;
            op.publish(&topics.index(), &bytes, true).map_err(failed)?;
        }
        println!("{node}: pod/{pod} deleted");
    }
    op.disconnect();
    if found {
        Ok(())
    } else {
        Err(CliError::Failed(format!("pod {pod} not found")))
    }
}

pub fn keygen(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut out = None;
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Short('o') | Long("out") => out = Some(std::path::PathBuf::from(args.value()?)),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let out = out.ok_or_else(|| CliError::Usage("keygen needs --out FILE".into()))?;
    let (signer, pem) = Signer::generate().map_err(failed)?;
    let public = format!("{}\n", signer.public);
    let mut pub_path = out.clone().into_os_string();
    pub_path.push(".pub");
    let pub_path = std::path::PathBuf::from(pub_path);
    if pub_path.exists() {
        return Err(failed(format!(
            "{}: exists; not overwritten",
            pub_path.display()
        )));
    }
    trust::write_private(&out, &pem).map_err(failed)?;
    std::fs::write(&pub_path, &public)
        .map_err(|e| failed(format!("write {}: {e}", pub_path.display())))?;
    print!("{public}");
    eprintln!(
        "private key {} (key id {}); public key {}",
        out.display(),
        signer.public.id,
        pub_path.display()
    );
    Ok(())
}

/// The operator's key, when the settings name one.
fn signer(settings: &Settings) -> Result<Option<Signer>, CliError> {
    (settings.signing_key.as_deref())
        .map(|path| Signer::load(path).map_err(failed))
        .transpose()
}

/// What goes on one node's desired-state topics: signed with the operator's key when
/// there is one (at a generation newer than the retained message's), as it is when not.
struct Sealer<'a> {
    signer: Option<&'a Signer>,
    node: &'a str,
    view: &'a NodeView,
}

impl Sealer<'_> {
    /// The retained signed message of `pod` (None: the index).
    fn retained(&self, pod: Option<&str>) -> Option<&[u8]> {
        match pod {
            Some(p) => self.view.signed.get(p).map(Vec::as_slice),
            None => self.view.signed_index.as_deref(),
        }
    }

    /// Whether the retained message of `pod` (None: the index) is to be published
    /// again although unchanged: a signer publishes over one that its own key did not
    /// sign for this node (unsigned, or signed by another key, or forged).
    fn resign(&self, pod: Option<&str>) -> bool {
        let Some(signer) = self.signer else {
            return false;
        };
        let own = TrustedKeys::new(vec![signer.public.clone()]);
        let ours = (self.retained(pod))
            .and_then(|bytes| signed::open(bytes).ok())
            .is_some_and(|env| env.header.node.as_str() == self.node && own.verify(&env).is_ok());
        !ours
    }

    /// The generation to sign at: now, or past the retained message's.
    fn generation(&self, pod: Option<&str>) -> u64 {
        let retained = self.retained(pod).map_or(0, signed::generation);
        trust::now_generation().max(retained.saturating_add(1))
    }

    fn sign(&self, kind: SignedKind, pod: Option<&str>, msg: &[u8]) -> Result<Vec<u8>, CliError> {
        match self.signer {
            None => Ok(msg.to_vec()),
            Some(s) => (s.sign(kind, self.node, pod, self.generation(pod), msg)).map_err(failed),
        }
    }

    fn pod(&self, pod: &str, encoded: &[u8]) -> Result<Vec<u8>, CliError> {
        let bytes = self.sign(SignedKind::Pod, Some(pod), encoded)?;
        if bytes.len() > MAX_PAYLOAD {
            return Err(CliError::Invalid(vec![format!(
                "pod {pod}: signed, it takes {} bytes, more than the limit of {MAX_PAYLOAD}",
                bytes.len()
            )]));
        }
        Ok(bytes)
    }

    fn index(&self, index: &spec::Index) -> Result<Vec<u8>, CliError> {
        self.sign(SignedKind::Index, None, &spec::encode(index))
    }

    /// A signed deletion; without a signer, the empty payload that clears the topic.
    fn deletion(&self, pod: &str) -> Result<Vec<u8>, CliError> {
        self.sign(SignedKind::Deletion, Some(pod), b"")
    }
}
