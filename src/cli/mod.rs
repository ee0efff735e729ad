//! The command line: global options, the command table, help texts and exit codes.
//!
//! Exit status: 0 on success, 1 when the input is invalid or a command fails, 2 on a
//! usage error. Each command lives in its own module; this one only dispatches.

mod apply_cmds;
mod get_cmds;
mod input;
mod remote;
mod runtime_cmds;
mod show;
mod spec_cmds;

use std::ffi::OsString;
use std::fmt;
use std::process::ExitCode;

use crate::spec::codec::FORMAT_VERSION;

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
    run: fn(lexopt::Parser) -> Result<(), CliError>,
}

const COMMANDS: &[Command] = &[
    Command {
        name: "validate",
        summary: "check Kubernetes Pod manifests, reporting every problem at once",
        usage: spec_cmds::VALIDATE_HELP,
        hidden: false,
        settings: false,
        run: spec_cmds::validate,
    },
    Command {
        name: "encode",
        summary: "convert a Pod manifest to the compact spec that devices receive",
        usage: spec_cmds::ENCODE_HELP,
        hidden: false,
        settings: false,
        run: spec_cmds::encode,
    },
    Command {
        name: "decode",
        summary: "show an encoded pod, status, node status or event as YAML or JSON",
        usage: spec_cmds::DECODE_HELP,
        hidden: false,
        settings: false,
        run: spec_cmds::decode,
    },
    Command {
        name: "apply",
        summary: "publish Pod manifests as a node's desired pods, printing what changed",
        usage: apply_cmds::APPLY_HELP,
        hidden: false,
        settings: true,
        run: apply_cmds::apply,
    },
    Command {
        name: "delete",
        summary: "delete a pod from a node's desired pods",
        usage: apply_cmds::DELETE_HELP,
        hidden: false,
        settings: true,
        run: apply_cmds::delete,
    },
    Command {
        name: "get",
        summary: "list the pods of nodes, or the nodes, as the broker holds them",
        usage: get_cmds::GET_HELP,
        hidden: false,
        settings: true,
        run: get_cmds::get,
    },
    Command {
        name: "describe",
        summary: "show a pod's status in detail: conditions, containers, probes",
        usage: get_cmds::DESCRIBE_HELP,
        hidden: false,
        settings: true,
        run: get_cmds::describe,
    },
    Command {
        name: "init",
        summary: "internal: set up one container process and execute its program",
        usage: runtime_cmds::INIT_HELP,
        hidden: true,
        settings: false,
        run: runtime_cmds::init,
    },
    Command {
        name: "sandbox",
        summary: "internal: create and hold a pod sandbox",
        usage: runtime_cmds::SANDBOX_HELP,
        hidden: true,
        settings: false,
        run: runtime_cmds::sandbox,
    },
];

struct Version;

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pealet {} (wire format {FORMAT_VERSION}, {}-{})",
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
        "\nRun 'pealet <command> --help' for the options of a command.\n\
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
                println!("{Version}");
                return Ok(());
            }
            Short('h') | Long("help") => {
                print!("{}", general_help());
                return Ok(());
            }
            Value(cmd) => {
                let cmd = cmd.string()?;
                if cmd == "help" {
                    return help(parser);
                }
                let command = find(&cmd)
                    .ok_or_else(|| CliError::Usage(format!("unknown command {cmd:?}")))?;
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
    env_logger::Builder::from_env(env_logger::Env::new().filter("PEALET_LOG")).init();
    match run(std::env::args_os().skip(1).collect()) {
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
        Err(e @ (CliError::Failed(_) | CliError::Help)) => {
            eprintln!("pealet: {e}");
            ExitCode::from(1)
        }
    }
}
