//! `pealet validate`, `encode` and `decode`: manifests in, compact specs out, and back.

use std::io::{IsTerminal, Write};

use lexopt::prelude::*;

use super::CliError;
use super::input::{self, MAX_MANIFEST};
use crate::spec::bounded::MAX_PAYLOAD;
use crate::spec::manifest::{emit, read, write};
use crate::spec::{self, FieldError};

pub const VALIDATE_HELP: &str = "\
Usage: pealet validate FILE...

Reads Kubernetes Pod manifests (YAML or JSON, several documents per file allowed;
'-' is standard input) and checks them as the API server and the kubelet would.
Every problem is reported at once on standard error, one line each, as
'FILE: FIELD.PATH: what is wrong'. Fields that mean nothing on a single node
(nodeName, tolerations, dnsPolicy, ...) are accepted and listed in one warning.

Exit status: 0 when every pod is valid, 1 otherwise, 2 on a usage error.
";

pub const ENCODE_HELP: &str = "\
Usage: pealet encode [--hex] FILE

Reads one Pod manifest (YAML or JSON; '-' is standard input), validates it and
writes the compact spec that devices receive (postcard in a versioned envelope,
see docs/wire-format.md) to standard output.

Options:
  --hex     write the bytes as hexadecimal text instead of binary

Binary output is refused on a terminal: redirect it, or use --hex.
Exit status: 0 on success, 1 on invalid input, 2 on a usage error.
";

pub const DECODE_HELP: &str = "\
Usage: pealet decode [-o yaml|json] FILE

Reads an encoded message (binary, or the hexadecimal text of 'encode --hex';
'-' is standard input): a pod spec, a pod status, a node status or an event, and
prints it in Kubernetes field names. A signed message (format version 3: a pod, an
index or a deletion) has its signer, node, pod and generation printed on standard
error, unverified, then what it carries.

Options:
  -o, --output FORMAT   yaml (default) or json

Exit status: 0 on success, 1 when the bytes do not decode, 2 on a usage error.
";

pub fn validate(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut files = Vec::new();
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Value(v) => files.push(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    if files.is_empty() {
        return Err(CliError::Usage("validate needs at least one FILE".into()));
    }
    let mut problems = Vec::new();
    for file in &files {
        let name = input::display(file);
        match read_manifest(file) {
            Ok(pods) => {
                for p in pods {
                    println!("{name}: pod {} is valid", p.pod.name);
                }
            }
            Err(lines) => problems.extend(lines),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::Invalid(problems))
    }
}

pub fn encode(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut hex = false;
    let mut file = None;
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Long("hex") => hex = true,
            Value(v) if file.is_none() => file = Some(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let file = file.ok_or_else(|| CliError::Usage("encode needs a FILE".into()))?;
    let mut pods = read_manifest(&file).map_err(CliError::Invalid)?;
    if pods.len() != 1 {
        return Err(CliError::Invalid(vec![format!(
            "{}: holds {} pods; encode takes exactly one",
            input::display(&file),
            pods.len()
        )]));
    }
    let pod = pods.remove(0).pod;
    let bytes = spec::encode(&pod);
    if bytes.len() > MAX_PAYLOAD {
        return Err(CliError::Invalid(vec![format!(
            "{}: encodes to {} bytes, more than the limit of {MAX_PAYLOAD}",
            input::display(&file),
            bytes.len()
        )]));
    }
    let mut out = std::io::stdout().lock();
    let written = if hex {
        writeln!(out, "{}", input::to_hex(&bytes))
    } else if out.is_terminal() {
        return Err(CliError::Usage(
            "refusing to write binary to a terminal: redirect the output or use --hex".into(),
        ));
    } else {
        out.write_all(&bytes)
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Failed(format!("cannot write the encoded pod: {e}")))
}

pub fn decode(mut args: lexopt::Parser) -> Result<(), CliError> {
    let mut json = false;
    let mut file = None;
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Short('o') | Long("output") => {
                json = match args.value()?.string()?.as_str() {
                    "yaml" => false,
                    "json" => true,
                    other => {
                        return Err(CliError::Usage(format!(
                            "unknown output format {other:?}: use yaml or json"
                        )));
                    }
                }
            }
            Value(v) if file.is_none() => file = Some(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let file = file.ok_or_else(|| CliError::Usage("decode needs a FILE".into()))?;
    // Hex text of a maximal payload is twice its size, plus line breaks.
    let raw = input::read_limited(&file, 2 * MAX_PAYLOAD + 4096)?;
    let bytes = input::from_hex(&raw).unwrap_or(raw);
    let invalid =
        |e: spec::DecodeError| CliError::Invalid(vec![format!("{}: {e}", input::display(&file))]);
    // A signed message (version 3): its header on standard error, then what it carries.
    let inner = match spec::signed::is_signed(&bytes) {
        false => &bytes[..],
        true => {
            let env = spec::signed::open(&bytes).map_err(invalid)?;
            let h = &env.header;
            eprintln!(
                "signed {} for node {}{}, generation {}, key {} (signature not checked)",
                env.kind.as_str(),
                h.node.as_str(),
                h.pod
                    .as_ref()
                    .map(|p| format!(", pod {p}"))
                    .unwrap_or_default(),
                h.generation,
                h.key
            );
            env.message
        }
    };
    if inner.is_empty() {
        return Ok(()); // a signed Deletion carries nothing more
    }
    let msg = spec::decode_any(inner).map_err(invalid)?;
    let node = write::message(&msg);
    let text = if json {
        emit::to_json(&node)
    } else {
        emit::to_yaml(&node)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Failed(format!("cannot write the output: {e}")))
}

/// Reads and validates every pod in a manifest file. Warns once about fields ignored on a
/// single node; returns the problems as `FILE: path: message` lines.
pub(super) fn read_manifest(file: &str) -> Result<Vec<read::ReadPod>, Vec<String>> {
    let name = input::display(file);
    let text = input::read_text(file, MAX_MANIFEST).map_err(|e| match e {
        CliError::Invalid(lines) => lines,
        other => vec![other.to_string()],
    })?;
    let pods = read::read_pods(&text).map_err(|errors| prefixed(name, &errors))?;
    for p in &pods {
        if !p.ignored.is_empty() {
            eprintln!(
                "warning: {name}: pod {}: fields ignored on a single node (not enforced): {}",
                p.pod.name,
                p.ignored.join(", ")
            );
        }
    }
    Ok(pods)
}

fn prefixed(name: &str, errors: &[FieldError]) -> Vec<String> {
    errors.iter().map(|e| format!("{name}: {e}")).collect()
}
