//! `pealet validate`, `encode`, `decode`, `--version` and `help`, run as a user runs them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn pealet(args: &[&str]) -> Output {
    pealet_with_stdin(args, &[])
}

fn pealet_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pealet"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pealet");
    // A child that refuses its input early closes the pipe: that is not a test failure.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/k8s-examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 14, "the Kubernetes examples are all here");
    files
}

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pealet-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn version_names_the_wire_format() {
    let o = pealet(&["--version"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!(
            "pealet {} (wire format 2, signed 3,",
            env!("CARGO_PKG_VERSION")
        )),
        "{out}"
    );
}

#[test]
fn help_lists_every_command_and_each_has_its_own() {
    let o = pealet(&["help"]);
    assert!(o.status.success());
    let general = stdout(&o);
    for cmd in ["validate", "encode", "decode"] {
        assert!(general.contains(cmd), "general help lists {cmd}");
        for form in [vec!["help", cmd], vec![cmd, "--help"], vec![cmd, "-h"]] {
            let o = pealet(&form);
            assert!(o.status.success(), "{form:?}");
            assert!(
                stdout(&o).starts_with(&format!("Usage: pealet {cmd}")),
                "{form:?}"
            );
        }
    }
    assert_eq!(stdout(&pealet(&["--help"])), general);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["encode"],
        &["decode", "-o", "xml", "x"],
        &["validate", "--bogus"],
    ] {
        let o = pealet(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("pealet: "), "{args:?}");
    }
}

#[test]
fn every_kubernetes_example_validates() {
    for file in examples() {
        let o = pealet(&["validate", file.to_str().unwrap()]);
        assert!(o.status.success(), "{}: {}", file.display(), stderr(&o));
        assert!(stdout(&o).contains("is valid"), "{}", file.display());
    }
}

#[test]
fn ignored_fields_are_named_in_one_warning() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/k8s-examples/init-containers.yaml");
    let o = pealet(&["validate", file.to_str().unwrap()]);
    assert!(o.status.success());
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("warning: ") && err.contains("spec.dnsPolicy"),
        "{err}"
    );
}

#[test]
fn encode_decode_round_trips_every_example() {
    for file in examples() {
        let path = file.to_str().unwrap();
        let enc = pealet(&["encode", path]);
        assert!(enc.status.success(), "{path}: {}", stderr(&enc));
        assert_eq!(
            &enc.stdout[..2],
            &[pealet::spec::codec::FORMAT_VERSION, 0x81],
            "{path}: envelope is the format version, kind Pod, compressed"
        );
        for format in ["yaml", "json"] {
            let dec = pealet_with_stdin(&["decode", "-o", format, "-"], &enc.stdout);
            assert!(dec.status.success(), "{path}: {}", stderr(&dec));
            // What decode prints is itself a manifest that encodes to the same bytes.
            let again = pealet_with_stdin(&["encode", "-"], &dec.stdout);
            assert!(
                again.status.success(),
                "{path} as {format}: {}",
                stderr(&again)
            );
            assert_eq!(again.stdout, enc.stdout, "{path} via {format}");
        }
    }
}

#[test]
fn hex_output_decodes_too() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/k8s-examples/redis.yaml");
    let enc = pealet(&["encode", "--hex", file.to_str().unwrap()]);
    assert!(enc.status.success());
    let hex = stdout(&enc);
    let envelope = format!("{:02x}81", pealet::spec::codec::FORMAT_VERSION);
    assert!(hex.starts_with(&envelope) && hex.ends_with('\n'), "{hex}");
    let dec = pealet_with_stdin(&["decode", "-"], hex.as_bytes());
    assert!(dec.status.success(), "{}", stderr(&dec));
    let yaml = stdout(&dec);
    assert!(
        yaml.contains("name: redis") && yaml.contains("mountPath: /data/redis"),
        "{yaml}"
    );
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let bad = temp_file(
        "bad.yaml",
        br#"apiVersion: v1
kind: Pod
metadata:
  name: Bad_Name
spec:
  containers:
  - name: a
    image: busybox
    livenessProbe:
      exec: {command: [true]}
      periodSeconds: 0
  - name: a
    image: busybox
    imagePullPolcy: Always
    volumeMounts:
    - name: missing
      mountPath: /data
"#,
    );
    let o = pealet(&["validate", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let name = bad.to_str().unwrap();
    for want in [
        "metadata.name:",
        "spec.containers[0].livenessProbe.periodSeconds: must be >= 1",
        "spec.containers[1].name:",
        "spec.containers[1].imagePullPolcy: unknown field",
        "spec.containers[1].volumeMounts[0].name:",
    ] {
        assert!(
            err.lines().any(|l| l.starts_with(name) && l.contains(want)),
            "missing {want:?} in:\n{err}"
        );
    }
}

#[test]
fn garbage_does_not_decode_and_says_why() {
    let o = pealet_with_stdin(&["decode", "-"], &[9, 1, 2, 3]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unsupported format version 9"),
        "{}",
        stderr(&o)
    );
    let o = pealet_with_stdin(&["decode", "-"], &[1, 1, 4]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("<stdin>: "), "{}", stderr(&o));
    let o = pealet_with_stdin(&["encode", "-"], b"kind: Deployment\napiVersion: apps/v1\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("kind"), "{}", stderr(&o));
}

#[test]
fn oversized_input_is_refused() {
    let big = vec![b'#'; 2 * 1024 * 1024];
    let o = pealet_with_stdin(&["validate", "-"], &big);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("larger than the limit"),
        "{}",
        stderr(&o)
    );
}

/// Runs pealet with its stdout on a pipe whose reading end is already closed, as
/// `pealet ... | head` ends up once head has exited.
fn into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_pealet"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// A run directory with one pod that has logged, made without running it.
fn run_dir_with_logs() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pealet-cli-pipe-{}", std::process::id()));
    let pod = dir.join("pods/talker");
    let logs = pod.join("logs/c");
    std::fs::create_dir_all(&logs).unwrap();
    let manifest = temp_file(
        "talker.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: talker}\n\
          spec: {containers: [{name: c, image: busybox:local}]}\n",
    );
    let spec = pealet(&["encode", manifest.to_str().unwrap()]);
    assert!(spec.status.success(), "{}", stderr(&spec));
    std::fs::write(pod.join("spec"), &spec.stdout).unwrap();
    let records: String = (0..2000)
        .map(|i| format!("2026-01-01T00:00:00.000000000Z stdout F line {i}\n"))
        .collect();
    std::fs::write(logs.join("current.log"), records).unwrap();
    dir
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_as_if_killed_by_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    let example = examples()[0].to_str().unwrap().to_owned();
    let encoded = pealet(&["encode", "--hex", &example]);
    let hex = temp_file("pipe-pod.hex", &encoded.stdout);
    let run_dir = run_dir_with_logs();
    let run_dir = run_dir.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["help"],
        vec!["--help"],
        vec!["--version"],
        vec!["logs", "--help"],
        vec!["validate", &example],
        vec!["encode", &example],
        vec!["decode", "-o", "json", hex.to_str().unwrap()],
        vec!["--run-dir", run_dir, "ps", "-o", "json"],
        vec!["--run-dir", run_dir, "ps"],
        vec!["--run-dir", run_dir, "logs", "talker"],
        vec!["--run-dir", run_dir, "logs", "talker", "-f"],
    ];
    for args in commands {
        let o = into_closed_pipe(&args);
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?} says nothing");
        assert_eq!(
            o.status.signal(),
            Some(libc::SIGPIPE),
            "{args:?}: {:?}",
            o.status
        );
    }
    std::fs::remove_dir_all(run_dir).unwrap();
}

#[test]
fn decode_shows_a_signed_message_and_what_it_carries() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/signed");
    let o = pealet(&["decode", seeds.join("pod.bin").to_str().unwrap()]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("name: test"), "{}", stdout(&o));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        err,
        "signed Pod for node n1, pod test, generation 1700000000000, key 34750f98bd59fcfc \
         (signature not checked)\n"
    );
    let o = pealet(&["decode", seeds.join("deletion.bin").to_str().unwrap()]);
    assert!(o.status.success() && o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("signed Deletion for node n1"));
}
