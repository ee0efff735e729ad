//! Internal commands that the shim (and the tests) re-execute: `pealet init`, one
//! container process, and `pealet sandbox`, a bare holder of a pod's namespaces.

use std::io::{Read, Write};
use std::path::PathBuf;

use lexopt::prelude::*;

use super::CliError;
use crate::runtime::{init, sandbox};

pub const INIT_HELP: &str = "\
Usage: pealet init --fd N

Internal: becomes one container process. Reads a ContainerConfig frame from the
SOCK_SEQPACKET socket on fd N, sets the container up, reports Started or SetupFailed
frames on the same socket and executes the container's program.
";

pub const SANDBOX_HELP: &str = "\
Usage: pealet sandbox DIR HOSTNAME

Internal: creates a pod sandbox (network, IPC, UTS and mount namespaces, loopback
up, the hostname, /etc files and the shm tmpfs in DIR), prints 'ready' and holds it
until standard input is closed.
";

pub fn init(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut fd = None;
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Long("fd") => fd = Some(args.value()?.parse()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let fd = fd.ok_or_else(|| CliError::Usage("init: --fd is required".into()))?;
    // Success never returns here: the program has replaced this process.
    std::process::exit(i32::from(init::main(fd)));
}

pub fn sandbox(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut words = Vec::new();
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Value(v) => words.push(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let [dir, hostname] = <[String; 2]>::try_from(words)
        .map_err(|_| CliError::Usage("sandbox: DIR and HOSTNAME are required".into()))?;
    let spec = sandbox::SandboxSpec {
        hostname,
        ..sandbox::SandboxSpec::default()
    };
    sandbox::enter(&PathBuf::from(dir), &spec).map_err(|e| CliError::Failed(e.to_string()))?;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready").and_then(|()| out.flush());
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}
