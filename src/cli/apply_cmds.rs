//! `pealet apply` and `pealet delete`: change a node's desired pods on the broker, the
//! pod message first, then the node's index (see docs/wire-format.md, "Deletions").

use lexopt::prelude::*;

use super::CliError;
use super::remote::{self, Want, failed};
use crate::config::Flags;
use crate::mqtt::Topics;
use crate::spec::bounded::{MAX_PAYLOAD, name};
use crate::spec::{self, SpecHash};

pub const APPLY_HELP: &str = "\
Usage: pealet apply -f FILE --node NODE[,NODE...] [broker settings]

Validates the Pod manifests in FILE (YAML or JSON; '-' is standard input), then
publishes each pod, retained, on <prefix>/<node>/pods/<pod>, and the node's updated
index of desired pods on <prefix>/<node>/index. Prints for each pod and node whether
it was created, configured (its spec changed) or unchanged.

Nothing is published when any pod is invalid.
";

pub const DELETE_HELP: &str = "\
Usage: pealet delete pod NAME --node NODE[,NODE...] [broker settings]

Clears the retained pod message of NAME and removes it from the node's index; the
device then stops the pod and clears its status.

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
    let mut op = remote::connect(&settings)?;
    let want = Want {
        pods: true,
        statuses: true,
        index: true,
    };
    let views = remote::fetch(&mut op, &settings, &nodes, want)?;
    for (node, view) in &views {
        let topics = Topics::new(&settings.prefix, node);
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
            if what != "unchanged" {
                op.publish(&topics.pod(pod), bytes, true).map_err(failed)?;
            }
            let pod_name = name(pod).map_err(failed)?;
            index.insert(pod_name, *hash).map_err(failed)?;
            lines.push(format!("{node}: pod/{pod} {what}"));
        }
        // The index goes last: the device runs a pod once the index lists its hash.
        if index != old_index || rebuilt {
            op.publish(&topics.index(), &spec::encode(&index), true)
                .map_err(failed)?;
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
        let (mut index, rebuilt) = view.index_to_edit(node)?;
        let listed = index.remove(&pod);
        if !listed && !view.pods.contains_key(&pod) {
            eprintln!("{node}: pod/{pod} not found");
            continue;
        }
        found = true;
        op.publish(&topics.pod(&pod), b"", true).map_err(failed)?;
        if listed || rebuilt || view.index.is_none() {
            op.publish(&topics.index(), &spec::encode(&index), true)
                .map_err(failed)?;
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
