//! `pealet get pods`, `get nodes` and `describe pod`: read the retained statuses (and
//! desired pods and indexes) from the broker and print them as kubectl does.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use lexopt::prelude::*;

use super::CliError;
use super::remote::{self, NodeView, Want, failed};
use super::show;
use crate::config::Flags;
use crate::mqtt::Topics;
use crate::spec::manifest::node::{Node, Value};
use crate::spec::manifest::{emit, write};
use crate::spec::{self, Index, NodeStatus, Time};

pub const GET_HELP: &str = "\
Usage: pealet get pods --node NODE[,NODE...] [-o wide|json|yaml] [--watch]
       pealet get nodes [-o wide|json|yaml]

pods: the pods of the nodes (from their retained index and statuses) as a table
NAME READY STATUS RESTARTS AGE (-o wide adds IP and NODE), or as Pod objects with
spec and status (-o json, -o yaml). --watch keeps printing a row per status change.
nodes: every node under the prefix: NAME STATUS (online/offline) VERSION ARCH PODS
(listed in its index) LAST-HEARTBEAT.
";

pub const DESCRIBE_HELP: &str = "\
Usage: pealet describe pod NAME --node NODE[,NODE...]

Shows a pod's status in detail: phase, conditions, container states and last
states, restart counts, probe results, and whether the status describes the spec
the node's index lists. Events are not retained by the broker: see the device.
";

#[derive(Clone, Copy, PartialEq)]
enum Output {
    Table,
    Wide,
    Json,
    Yaml,
}

pub fn get(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut flags = Flags::default();
    let (mut output, mut watch, mut words) = (Output::Table, false, Vec::new());
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Short('o') | Long("output") => {
                output = match args.value()?.string()?.as_str() {
                    "wide" => Output::Wide,
                    "json" => Output::Json,
                    "yaml" => Output::Yaml,
                    o => {
                        return Err(CliError::Usage(format!(
                            "unknown output {o:?}: use wide, json or yaml"
                        )));
                    }
                }
            }
            Short('w') | Long("watch") => watch = true,
            Long(n) if Flags::takes(n) => {
                let n = n.to_owned();
                remote::setting(&mut flags, &n, &mut args)?;
            }
            Value(v) => words.push(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["pods" | "pod" | "po"] => get_pods(&flags, output, watch),
        ["nodes" | "node" | "no"] => get_nodes(&flags, output),
        _ => Err(CliError::Usage("usage: pealet get pods|nodes".into())),
    }
}

fn get_pods(flags: &Flags, output: Output, watch: bool) -> Result<(), CliError> {
    let (settings, nodes) = remote::settings(flags, true)?;
    let mut op = remote::connect(&settings)?;
    let want = Want {
        pods: true,
        statuses: true,
        index: true,
    };
    let mut views = remote::fetch(&mut op, &settings, &nodes, want)?;
    let now = Time::now();
    let wide = output == Output::Wide;
    match output {
        Output::Table | Output::Wide => {
            let mut rows = vec![header(wide)];
            for (node, view) in &views {
                rows.extend(rows_of(node, view, wide, now));
            }
            if rows.len() == 1 && !watch {
                eprintln!("No pods found on {}.", nodes.join(", "));
            } else {
                print(&show::table(&rows))?;
            }
        }
        Output::Json | Output::Yaml => {
            let items = views
                .iter()
                .flat_map(|(node, view)| objects(node, view))
                .collect();
            let list = map(vec![
                ("apiVersion", s("v1")),
                ("kind", s("List")),
                ("items", Node::new(Value::Seq(items))),
            ]);
            print(&if output == Output::Json {
                emit::to_json(&list)
            } else {
                emit::to_yaml(&list)
            })?;
        }
    }
    if watch {
        loop {
            let Some(m) = op.next(Duration::from_secs(3600)).map_err(failed)? else {
                continue;
            };
            if !remote::absorb(&mut views, &settings.prefix, &m) {
                continue;
            }
            for (node, view) in &views {
                let Some(pod) = Topics::new(&settings.prefix, node).pod_of(&m.topic, "status")
                else {
                    continue;
                };
                let row = match view.statuses.get(pod) {
                    Some(Ok(st)) => {
                        show::pod_row(pod, Some(st), total(view, pod), node, wide, Time::now())
                    }
                    Some(Err(e)) => vec![pod.to_owned(), format!("<status does not decode: {e}>")],
                    None => vec![pod.to_owned(), "-".into(), "Deleted".into()],
                };
                print(&show::table(&[row]))?;
            }
        }
    }
    op.disconnect();
    Ok(())
}

fn header(wide: bool) -> Vec<String> {
    let mut h: Vec<String> = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        .map(String::from)
        .to_vec();
    if wide {
        h.extend(["IP", "NODE"].map(String::from));
    }
    h
}

/// Pods listed in the index or with a status: those being deleted show as Terminating.
fn rows_of(node: &str, view: &NodeView, wide: bool, now: Time) -> Vec<Vec<String>> {
    let index = view.index.as_ref().and_then(|r| r.as_ref().ok());
    let mut names: Vec<&str> = view.statuses.keys().map(String::as_str).collect();
    names.extend(index.into_iter().flat_map(Index::names));
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|pod| {
            let mut row = match view.statuses.get(pod) {
                Some(Ok(st)) => show::pod_row(pod, Some(st), total(view, pod), node, wide, now),
                Some(Err(e)) => vec![
                    pod.to_owned(),
                    "?".into(),
                    format!("<status does not decode: {e}>"),
                ],
                None => show::pod_row(pod, None, total(view, pod), node, wide, now),
            };
            if index.is_some_and(|ix| !ix.contains(pod)) && row.len() > 2 {
                row[2] = "Terminating".into();
            }
            row
        })
        .collect()
}

/// The number of app containers of the desired pod, when the broker holds its spec.
fn total(view: &NodeView, pod: &str) -> Option<usize> {
    view.pods
        .get(pod)?
        .as_ref()
        .ok()
        .map(|p| p.spec.containers.len())
}

/// Pod objects: the retained spec (if any) with its status and the node's name.
fn objects(node: &str, view: &NodeView) -> Vec<Node> {
    let mut names: Vec<&String> = view.statuses.keys().chain(view.pods.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|pod| {
            let mut entries = match view.pods.get(pod) {
                Some(Ok(p)) => match write::pod(p).value {
                    Value::Map(entries) => entries,
                    _ => Vec::new(),
                },
                _ => vec![
                    ("apiVersion".into(), s("v1")),
                    ("kind".into(), s("Pod")),
                    ("metadata".into(), map(vec![("name", s(pod))])),
                ],
            };
            match entries.iter_mut().find(|(k, _)| k == "spec") {
                Some((
                    _,
                    Node {
                        value: Value::Map(spec),
                        ..
                    },
                )) => {
                    spec.push(("nodeName".into(), s(node)));
                }
                _ => entries.push(("spec".into(), map(vec![("nodeName", s(node))]))),
            }
            if let Some(Ok(st)) = view.statuses.get(pod) {
                entries.push(("status".into(), write::pod_status(st)));
            }
            Node::new(Value::Map(entries))
        })
        .collect()
}

fn get_nodes(flags: &Flags, output: Output) -> Result<(), CliError> {
    let (settings, _) = remote::settings(flags, false)?;
    let mut op = remote::connect(&settings)?;
    let prefix = settings.prefix.trim_end_matches('/');
    let filters = [
        Topics::all_nodes_filter(prefix),
        format!("{prefix}/+/index"),
    ];
    let messages = op.retained(&filters).map_err(failed)?;
    op.disconnect();
    let mut nodes: BTreeMap<String, NodeStatus> = BTreeMap::new();
    let mut pods: BTreeMap<String, usize> = BTreeMap::new();
    for m in messages {
        if let Some(node) = Topics::node_of(prefix, &m.topic) {
            match spec::decode::<NodeStatus>(&m.payload) {
                Ok(n) => {
                    nodes.insert(node.to_owned(), n);
                }
                Err(e) => eprintln!("warning: {}: {e}", m.topic),
            }
        } else if let Some(node) = m
            .topic
            .strip_prefix(prefix)
            .and_then(|t| t.strip_suffix("/index"))
        {
            if let Ok(ix) = spec::decode::<Index>(&m.payload) {
                pods.insert(node.trim_start_matches('/').to_owned(), ix.pods.len());
            }
        }
    }
    if nodes.is_empty() {
        eprintln!("No nodes found under {prefix}.");
        return Ok(());
    }
    let text = match output {
        Output::Table | Output::Wide => {
            let header = [
                "NAME",
                "STATUS",
                "VERSION",
                "ARCH",
                "PODS",
                "LAST HEARTBEAT",
            ]
            .map(String::from)
            .to_vec();
            let now = Time::now();
            let rows = nodes
                .iter()
                .map(|(name, n)| show::node_row(n, pods.get(name).copied(), now));
            show::table(&std::iter::once(header).chain(rows).collect::<Vec<_>>())
        }
        Output::Json | Output::Yaml => {
            let items = nodes.values().map(write::node_status).collect();
            let list = map(vec![
                ("apiVersion", s("v1")),
                ("kind", s("List")),
                ("items", Node::new(Value::Seq(items))),
            ]);
            if output == Output::Json {
                emit::to_json(&list)
            } else {
                emit::to_yaml(&list)
            }
        }
    };
    print(&text)
}

pub fn describe(mut args: lexopt::Parser) -> Result<(), CliError> {
    let (flags, words) = remote::words_and_settings(&mut args)?;
    let pod = match words.as_slice() {
        [kind, pod] if matches!(kind.as_str(), "pod" | "pods" | "po") => pod.clone(),
        _ => {
            return Err(CliError::Usage(
                "usage: pealet describe pod NAME --node NODE".into(),
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
    op.disconnect();
    let mut found = false;
    for (node, view) in &views {
        let index = view.index.as_ref().and_then(|r| r.as_ref().ok());
        let spec = view.pods.get(&pod).and_then(|p| p.as_ref().ok());
        let status = match view.statuses.get(&pod) {
            Some(Ok(st)) => Some(st),
            Some(Err(e)) => {
                return Err(failed(format!(
                    "{node}: the status of {pod} does not decode: {e}"
                )));
            }
            None => None,
        };
        if spec.is_none() && status.is_none() && !index.is_some_and(|ix| ix.contains(&pod)) {
            continue;
        }
        found = true;
        let listed = index.and_then(|ix| ix.get(&pod));
        let mut text = show::describe(&pod, node, spec, status, listed);
        text.push_str("Events:         <not retained by the broker>\n");
        print(&text)?;
    }
    if found {
        Ok(())
    } else {
        Err(CliError::Failed(format!("pod {pod} not found")))
    }
}

fn s(v: &str) -> Node {
    Node::new(Value::Str(v.to_owned()))
}

fn map(entries: Vec<(&str, Node)>) -> Node {
    Node::new(Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    ))
}

fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Failed(format!("cannot write the output: {e}")))
}
