//! `pealet logs`: with `--node`, asks that node's agent for a container's logs through
//! the broker (a LogsRequest on `<prefix>/<node>/logs/req`, the answer on
//! `<prefix>/<node>/logs/resp/<id>`); without it, the local command of `show_cmds`.

use std::ffi::OsString;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use lexopt::prelude::*;

use super::remote::{self, failed};
use super::{CliError, show_cmds};
use crate::config::Flags;
use crate::mqtt::Operator;
use crate::mqtt::Topics;
use crate::spec::bounded::name;
use crate::spec::logs::{
    FOLLOW_LEASE, FOLLOW_RENEW, Follow, FollowEnd, LogChunk, LogsRequest, LogsResponse, LogsResult,
    MAX_LOG_TEXT,
};
use crate::spec::{self, NodeStatus, validate::is_dns_label};

pub const LOGS_HELP: &str = "\
Usage: pealet logs POD [-c CONTAINER] [-f] [--previous] [--timestamps]
       pealet logs --node NODE POD [-c CONTAINER] [-f] [--tail N] [--previous]
                   [--timestamps] [--timeout SECONDS] [broker settings]

Prints what a container wrote to stdout and stderr (kept in the run directory,
capped per container instance). -c may be left out when the pod has one container.

With --node, the logs come from that node's agent through the broker: at most the
newest 60 KiB (a note on standard error says when older lines were left out). With
-f as well, new output follows at most once a second and 4 KiB a second (more is
skipped, newest kept, with a note), across restarts of the container, until the pod
is deleted or finishes; Ctrl-C stops (the node stops 30 s later at the latest). A
node follows at most 4 logs at once.

Options:
  -c, --container NAME   the container
  -f, --follow           keep printing new output until the pod's shim exits, or
                         with --node until the pod is gone
  -p, --previous         the instance before the last restart
  --timestamps           prefix each line with its RFC 3339 time
  --tail N               only the newest N lines (with --node)
  --node NODE            ask the agent of NODE through the broker
  --timeout SECONDS      how long to wait for the agent's answer (default 10)
";

/// How long the answer may take by default: an agent answers at once, or within a
/// second or two when its rate limit holds the request back.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

pub fn logs(mut args: lexopt::Parser) -> Result<(), CliError> {
    let raw: Vec<OsString> = args.raw_args()?.collect();
    let remote = raw
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--node" || a.to_string_lossy().starts_with("--node="));
    let args = lexopt::Parser::from_args(raw);
    if remote {
        remote_logs(args)
    } else {
        show_cmds::logs(args)
    }
}

/// What the command line asks for.
struct Asked {
    request: LogsRequest,
    timeout: Duration,
}

fn parse(args: &mut lexopt::Parser, flags: &mut Flags) -> Result<Asked, CliError> {
    let (mut pod, mut container, mut tail) = (None, None, None);
    let (mut previous, mut timestamps, mut timeout) = (false, false, ANSWER_TIMEOUT);
    let mut follow = false;
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Short('c') | Long("container") => container = Some(args.value()?.string()?),
            Short('p') | Long("previous") => previous = true,
            Long("timestamps") => timestamps = true,
            Long("tail") => tail = Some(number(args, "--tail")?),
            Long("timeout") => timeout = Duration::from_secs(number(args, "--timeout")?.into()),
            Short('f') | Long("follow") => follow = true,
            Long(n) if Flags::takes(n) => {
                let n = n.to_owned();
                remote::setting(flags, &n, args)?;
            }
            Value(v) if pod.is_none() => pod = Some(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let pod = pod.ok_or_else(|| CliError::Usage("logs needs a POD".into()))?;
    if follow && previous {
        return Err(CliError::Usage(
            "--follow reads the current instance: it does not go with --previous".into(),
        ));
    }
    let dns = |what: &str, s: &str| {
        if is_dns_label(s) {
            Ok(name(s).unwrap_or_default())
        } else {
            Err(CliError::Usage(format!("{what} {s:?} is not a DNS label")))
        }
    };
    let request = LogsRequest {
        id: request_id().as_str().try_into().unwrap_or_default(),
        pod: dns("pod name", &pod)?,
        container: container.map(|c| dns("container name", &c)).transpose()?,
        tail,
        previous,
        timestamps,
        follow: follow.then(Follow::default),
    };
    Ok(Asked { request, timeout })
}

fn number(args: &mut lexopt::Parser, what: &str) -> Result<u32, CliError> {
    let v = args.value()?.string()?;
    v.parse()
        .map_err(|_| CliError::Usage(format!("{what} needs a whole number, not {v:?}")))
}

/// A fresh id: this process and the time, in hex (the reply topic's last level).
fn request_id() -> String {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:x}-{:x}{:08x}",
        std::process::id(),
        t.as_secs(),
        t.subsec_nanos()
    )
}

fn remote_logs(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut flags = Flags::default();
    let asked = parse(&mut args, &mut flags)?;
    let (settings, nodes) = remote::settings(&flags, true)?;
    let [node] = nodes.as_slice() else {
        return Err(CliError::Usage("logs reads one node: --node NAME".into()));
    };
    let topics = Topics::new(&settings.prefix, node);
    let request = asked.request;
    let reply = topics.logs_reply(&request.id);
    let mut op = remote::connect(&settings)?;
    // Subscribed before the request goes out, so the answer cannot pass unseen.
    op.subscribe(std::slice::from_ref(&reply)).map_err(failed)?;
    op.publish(&topics.logs_request(), &spec::encode(&request), false)
        .map_err(failed)?;
    if request.follow.is_some() {
        let result = follow(&mut op, &topics, request, asked.timeout);
        op.disconnect();
        return result;
    }
    let deadline = std::time::Instant::now() + asked.timeout;
    let answer = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            let why = why_silent(&mut op, &topics);
            op.disconnect();
            return Err(CliError::Failed(format!(
                "no answer from node {node} within {}s: {why}",
                asked.timeout.as_secs()
            )));
        }
        let Some(m) = op.next(left).map_err(failed)? else {
            continue;
        };
        if m.topic != reply {
            continue;
        }
        match spec::decode::<LogsResponse>(&m.payload) {
            Ok(a) if a.id == request.id => break a,
            Ok(_) => {}
            Err(e) => {
                op.disconnect();
                return Err(failed(format!(
                    "node {node} answered with a bad message: {e}"
                )));
            }
        }
    };
    op.disconnect();
    match answer.result {
        LogsResult::Text(t) => {
            let mut out = std::io::stdout().lock();
            out.write_all(&t.text)
                .and_then(|()| out.flush())
                .map_err(|e| failed(format!("write the logs: {e}")))?;
            if t.truncated {
                eprintln!(
                    "pealet: only the newest {} KiB of the logs of {}/{}; older lines were left out",
                    MAX_LOG_TEXT / 1024,
                    request.pod,
                    t.container
                );
            }
            Ok(())
        }
        LogsResult::Error(e) => Err(CliError::Failed(format!(
            "node {node}: {} ({})",
            e.message,
            e.reason.as_str()
        ))),
        LogsResult::Chunk(_) => Err(failed(format!(
            "node {node} answered a plain request with a follow's chunk"
        ))),
    }
}

/// `logs --node N -f`, once the first request is out: prints each chunk, renews the
/// request every [`FOLLOW_RENEW`] (with the cursor of the last chunk), and ends with
/// the follow. No answer for `first` at the start, or for a lease later (the node
/// answers every renewal), means the node is gone.
fn follow(
    op: &mut Operator,
    topics: &Topics,
    mut request: LogsRequest,
    first: Duration,
) -> Result<(), CliError> {
    let node = topics.node_name().to_owned();
    let reply = topics.logs_reply(&request.id);
    let mut out = std::io::stdout().lock();
    let mut last: Option<u32> = None;
    let mut heard = Instant::now();
    let mut silence = first;
    let mut renew = Instant::now() + FOLLOW_RENEW;
    loop {
        let now = Instant::now();
        if now >= renew {
            op.publish(&topics.logs_request(), &spec::encode(&request), false)
                .map_err(failed)?;
            renew = Instant::now() + FOLLOW_RENEW;
        }
        let quiet = heard + silence;
        if now >= quiet {
            let why = why_silent(op, topics);
            return Err(CliError::Failed(format!(
                "no answer from node {node} for {}s: {why}",
                silence.as_secs()
            )));
        }
        let wait = renew.min(quiet).saturating_duration_since(now);
        let Some(m) = op.next(wait).map_err(failed)? else {
            continue;
        };
        if m.topic != reply {
            continue;
        }
        let answer = match spec::decode::<LogsResponse>(&m.payload) {
            Ok(a) if a.id == request.id => a,
            Ok(_) => continue,
            Err(e) => {
                return Err(failed(format!(
                    "node {node} answered with a bad message: {e}"
                )));
            }
        };
        heard = Instant::now();
        silence = FOLLOW_LEASE;
        let chunk = match answer.result {
            LogsResult::Chunk(c) => c,
            LogsResult::Error(e) => {
                return Err(CliError::Failed(format!(
                    "node {node}: {} ({})",
                    e.message,
                    e.reason.as_str()
                )));
            }
            LogsResult::Text(t) => {
                // An agent that answers the request but does not follow.
                write_out(&mut out, &t.text)?;
                return Err(failed(format!(
                    "node {node} sent the logs but does not follow them"
                )));
            }
        };
        note_gaps(&request, &chunk, last);
        write_out(&mut out, &chunk.text)?;
        last = Some(chunk.seq);
        request.follow = Some(Follow {
            after: Some(chunk.cursor),
        });
        match chunk.end {
            None => {}
            Some(FollowEnd::Busy) => {
                return Err(failed(format!(
                    "node {node} follows as many logs as it allows at once; try again later"
                )));
            }
            Some(end) => {
                let why = match end {
                    FollowEnd::PodGone => "the pod was deleted",
                    FollowEnd::ContainerGone => "the pod no longer has this container",
                    _ => "the pod finished",
                };
                eprintln!("pealet: {why}; stopped following {}", request.pod);
                return Ok(());
            }
        }
    }
}

/// Says on standard error when output was left out or chunks were lost on the way.
fn note_gaps(request: &LogsRequest, chunk: &LogChunk, last: Option<u32>) {
    let pod = &request.pod;
    match last {
        None if chunk.skipped => eprintln!(
            "pealet: only the newest {} KiB of the logs of {pod}/{}; older lines were left out",
            MAX_LOG_TEXT / 1024,
            chunk.container
        ),
        None => {}
        Some(_) if chunk.seq == 0 => {
            eprintln!("pealet: node started following {pod} again (its agent restarted?)");
        }
        Some(l) if chunk.seq != l.wrapping_add(1) => {
            let lost = chunk.seq.wrapping_sub(l).wrapping_sub(1);
            eprintln!("pealet: {lost} answers about {pod} were lost on the way");
        }
        Some(_) if chunk.skipped => {
            eprintln!("pealet: output of {pod} was skipped (over the rate limit, or rotated out)");
        }
        Some(_) => {}
    }
}

fn write_out(out: &mut impl Write, text: &[u8]) -> Result<(), CliError> {
    out.write_all(text)
        .and_then(|()| out.flush())
        .map_err(|e| failed(format!("write the logs: {e}")))
}

/// Why a node may not have answered, from its retained NodeStatus.
fn why_silent(op: &mut Operator, topics: &Topics) -> String {
    let status = op.retained(&[topics.node()]).ok().and_then(|msgs| {
        let m = msgs.into_iter().find(|m| !m.payload.is_empty())?;
        spec::decode::<NodeStatus>(&m.payload).ok()
    });
    match status {
        None => "the broker holds no status of this node: is the node name (and --prefix) \
                 right, and has its agent ever connected?"
            .into(),
        Some(n) if !n.online => format!(
            "the node is offline (its agent is not connected; last heartbeat {})",
            n.heartbeat
        ),
        Some(_) => "the node is online: its agent may be busy, or too old to answer \
                    remote-logs requests"
            .into(),
    }
}
