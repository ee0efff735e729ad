//! How `get` and `describe` print pods and nodes: kubectl's STATUS word, READY,
//! RESTARTS, AGE, aligned tables and the describe text. Pure: time is passed in.

use std::fmt::Write;

use crate::spec::{ContainerState, ContainerStatus, NodeStatus, Pod, PodStatus, SpecHash, Time};

/// kubectl's STATUS column: the pod's reason, else what its containers wait or
/// terminated for, else its phase.
pub fn status_word(st: &PodStatus) -> String {
    if let Some(r) = &st.reason {
        return r.to_string();
    }
    let inits = &st.init_container_statuses;
    for (i, c) in inits.iter().enumerate() {
        match &c.state {
            ContainerState::Terminated { exit_code: 0, .. } => continue,
            ContainerState::Terminated {
                reason,
                signal,
                exit_code,
                ..
            } => {
                return match signal {
                    Some(sig) => format!("Init:Signal:{sig}"),
                    None if reason.as_str() == "Error" => format!("Init:ExitCode:{exit_code}"),
                    None => format!("Init:{reason}"),
                };
            }
            ContainerState::Waiting { reason, .. } if reason.as_str() != "PodInitializing" => {
                return format!("Init:{reason}");
            }
            // A running sidecar (restartable init container) does not hold the pod back.
            ContainerState::Running { .. } if c.started == Some(true) => continue,
            _ => return format!("Init:{i}/{}", inits.len()),
        }
    }
    let mut word = st.phase.as_str().to_owned();
    let mut running = false;
    for c in st.container_statuses.iter().rev() {
        match &c.state {
            ContainerState::Waiting { reason, .. } => word = reason.to_string(),
            ContainerState::Terminated {
                reason,
                signal,
                exit_code,
                ..
            } => {
                word = match signal {
                    Some(sig) if reason.as_str().is_empty() => format!("Signal:{sig}"),
                    _ if reason.as_str().is_empty() => format!("ExitCode:{exit_code}"),
                    _ => reason.to_string(),
                }
            }
            ContainerState::Running { .. } => running = true,
        }
    }
    if word == "Completed" && running {
        word = if st.conditions.ready.status.as_str() == "True" {
            "Running".into()
        } else {
            "NotReady".into()
        };
    }
    word
}

/// `ready/total` of the app containers.
pub fn ready(st: &PodStatus, total: Option<usize>) -> String {
    let cs = &st.container_statuses;
    let ready = cs.iter().filter(|c| c.ready).count();
    format!("{ready}/{}", total.unwrap_or(cs.len()))
}

pub fn restarts(st: &PodStatus) -> u32 {
    let all = st.init_container_statuses.iter();
    all.chain(st.container_statuses.iter())
        .map(|c| c.restart_count)
        .fold(0, u32::saturating_add)
}

/// kubectl's short duration: `42s`, `3m12s`, `25m`, `5h3m`, `20h`, `3d4h`, `40d`, `2y10d`.
pub fn age(from: Time, now: Time) -> String {
    let s = now.0.saturating_sub(from.0);
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    match s {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 => format!("{m}m{}s", s % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if h < 192 => format!("{d}d{}h", h % 24),
        _ if d < 730 => format!("{d}d"),
        _ => format!("{}y{}d", d / 365, d % 365),
    }
}

/// Columns padded to their widest cell, three spaces apart, as kubectl prints them.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 < r.len() {
                let _ = write!(line, "{cell:<w$}   ", w = widths[i]);
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One row of `get pods`: NAME READY STATUS RESTARTS AGE, and IP NODE with `wide`.
pub fn pod_row(
    name: &str,
    st: Option<&PodStatus>,
    total: Option<usize>,
    node: &str,
    wide: bool,
    now: Time,
) -> Vec<String> {
    let mut row = match st {
        Some(st) => vec![
            name.to_owned(),
            ready(st, total),
            status_word(st),
            restarts(st).to_string(),
            age(st.start_time, now),
        ],
        None => vec![
            name.to_owned(),
            format!("0/{}", total.unwrap_or(0)),
            "Pending".into(),
            "0".into(),
            "<unknown>".into(),
        ],
    };
    if wide {
        let ip = st.and_then(|s| s.pod_ip).map(|ip| ip.to_string());
        row.push(ip.unwrap_or_else(|| "<none>".into()));
        row.push(node.to_owned());
    }
    row
}

/// One row of `get nodes`: NAME STATUS VERSION ARCH PODS LAST-HEARTBEAT.
pub fn node_row(n: &NodeStatus, pods: Option<usize>, now: Time) -> Vec<String> {
    vec![
        n.name.to_string(),
        if n.online { "online" } else { "offline" }.into(),
        n.agent_version.to_string(),
        n.arch.to_string(),
        pods.map_or_else(|| "<unknown>".into(), |p| p.to_string()),
        format!("{} ago", age(n.heartbeat, now)),
    ]
}

/// The text of `describe pod`.
pub fn describe(
    name: &str,
    node: &str,
    pod: Option<&Pod>,
    st: Option<&PodStatus>,
    listed: Option<SpecHash>,
) -> String {
    let mut o = String::new();
    let line = |o: &mut String, k: &str, v: &str| {
        let _ = writeln!(o, "{:<16}{v}", format!("{k}:"));
    };
    line(&mut o, "Name", name);
    line(
        &mut o,
        "Namespace",
        pod.map_or("default", |p| p.namespace()),
    );
    line(&mut o, "Node", node);
    let Some(st) = st else {
        line(&mut o, "Status", "Pending (no status reported yet)");
        return o;
    };
    line(&mut o, "Start Time", &st.start_time.to_string());
    line(&mut o, "Status", &status_word(st));
    line(&mut o, "Phase", st.phase.as_str());
    if let Some(m) = &st.message {
        line(&mut o, "Message", m);
    }
    line(
        &mut o,
        "IP",
        &st.pod_ip.map_or("<none>".into(), |ip| ip.to_string()),
    );
    let spec = match listed {
        Some(h) if h != st.spec_hash => format!(
            "{} (the index lists {h}: an update is pending)",
            st.spec_hash
        ),
        _ => st.spec_hash.to_string(),
    };
    line(&mut o, "Spec Hash", &spec);
    let image = |c: &str| {
        pod.and_then(|p| p.spec.all_containers().find(|x| x.name == c))
            .map_or("<unknown>".to_owned(), |x| x.image.to_string())
    };
    for (title, list) in [
        ("Init Containers", &st.init_container_statuses),
        ("Containers", &st.container_statuses),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(o, "{title}:");
        for c in list.iter() {
            container(&mut o, st, c, &image(&c.name));
        }
    }
    let _ = writeln!(o, "Conditions:\n  Type              Status");
    for (kind, c) in st.conditions.iter() {
        let _ = writeln!(o, "  {kind:<18}{}", c.status.as_str());
    }
    o
}

fn container(o: &mut String, st: &PodStatus, c: &ContainerStatus, image: &str) {
    let _ = writeln!(o, "  {}:\n    Image:          {image}", c.name);
    state(o, st, "State", &c.state);
    if let Some(last) = &c.last_state {
        state(o, st, "Last State", last);
    }
    let _ = writeln!(
        o,
        "    Ready:          {}",
        if c.ready { "True" } else { "False" }
    );
    let _ = writeln!(o, "    Restart Count:  {}", c.restart_count);
    for p in c.probes.iter() {
        let _ = write!(
            o,
            "    Probe {:<10}{} ({} successes, {} failures in a row)",
            format!("{}:", p.kind.as_str()),
            p.last_result.as_str(),
            p.consecutive_successes,
            p.consecutive_failures
        );
        match &p.last_failure {
            Some(f) => {
                let _ = writeln!(o, "; last failure: {f}");
            }
            None => o.push('\n'),
        }
    }
}

fn state(o: &mut String, st: &PodStatus, title: &str, s: &ContainerState) {
    let pad = 15 - title.len();
    match s {
        ContainerState::Waiting { reason, message } => {
            let _ = writeln!(
                o,
                "    {title}:{:pad$}Waiting\n      Reason:       {reason}",
                ""
            );
            if let Some(m) = message {
                let _ = writeln!(o, "      Message:      {m}");
            }
        }
        ContainerState::Running { started_at } => {
            let _ = writeln!(
                o,
                "    {title}:{:pad$}Running\n      Started:      {}",
                "",
                st.at(*started_at)
            );
        }
        ContainerState::Terminated {
            exit_code,
            signal,
            reason,
            message,
            started_at,
            finished_at,
        } => {
            let _ = writeln!(
                o,
                "    {title}:{:pad$}Terminated\n      Reason:       {reason}\n      Exit Code:    {exit_code}",
                ""
            );
            if let Some(sig) = signal {
                let _ = writeln!(o, "      Signal:       {sig}");
            }
            if let Some(m) = message {
                let _ = writeln!(o, "      Message:      {m}");
            }
            let _ = writeln!(
                o,
                "      Started:      {}\n      Finished:     {}",
                st.at(*started_at),
                st.at(*finished_at)
            );
        }
    }
}

#[cfg(test)]
#[path = "show/tests.rs"]
mod tests;
