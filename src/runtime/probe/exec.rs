//! The kubelet's reading of an exec probe's or hook's result. The shim runs the
//! command (a process in the container's namespaces); this only maps how it ended.

use super::ProbeOutcome;
use crate::spec::LifecycleHandler;

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

/// The kubelet's message for a hook that failed (`handlers.go`): the handler, the
/// container, the pod as `name_namespace(uid)`, the error, and for exec the command's
/// output. `exec` is how an exec hook ended, with its output; `error` is the failure's
/// own message otherwise.
pub fn hook_failure_message(
    handler: &LifecycleHandler,
    container: &str,
    pod: &str,
    error: &str,
    exec: Option<(ExecResult, &[u8])>,
) -> String {
    match handler {
        LifecycleHandler::Exec { command } => {
            let argv: Vec<&str> = command.iter().map(|a| &**a).collect();
            let (error, output) = match exec {
                Some((result, output)) => {
                    let error = exec_outcome(&argv, result, b"").message.unwrap_or_default();
                    let output = &output[..output.len().min(MAX_EXEC_OUTPUT)];
                    (error, String::from_utf8_lossy(output).into_owned())
                }
                None => (error.to_string(), String::new()),
            };
            format!(
                "Exec lifecycle hook ([{}]) for Container {container:?} in Pod {pod:?} failed - error: {error}, message: {output:?}",
                argv.join(" ")
            )
        }
        LifecycleHandler::HttpGet(get) => format!(
            "HTTP lifecycle hook ({}) for Container {container:?} in Pod {pod:?} failed - error: {error}",
            get.path.as_deref().unwrap_or("")
        ),
        LifecycleHandler::Sleep { seconds } => format!(
            "Sleep lifecycle hook ({seconds}) for Container {container:?} in Pod {pod:?} failed - error: {error}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::bounded::{BoundedVec, Text};

    #[test]
    fn hook_failures_read_like_the_kubelet() {
        let command = ["sh", "-c", "echo broken; exit 3"]
            .iter()
            .map(|a| Text::try_from(*a).unwrap())
            .collect::<Vec<_>>();
        let exec = LifecycleHandler::Exec {
            command: BoundedVec::try_from(command).unwrap(),
        };
        assert_eq!(
            hook_failure_message(
                &exec,
                "c",
                "p_default(u1)",
                "",
                Some((ExecResult::Exited(3), b"broken\n"))
            ),
            "Exec lifecycle hook ([sh -c echo broken; exit 3]) for Container \"c\" in Pod \"p_default(u1)\" failed - error: command 'sh -c echo broken; exit 3' exited with 3, message: \"broken\\n\""
        );
        assert_eq!(
            hook_failure_message(
                &LifecycleHandler::Sleep { seconds: 5 },
                "c",
                "p_ns",
                "stopped",
                None
            ),
            "Sleep lifecycle hook (5) for Container \"c\" in Pod \"p_ns\" failed - error: stopped"
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
}
