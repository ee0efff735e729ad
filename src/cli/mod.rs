//! The command line: global options, the command table, help texts and exit codes.
//!
//! Exit status: 0 on success, 1 when the input is invalid or a command fails, 2 on a
//! usage error; a command whose output goes to a closed pipe ends as if killed by
//! SIGPIPE (141 in a shell), saying nothing (the daemons keep SIGPIPE ignored).
//! Each command lives in its own module; this one only dispatches.

mod agent_cmd;
mod apply_cmds;
mod get_cmds;
mod image_cmds;
mod image_pull;
mod input;
mod pod_cmds;
mod remote;
mod remote_logs;
mod runtime_cmds;
mod show;
mod show_cmds;
mod spec_cmds;

use std::ffi::OsString;
use std::fmt;
use std::process::ExitCode;

use crate::spec::codec::FORMAT_VERSION;
use crate::spec::signed::SIGNED_VERSION;

/// Everything a command can fail with, mapped once to an exit status in [`main`].
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad command line: exit 2.
    #[error("{0}\nRun 'pealet help' for usage.")]
    Usage(String),
    /// Invalid input: each line already says what is wrong; exit 1.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// A command that could not do its work: exit 1.
    #[error("{0}")]
    Failed(String),
    /// `--help` given to a command: [`run`] prints the command's help instead.
    #[error("help requested")]
    Help,
    /// Exit with this status and say nothing (`exec` passes its program's status on).
    #[error("exit status {0}")]
    Exit(u8),
}

/// Options that every command accepts, before or after its name.
#[derive(Debug, Clone)]
pub struct Globals {
    /// `--root DIR`: images, emptyDir volumes on disk.
    pub root: std::path::PathBuf,
    /// `--run-dir DIR`: shim sockets, status, logs.
    pub run_dir: std::path::PathBuf,
}

static GLOBALS: std::sync::OnceLock<Globals> = std::sync::OnceLock::new();

/// The global options of this invocation.
pub fn globals() -> &'static Globals {
    GLOBALS.get_or_init(Globals::default)
}

impl Default for Globals {
    fn default() -> Globals {
        Globals {
            root: crate::shim::state::DEFAULT_ROOT.into(),
            run_dir: crate::shim::state::DEFAULT_RUN_DIR.into(),
        }
    }
}

/// Take `--root` and `--run-dir` (`--opt VALUE` or `--opt=VALUE`) out of the arguments,
/// wherever they are before a `--`.
fn take_globals(args: Vec<OsString>) -> Result<(Globals, Vec<OsString>), CliError> {
    let mut g = Globals::default();
    let mut rest = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            rest.push(arg);
            rest.extend(it);
            break;
        }
        let text = arg.to_string_lossy().into_owned();
        let (name, inline) = match text.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(OsString::from(v))),
            None => (text.clone(), None),
        };
        let slot = match name.as_str() {
            "--root" => &mut g.root,
            "--run-dir" => &mut g.run_dir,
            _ => {
                rest.push(arg);
                continue;
            }
        };
        let value = inline
            .or_else(|| it.next())
            .ok_or_else(|| CliError::Usage(format!("missing argument for option '{name}'")))?;
        *slot = value.into();
    }
    Ok((g, rest))
}

impl From<lexopt::Error> for CliError {
    fn from(e: lexopt::Error) -> CliError {
        CliError::Usage(e.to_string())
    }
}

/// A command: its name, a one-line summary and its full help.
struct Command {
    name: &'static str,
    summary: &'static str,
    usage: &'static str,
    /// Internal commands that the runtime re-executes; not listed in the help.
    hidden: bool,
    /// Takes the broker settings (their help follows the usage).
    settings: bool,
    /// Runs for long and talks through sockets and pipes (agent and the runtime's
    /// internal processes): keeps SIGPIPE ignored, so a closed peer is an error it
    /// handles. Every other command dies quietly of SIGPIPE when its reader goes away.
    daemon: bool,
    run: fn(lexopt::Parser) -> Result<(), CliError>,
}

const COMMANDS: &[Command] = &[
    Command {
        name: "agent",
        summary: "run this device's pods as told through an MQTT broker, and static pods",
        usage: agent_cmd::AGENT_HELP,
        hidden: false,
        daemon: true,
        settings: true,
        run: agent_cmd::agent,
    },
    Command {
        name: "validate",
        summary: "check Kubernetes Pod manifests, reporting every problem at once",
        usage: spec_cmds::VALIDATE_HELP,
        hidden: false,
        daemon: false,
        settings: false,
        run: spec_cmds::validate,
    },
    Command {
        name: "encode",
        summary: "convert a Pod manifest to the compact spec that devices receive",
        usage: spec_cmds::ENCODE_HELP,
        hidden: false,
        daemon: false,
        settings: false,
        run: spec_cmds::encode,
    },
    Command {
        name: "decode",
        summary: "show an encoded pod, status, node status or event as YAML or JSON",
        usage: spec_cmds::DECODE_HELP,
        hidden: false,
        daemon: false,
        settings: false,
        run: spec_cmds::decode,
    },
    Command {
        name: "run",
        summary: "start a pod from a manifest and follow its status",
        usage: pod_cmds::RUN_HELP,
        hidden: false,
        daemon: false,
        settings: false,
        run: pod_cmds::run,
    },
    Command {
        name: "ps",
        summary: "list the pods of this machine",
        usage: show_cmds::PS_HELP,
        hidden: false,
        daemon: false,
        settings: false,
        run: show_cmds::ps,
    },
    Command {
        name: "inspect",
        summary: "show a pod with its status in Kubernetes field names",
        usage: show_cmds::INSPECT_HELP,
        hidden: false,
        daemon: false,
        settings: false,
        run: show_cmds::inspect,
    },
    Command {
        name: "logs",
        summary: "print the logs of a container, here or on a node through the broker",
        usage: remote_logs::LOGS_HELP,
        hidden: false,
        daemon: false,
        settings: true,
        run: remote_logs::logs,
    },
    Command {
        name: "exec",
        summary: "run a command inside a running container",
        usage: pod_cmds::EXEC_HELP,
        hidden: false,
        daemon: false,
        settings: false,
        run: pod_cmds::exec,
    },
    Command {
        name: "stop",
        summary: "stop a pod gracefully: SIGTERM, grace period, SIGKILL",
        usage: pod_cmds::STOP_HELP,
        hidden: false,
        daemon: false,
        settings: false,
        run: pod_cmds::stop,
    },
    Command {
        name: "rm",
        summary: "remove a pod: stop it, then delete its state, cgroups and volumes",
        usage: pod_cmds::RM_HELP,
        hidden: false,
        daemon: false,
        settings: false,
        run: pod_cmds::rm,
    },
    Command {
        name: "shim",
        summary: "internal: run one pod (started by pealet run)",
        usage: runtime_cmds::SHIM_HELP,
        hidden: true,
        daemon: true,
        settings: false,
        run: runtime_cmds::shim,
    },
    Command {
        name: "enter",
        summary: "internal: run a program inside a running container",
        usage: runtime_cmds::ENTER_HELP,
        hidden: true,
        daemon: true,
        settings: false,
        run: runtime_cmds::enter,
    },
    Command {
        name: "apply",
        summary: "publish Pod manifests as a node's desired pods, printing what changed",
        usage: apply_cmds::APPLY_HELP,
        hidden: false,
        daemon: false,
        settings: true,
        run: apply_cmds::apply,
    },
    Command {
        name: "delete",
        summary: "delete a pod from a node's desired pods",
        usage: apply_cmds::DELETE_HELP,
        hidden: false,
        daemon: false,
        settings: true,
        run: apply_cmds::delete,
    },
    Command {
        name: "keygen",
        summary: "make an Ed25519 key to sign desired state; print its public key",
        usage: apply_cmds::KEYGEN_HELP,
        hidden: false,
        daemon: false,
        settings: false,
        run: apply_cmds::keygen,
    },
    Command {
        name: "get",
        summary: "list the pods of nodes, or the nodes, as the broker holds them",
        usage: get_cmds::GET_HELP,
        hidden: false,
        daemon: false,
        settings: true,
        run: get_cmds::get,
    },
    Command {
        name: "describe",
        summary: "show a pod's status in detail: conditions, containers, probes",
        usage: get_cmds::DESCRIBE_HELP,
        hidden: false,
        daemon: false,
        settings: true,
        run: get_cmds::describe,
    },
    Command {
        name: "init",
        summary: "internal: set up one container process and execute its program",
        usage: runtime_cmds::INIT_HELP,
        hidden: true,
        daemon: true,
        settings: false,
        run: runtime_cmds::init,
    },
    Command {
        name: "reap",
        summary: "internal: PID 1 of a pod's shared PID namespace",
        usage: runtime_cmds::REAP_HELP,
        hidden: true,
        daemon: true,
        settings: false,
        run: runtime_cmds::reap,
    },
    Command {
        name: "sandbox",
        summary: "internal: create and hold a pod sandbox",
        usage: runtime_cmds::SANDBOX_HELP,
        hidden: true,
        daemon: true,
        settings: false,
        run: runtime_cmds::sandbox,
    },
    Command {
        name: "image",
        summary: "pull, import, list, remove and prune images in the local store",
        usage: image_cmds::IMAGE_HELP,
        hidden: false,
        daemon: false,
        settings: false,
        run: image_cmds::image,
    },
];

struct Version;

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pealet {} (wire format {FORMAT_VERSION}, signed {SIGNED_VERSION}, {}-{})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS
        )
    }
}

fn general_help() -> String {
    let mut s = String::from(
        "pealet: a kubelet and container runtime in one small binary, managed over MQTT\n\n\
         Usage: pealet [--version] [--help] <command> [options]\n\nCommands:\n",
    );
    for c in COMMANDS.iter().filter(|c| !c.hidden) {
        s.push_str(&format!("  {:<10} {}\n", c.name, c.summary));
    }
    s.push_str(&format!(
        "  {:<10} {}\n",
        "help", "show help for pealet or for one command"
    ));
    s.push_str(
        "\nGlobal options, before or after the command:\n  \
         --root DIR      images and volumes on disk (default /var/lib/pealet)\n  \
         --run-dir DIR   shim sockets, status and logs (default /run/pealet)\n\
         \nRun 'pealet <command> --help' for the options of a command.\n\
         Logging: set PEALET_LOG (e.g. PEALET_LOG=debug) to see what pealet does.\n",
    );
    s
}

fn usage(c: &Command) -> String {
    if c.settings {
        format!("{}\n{}", c.usage, crate::config::FLAGS_HELP)
    } else {
        c.usage.to_owned()
    }
}

fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

fn run(args: Vec<OsString>) -> Result<(), CliError> {
    use lexopt::prelude::*;
    let (g, args) = take_globals(args)?;
    let _ = GLOBALS.set(g);
    let mut parser = lexopt::Parser::from_args(args);
    // Broker settings given before the command are handed to it as if given after.
    let mut settings: Vec<OsString> = Vec::new();
    // Global options come first; the first free word is the command.
    while let Some(arg) = parser.next()? {
        match arg {
            Long(name) if crate::config::Flags::takes(name) => {
                let name = format!("--{name}");
                settings.push(name.into());
                settings.push(parser.value()?);
            }
            Short('V') | Long("version") => {
                crate::sys::default_sigpipe();
                println!("{Version}");
                return Ok(());
            }
            Short('h') | Long("help") => {
                crate::sys::default_sigpipe();
                print!("{}", general_help());
                return Ok(());
            }
            Value(cmd) => {
                let cmd = cmd.string()?;
                if cmd == "help" {
                    crate::sys::default_sigpipe();
                    return help(parser);
                }
                let command = find(&cmd)
                    .ok_or_else(|| CliError::Usage(format!("unknown command {cmd:?}")))?;
                if !command.daemon {
                    crate::sys::default_sigpipe();
                }
                let rest = settings.into_iter().chain(parser.raw_args()?);
                return match (command.run)(lexopt::Parser::from_args(rest)) {
                    Err(CliError::Help) => {
                        print!("{}", usage(command));
                        Ok(())
                    }
                    other => other,
                };
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    Err(CliError::Usage("no command given".into()))
}

fn help(mut parser: lexopt::Parser) -> Result<(), CliError> {
    use lexopt::prelude::*;
    match parser.next()? {
        None => print!("{}", general_help()),
        Some(Value(name)) => {
            let name = name.string()?;
            let command = find(&name)
                .ok_or_else(|| CliError::Usage(format!("no help for unknown command {name:?}")))?;
            print!("{}", usage(command));
        }
        Some(arg) => return Err(arg.unexpected().into()),
    }
    Ok(())
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    init_log(command_of(&args) == Some("agent"));
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ CliError::Usage(_)) => {
            eprintln!("pealet: {e}");
            ExitCode::from(2)
        }
        Err(CliError::Invalid(lines)) => {
            for line in lines {
                eprintln!("{line}");
            }
            ExitCode::from(1)
        }
        Err(CliError::Exit(code)) => ExitCode::from(code),
        Err(e @ (CliError::Failed(_) | CliError::Help)) => {
            eprintln!("pealet: {e}");
            ExitCode::from(1)
        }
    }
}

/// The command word: the first argument that is neither an option nor the value of a
/// global option given before it (`--root DIR`, `--run-dir DIR`).
fn command_of(args: &[OsString]) -> Option<&str> {
    let mut words = args.iter().map(|a| a.to_str());
    while let Some(word) = words.next() {
        match word? {
            "--root" | "--run-dir" => {
                words.next();
            }
            w if w.starts_with('-') => {}
            w => return Some(w),
        }
    }
    None
}

/// The log: `PEALET_LOG` (env_logger syntax) or, by default, what the agent does at
/// info level (connects, disconnects, pod starts, stops and removals, refusals, store
/// failures: one line each) and only errors for the other commands (they print what
/// they have to say themselves). When stderr is not a terminal (a service: journald, a
/// file), each line starts with its syslog priority (`<6>`), which journald turns into
/// the entry's priority, and carries no timestamp or colour of its own.
fn init_log(agent: bool) {
    use std::io::{IsTerminal, Write};
    let default = if agent { "info" } else { "error" };
    let mut b =
        env_logger::Builder::from_env(env_logger::Env::new().filter_or("PEALET_LOG", default));
    if !std::io::stderr().is_terminal() {
        b.format(|buf, record| {
            let priority = match record.level() {
                log::Level::Error => 3,
                log::Level::Warn => 4,
                log::Level::Info => 6,
                log::Level::Debug | log::Level::Trace => 7,
            };
            writeln!(buf, "<{priority}>{}: {}", record.target(), record.args())
        });
    }
    b.init();
}

#[cfg(test)]
mod tests {
    use super::command_of;
    use std::ffi::OsString;

    #[test]
    fn the_command_word_is_found_after_global_options() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(command_of(&args(&["agent", "--node", "a"])), Some("agent"));
        let global = args(&["--root", "/r", "--run-dir", "/x", "agent"]);
        assert_eq!(command_of(&global), Some("agent"));
        assert_eq!(command_of(&args(&["--root", "agent", "get"])), Some("get"));
        assert_eq!(command_of(&args(&["--help"])), None);
    }
}
