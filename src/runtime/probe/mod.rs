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

mod exec;
mod http;
mod request;
pub mod response;
mod target;
mod tcp;
pub mod termination;
pub mod url;

use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

use crate::spec::{LifecycleHandler, ProbeHandler};

pub use exec::{ExecResult, MAX_EXEC_OUTPUT, exec_outcome, hook_failure_message};
pub use http::MAX_WARNING_BODY;
pub use request::{HttpRequest, Purpose};
pub use target::{ProbeError, Target, resolve_host, resolve_port};

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

/// Go's text for an errno: the C library's message, starting lower case.
fn errno_text(errno: rustix::io::Errno) -> String {
    use rustix::io::Errno;
    // Go's own texts (its syscall package, the same words as glibc's strerror) for what
    // a connect or read can give: libc's differ (musl, the release builds: "network
    // unreachable", "host is unreachable"), and the messages must read like the kubelet's.
    let go = match errno {
        Errno::CONNREFUSED => Some("connection refused"),
        Errno::NETUNREACH => Some("network is unreachable"),
        Errno::HOSTUNREACH => Some("no route to host"),
        Errno::TIMEDOUT => Some("connection timed out"),
        Errno::CONNRESET => Some("connection reset by peer"),
        Errno::CONNABORTED => Some("software caused connection abort"),
        Errno::NETDOWN => Some("network is down"),
        Errno::HOSTDOWN => Some("host is down"),
        Errno::ADDRNOTAVAIL => Some("cannot assign requested address"),
        Errno::ADDRINUSE => Some("address already in use"),
        Errno::PIPE => Some("broken pipe"),
        Errno::NOTCONN => Some("transport endpoint is not connected"),
        Errno::ACCESS => Some("permission denied"),
        Errno::PERM => Some("operation not permitted"),
        Errno::AFNOSUPPORT => Some("address family not supported by protocol"),
        Errno::NOBUFS => Some("no buffer space available"),
        Errno::MFILE => Some("too many open files"),
        _ => None,
    };
    if let Some(text) = go {
        return text.to_string();
    }
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
    use crate::spec::PortRef;

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
        assert_eq!(
            errno_text(rustix::io::Errno::HOSTUNREACH),
            "no route to host"
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
