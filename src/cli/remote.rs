//! What the operator commands share: broker settings from the command line, connecting,
//! and reading a node's retained pods, statuses and index into one view.

use std::collections::BTreeMap;
use std::time::Duration;

use lexopt::ValueExt;

use super::CliError;
use crate::config::{Flags, Settings};
use crate::mqtt::{Message, Operator, Topics};
use crate::spec::signed;
use crate::spec::{self, DecodeError, Index, Pod, PodStatus, SpecHash};

/// How long an operator command waits for each answer of the broker.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Takes the value of `--name`, a broker setting (`Flags::takes(name)`).
pub fn setting(flags: &mut Flags, name: &str, args: &mut lexopt::Parser) -> Result<(), CliError> {
    let value = args.value()?.string()?;
    flags
        .set(name, value)
        .map(drop)
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// Reads a command's arguments that are only broker settings and words
/// (`delete pod NAME`, `describe pod NAME`): the settings, and the words in order.
pub fn words_and_settings(args: &mut lexopt::Parser) -> Result<(Flags, Vec<String>), CliError> {
    use lexopt::prelude::*;
    let mut flags = Flags::default();
    let mut words = Vec::new();
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Long(n) if Flags::takes(n) => {
                let n = n.to_owned();
                setting(&mut flags, &n, args)?;
            }
            Value(v) => words.push(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok((flags, words))
}

/// The settings and the target nodes (`--node`, required, may be a comma list).
pub fn settings(flags: &Flags, need_nodes: bool) -> Result<(Settings, Vec<String>), CliError> {
    let settings = Settings::load(flags).map_err(|e| CliError::Failed(e.to_string()))?;
    if settings.broker.is_none() {
        return Err(CliError::Usage(
            "no broker: give --broker mqtt://host[:port] (or PEALET_BROKER)".into(),
        ));
    }
    let nodes = settings.node_list();
    if need_nodes && nodes.is_empty() {
        return Err(CliError::Usage(
            "give the node(s): --node NAME[,NAME...]".into(),
        ));
    }
    Ok((settings, nodes))
}

pub fn connect(settings: &Settings) -> Result<Operator, CliError> {
    Operator::connect(settings, TIMEOUT).map_err(failed)
}

pub fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

/// One node's retained desired and reported state, as the broker holds it.
#[derive(Debug, Default)]
pub struct NodeView {
    pub pods: BTreeMap<String, Result<Pod, DecodeError>>,
    pub statuses: BTreeMap<String, Result<PodStatus, DecodeError>>,
    pub index: Option<Result<Index, DecodeError>>,
    /// The retained pod messages that are signed (deletions included), as they are.
    pub signed: BTreeMap<String, Vec<u8>>,
    /// The retained index when it is signed, as it is.
    pub signed_index: Option<Vec<u8>>,
}

impl NodeView {
    /// The index to edit: the retained one, or (when the broker holds none) one rebuilt
    /// from the retained pods and from the spec hashes of the statuses the device
    /// republishes at every connect, so that a broker that lost its retained messages
    /// does not make the next apply delete the pods it forgot.
    pub fn index_to_edit(&self, node: &str) -> Result<(Index, bool), CliError> {
        match &self.index {
            Some(Ok(ix)) => Ok((ix.clone(), false)),
            Some(Err(e)) => Err(CliError::Failed(format!(
                "node {node}: the retained index does not decode ({e}); \
                 clear it (an empty retained message on its topic) to rebuild it"
            ))),
            None => {
                let mut ix = Index::default();
                let pods = self
                    .pods
                    .iter()
                    .filter_map(|(n, p)| p.as_ref().ok().map(|p| (n, SpecHash::of_pod(p))));
                let statuses = (self.statuses.iter())
                    .filter_map(|(n, s)| s.as_ref().ok().map(|s| (n, s.spec_hash)));
                for (name, hash) in statuses.chain(pods) {
                    if let Ok(name) = spec::bounded::name(name) {
                        ix.insert(name, hash).map_err(failed)?;
                    }
                }
                Ok((ix, true))
            }
        }
    }
}

/// What to read for each node.
#[derive(Debug, Clone, Copy)]
pub struct Want {
    pub pods: bool,
    pub statuses: bool,
    pub index: bool,
}

/// Reads the retained messages of `nodes` (subscriptions stay for a `--watch`).
pub fn fetch(
    op: &mut Operator,
    settings: &Settings,
    nodes: &[String],
    want: Want,
) -> Result<BTreeMap<String, NodeView>, CliError> {
    let mut filters = Vec::new();
    for node in nodes {
        let t = Topics::new(&settings.prefix, node);
        if want.pods {
            filters.push(t.pods_filter());
        }
        if want.statuses {
            filters.push(t.status_filter());
        }
        if want.index {
            filters.push(t.index());
        }
    }
    let messages = op.retained(&filters).map_err(failed)?;
    let mut views: BTreeMap<String, NodeView> = nodes
        .iter()
        .map(|n| (n.clone(), NodeView::default()))
        .collect();
    for m in messages {
        absorb(&mut views, &settings.prefix, &m);
    }
    Ok(views)
}

/// Files one message into the view of its node; false when it belongs to none.
pub fn absorb(views: &mut BTreeMap<String, NodeView>, prefix: &str, m: &Message) -> bool {
    for (node, view) in views.iter_mut() {
        let t = Topics::new(prefix, node);
        let signed = signed::is_signed(&m.payload).then(|| m.payload.clone());
        if m.topic == t.index() {
            view.index = signed::desired(&m.payload);
            view.signed_index = signed;
            return true;
        }
        if let Some(pod) = t.pod_of(&m.topic, "pods") {
            match signed::desired(&m.payload) {
                None => view.pods.remove(pod),
                Some(p) => view.pods.insert(pod.to_owned(), p),
            };
            match signed {
                None => view.signed.remove(pod),
                Some(bytes) => view.signed.insert(pod.to_owned(), bytes),
            };
            return true;
        }
        if let Some(pod) = t.pod_of(&m.topic, "status") {
            set(&mut view.statuses, pod, &m.payload);
            return true;
        }
    }
    false
}

fn set<M: spec::codec::Message>(
    map: &mut BTreeMap<String, Result<M, DecodeError>>,
    pod: &str,
    payload: &[u8],
) {
    if payload.is_empty() {
        map.remove(pod);
    } else {
        map.insert(pod.to_owned(), spec::decode(payload));
    }
}
