//! Probes and hook handlers as non-blocking state machines for the shim's poll loop:
//! tcpSocket and httpGet over one non-blocking socket each, sleep as a bare deadline.
//!
//! A [`ProbeRun`] shows at most one fd with the [`Interest`] it waits for, and a
//! monotonic deadline. The loop calls [`ProbeRun::advance`] when the fd is ready or the
//! deadline has passed (spurious calls are fine) and gets a [`ProbeOutcome`] exactly
//! once. The fd may change after an `advance` (a redirect opens a new connection), so
//! the loop asks for it again every round. No threads, no async runtime, no blocking
//! call: a run that cannot start (unknown port name, https, a host name) is reported by
//! its first `advance`, at once.
//!
//! Not here: exec probes and hooks, which the shim runs as a process in the container's
//! namespaces ([`exec_outcome`] maps their result), and the probe schedule and
//! thresholds, which are `lifecycle`'s.
//!
//! Targets: without `host` a probe goes to the pod IP. The shim lives in the pod's
//! network namespace, so when no pod IP is known it uses 127.0.0.1, which reaches the
//! same listeners unless the application binds only to the pod IP. Host names other
//! than `localhost` are not looked up (a DNS query would block the loop): such probes
//! fail with a message that says so. Messages follow the kubelet's (Go's) wording.

mod http;
mod response;
mod tcp;
pub mod termination;
mod url;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::BorrowedFd;

use crate::spec::{ContainerPort, LifecycleHandler, PortRef, ProbeHandler};

pub use http::{HttpRequest, Purpose};

/// The Kubernetes version whose behaviour we follow; it is the `<major.minor>` of the
/// `User-Agent: kube-probe/<major.minor>` (and `kube-lifecycle/`) header that
/// applications may check.
pub const KUBE_VERSION: &str = "1.34";

/// The result of one probe or hook run, as [`crate::lifecycle::Event::ProbeDone`] and
/// `HookDone` carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub success: bool,
    /// Why it failed; on success only a warning (a redirect the probe did not follow).
    pub message: Option<String>,
}

impl ProbeOutcome {
    pub fn success() -> ProbeOutcome {
        ProbeOutcome {
            success: true,
            message: None,
        }
    }

    pub fn failure(message: impl Into<String>) -> ProbeOutcome {
        ProbeOutcome {
            success: false,
            message: Some(message.into()),
        }
    }
}

/// What a run's fd waits for: `POLLOUT` or `POLLIN` (errors and hang-ups always wake).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    Readable,
    Writable,
}

/// Why a probe could not even start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("port {name:?} not found in the container's ports")]
    PortNotFound { name: String },
    #[error("invalid port number: {port}")]
    InvalidPort { port: u32 },
    #[error("dial tcp: lookup {host}: host names other than localhost are not resolved by probes")]
    HostName { host: String },
}

/// Where a probe of one container goes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The pod's IP, when the sandbox knows it.
    pub pod_ip: Option<IpAddr>,
    /// The container's `ports`, for ports given by name.
    pub ports: &'a [ContainerPort],
}

/// A port by number, or by the name of one of the container's ports (any protocol, as
/// the kubelet does); a name made of digits is a number.
pub fn resolve_port(port: &PortRef, ports: &[ContainerPort]) -> Result<u16, ProbeError> {
    let n = match port {
        PortRef::Number(n) => u32::from(*n),
        PortRef::Name(name) => match ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
        {
            Some(p) => u32::from(p.container_port),
            None => name.parse::<u32>().map_err(|_| ProbeError::PortNotFound {
                name: name.to_string(),
            })?,
        },
    };
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(ProbeError::InvalidPort { port: n }),
    }
}

/// The address a probe connects to: `host` as an IP address (`localhost` and `[::1]`
/// too), else the pod IP, else 127.0.0.1 (see the module notes).
pub fn resolve_host(host: Option<&str>, pod_ip: Option<IpAddr>) -> Result<IpAddr, ProbeError> {
    let host = match host {
        Some(h) if !h.is_empty() => h,
        _ => return Ok(pod_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))),
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip);
    }
    if bare.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    Err(ProbeError::HostName {
        host: host.to_string(),
    })
}

/// One probe or hook in progress.
#[derive(Debug)]
pub struct ProbeRun {
    deadline: u64,
    state: State,
}

#[derive(Debug)]
enum State {
    Tcp(tcp::TcpRun),
    Http(Box<http::HttpRun>),
    /// A sleep hook; `done` is the outcome at the deadline.
    Sleep {
        done: ProbeOutcome,
    },
    /// Known before any I/O; reported by the first `advance`.
    Ready(ProbeOutcome),
    Finished,
}

impl ProbeRun {
    /// A run for a probe's handler; `None` for exec, which the shim runs itself.
    pub fn for_probe(
        handler: &ProbeHandler,
        target: &Target,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Option<ProbeRun> {
        let run = match handler {
            ProbeHandler::Exec { .. } => return None,
            ProbeHandler::TcpSocket { host, port } => {
                let addr = resolve_port(port, target.ports).and_then(|port| {
                    resolve_host(host.as_deref(), target.pod_ip).map(|ip| SocketAddr::new(ip, port))
                });
                match addr {
                    Ok(addr) => ProbeRun::tcp(addr, now_ms, timeout_ms),
                    Err(e) => ProbeRun::ready(ProbeOutcome::failure(e.to_string()), now_ms),
                }
            }
            ProbeHandler::HttpGet(get) => match HttpRequest::new(get, target, Purpose::Probe) {
                Ok(req) => ProbeRun::http(req, now_ms, timeout_ms),
                Err(e) => ProbeRun::ready(ProbeOutcome::failure(e.to_string()), now_ms),
            },
        };
        Some(run)
    }

    /// A run for a postStart or preStop handler; `None` for exec.
    pub fn for_hook(
        handler: &LifecycleHandler,
        target: &Target,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Option<ProbeRun> {
        let run = match handler {
            LifecycleHandler::Exec { .. } => return None,
            LifecycleHandler::Sleep { seconds } => {
                ProbeRun::sleep(seconds.saturating_mul(1000), now_ms, timeout_ms)
            }
            LifecycleHandler::HttpGet(get) => {
                match HttpRequest::new(get, target, Purpose::Lifecycle) {
                    Ok(req) => ProbeRun::http(req, now_ms, timeout_ms),
                    Err(e) => ProbeRun::ready(ProbeOutcome::failure(e.to_string()), now_ms),
                }
            }
        };
        Some(run)
    }

    /// Succeeds once a TCP connection to `addr` is established.
    pub fn tcp(addr: SocketAddr, now_ms: u64, timeout_ms: u64) -> ProbeRun {
        let deadline = now_ms.saturating_add(timeout_ms);
        match tcp::TcpRun::start(addr) {
            Ok(run) => ProbeRun {
                deadline,
                state: State::Tcp(run),
            },
            Err(outcome) => ProbeRun::ready(outcome, now_ms),
        }
    }

    /// An HTTP GET; see [`HttpRequest`] for what counts as success.
    pub fn http(request: HttpRequest, now_ms: u64, timeout_ms: u64) -> ProbeRun {
        let deadline = now_ms.saturating_add(timeout_ms);
        match http::HttpRun::start(request) {
            Ok(run) => ProbeRun {
                deadline,
                state: State::Http(Box::new(run)),
            },
            Err(outcome) => ProbeRun::ready(outcome, now_ms),
        }
    }

    /// A sleep hook: succeeds after `sleep_ms`, or fails at `timeout_ms` if that is
    /// shorter (the grace period ran out first).
    pub fn sleep(sleep_ms: u64, now_ms: u64, timeout_ms: u64) -> ProbeRun {
        let (wait, done) = if sleep_ms <= timeout_ms {
            (sleep_ms, ProbeOutcome::success())
        } else {
            let msg = format!("sleep hook of {sleep_ms}ms did not finish within {timeout_ms}ms");
            (timeout_ms, ProbeOutcome::failure(msg))
        };
        ProbeRun {
            deadline: now_ms.saturating_add(wait),
            state: State::Sleep { done },
        }
    }

    fn ready(outcome: ProbeOutcome, now_ms: u64) -> ProbeRun {
        ProbeRun {
            deadline: now_ms,
            state: State::Ready(outcome),
        }
    }

    /// The fd to poll, if the run waits for one.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.state {
            State::Tcp(run) => Some(run.fd()),
            State::Http(run) => run.fd(),
            State::Sleep { .. } | State::Ready(_) | State::Finished => None,
        }
    }

    /// What [`ProbeRun::fd`] waits for.
    pub fn interest(&self) -> Interest {
        match &self.state {
            State::Http(run) => run.interest(),
            State::Tcp(_) | State::Sleep { .. } | State::Ready(_) | State::Finished => {
                Interest::Writable
            }
        }
    }

    /// Monotonic milliseconds at which the run times out; `u64::MAX` once finished.
    pub fn deadline(&self) -> u64 {
        match self.state {
            State::Finished => u64::MAX,
            _ => self.deadline,
        }
    }

    /// Makes what progress the socket allows without blocking; returns the outcome
    /// once, when the run ends (done, failed, or past its deadline).
    pub fn advance(&mut self, now_ms: u64) -> Option<ProbeOutcome> {
        let timed_out = now_ms >= self.deadline;
        let outcome = match &mut self.state {
            State::Finished => return None,
            State::Ready(outcome) => Some(outcome.clone()),
            State::Sleep { done } => timed_out.then(|| done.clone()),
            State::Tcp(run) => run.advance().or_else(|| timed_out.then(|| run.timeout())),
            State::Http(run) => run.advance().or_else(|| timed_out.then(|| run.timeout())),
        };
        if outcome.is_some() {
            // Dropping the run closes its socket.
            self.state = State::Finished;
        }
        outcome
    }
}

/// How an exec probe or hook ended, as the shim saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecResult {
    Exited(i32),
    /// Killed by this signal (reported as 128 + signal, as shells do).
    Signaled(i32),
    /// Still running at its deadline (the shim kills it).
    TimedOut,
}

/// At most this much of a command's output goes into a failure message.
pub const MAX_EXEC_OUTPUT: usize = 1024;

/// The kubelet's reading of an exec result: exit 0 succeeds; anything else fails with
/// the CRI runtime's wording and the start of the command's output.
pub fn exec_outcome(command: &[&str], result: ExecResult, output: &[u8]) -> ProbeOutcome {
    let cmd = command.join(" ");
    let code = match result {
        ExecResult::Exited(0) => return ProbeOutcome::success(),
        ExecResult::Exited(code) => code,
        ExecResult::Signaled(sig) => 128 + sig,
        ExecResult::TimedOut => return ProbeOutcome::failure(format!("command {cmd:?} timed out")),
    };
    let out = &output[..output.len().min(MAX_EXEC_OUTPUT)];
    let out = String::from_utf8_lossy(out);
    let out = out.trim_end();
    if out.is_empty() {
        ProbeOutcome::failure(format!("command '{cmd}' exited with {code}"))
    } else {
        ProbeOutcome::failure(format!("command '{cmd}' exited with {code}: {out}"))
    }
}

/// Go's text for an errno: the C library's message, starting lower case.
fn errno_text(errno: rustix::io::Errno) -> String {
    let text = std::io::Error::from_raw_os_error(errno.raw_os_error()).to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("errno {}", errno.raw_os_error()),
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod unit {
    use super::*;
    use crate::spec::Protocol;

    fn port(name: &str, n: u16) -> ContainerPort {
        ContainerPort {
            name: Some(name.try_into().unwrap()),
            container_port: n,
            host_port: None,
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn ports_resolve_by_number_and_name() {
        let ports = [port("http", 8080), port("metrics", 9090)];
        let name = |s: &str| PortRef::Name(s.try_into().unwrap());
        assert_eq!(resolve_port(&PortRef::Number(80), &ports), Ok(80));
        assert_eq!(resolve_port(&name("metrics"), &ports), Ok(9090));
        assert_eq!(resolve_port(&name("8081"), &ports), Ok(8081));
        assert_eq!(
            resolve_port(&name("grpc"), &ports),
            Err(ProbeError::PortNotFound {
                name: "grpc".into()
            })
        );
        assert_eq!(
            resolve_port(&PortRef::Number(0), &ports),
            Err(ProbeError::InvalidPort { port: 0 })
        );
        assert_eq!(
            resolve_port(&name("70000"), &ports),
            Err(ProbeError::InvalidPort { port: 70000 })
        );
    }

    #[test]
    fn hosts_default_to_the_pod_ip_then_loopback() {
        let pod: IpAddr = "10.1.2.3".parse().unwrap();
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(resolve_host(None, Some(pod)), Ok(pod));
        assert_eq!(resolve_host(Some(""), None), Ok(lo));
        assert_eq!(resolve_host(Some("localhost"), Some(pod)), Ok(lo));
        assert_eq!(
            resolve_host(Some("[::1]"), None),
            Ok("::1".parse().unwrap())
        );
        assert_eq!(
            resolve_host(Some("192.168.1.9"), None),
            Ok("192.168.1.9".parse().unwrap())
        );
        let err = resolve_host(Some("db.local"), None).unwrap_err();
        assert!(
            err.to_string().starts_with("dial tcp: lookup db.local:"),
            "{err}"
        );
    }

    #[test]
    fn exec_results_map_like_the_kubelet() {
        let cmd = ["sh", "-c", "exit 3"];
        assert_eq!(
            exec_outcome(&cmd, ExecResult::Exited(0), b"x"),
            ProbeOutcome::success()
        );
        assert_eq!(
            exec_outcome(&cmd, ExecResult::Exited(3), b""),
            ProbeOutcome::failure("command 'sh -c exit 3' exited with 3")
        );
        assert_eq!(
            exec_outcome(&cmd, ExecResult::Signaled(9), b"oops\n"),
            ProbeOutcome::failure("command 'sh -c exit 3' exited with 137: oops")
        );
        assert_eq!(
            exec_outcome(&cmd, ExecResult::TimedOut, b""),
            ProbeOutcome::failure("command \"sh -c exit 3\" timed out")
        );
        let long = vec![b'a'; 5000];
        let msg = exec_outcome(&cmd, ExecResult::Exited(1), &long)
            .message
            .unwrap();
        assert!(msg.len() < MAX_EXEC_OUTPUT + 64);
    }

    #[test]
    fn sleep_hooks_end_at_their_deadline() {
        let mut run = ProbeRun::sleep(2000, 100, 30_000);
        assert!(run.fd().is_none());
        assert_eq!(run.deadline(), 2100);
        assert_eq!(run.advance(2099), None);
        assert_eq!(run.advance(2100), Some(ProbeOutcome::success()));
        assert_eq!(run.advance(2200), None);
        assert_eq!(run.deadline(), u64::MAX);
        let mut cut = ProbeRun::sleep(60_000, 0, 5_000);
        assert_eq!(cut.deadline(), 5_000);
        assert!(!cut.advance(5_000).unwrap().success);
    }

    #[test]
    fn errno_text_reads_like_go() {
        assert_eq!(
            errno_text(rustix::io::Errno::CONNREFUSED),
            "connection refused"
        );
        assert_eq!(
            errno_text(rustix::io::Errno::NETUNREACH),
            "network is unreachable"
        );
    }

    #[test]
    fn exec_handlers_are_not_runs() {
        let exec = ProbeHandler::Exec {
            command: Default::default(),
        };
        let target = Target {
            pod_ip: None,
            ports: &[],
        };
        assert!(ProbeRun::for_probe(&exec, &target, 0, 1000).is_none());
    }

    #[test]
    fn a_probe_that_cannot_start_fails_on_its_first_advance() {
        let handler = ProbeHandler::TcpSocket {
            host: None,
            port: PortRef::Name("web".try_into().unwrap()),
        };
        let target = Target {
            pod_ip: None,
            ports: &[],
        };
        let mut run = ProbeRun::for_probe(&handler, &target, 50, 1000).unwrap();
        assert_eq!(run.deadline(), 50);
        assert!(run.fd().is_none());
        let out = run.advance(50).unwrap();
        assert!(!out.success);
        assert_eq!(
            out.message.as_deref(),
            Some("port \"web\" not found in the container's ports")
        );
    }
}
