//! The node's name is kept under `--root`: a different `--node` on the same root is
//! refused with both names and the ways out, and `--rename-from` moves it on purpose.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn agent(root: &std::path::Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_pealet"))
        .arg("--root")
        .arg(root.join("root"))
        .arg("--run-dir")
        .arg(root.join("run"))
        .arg("agent")
        .arg("--manifests")
        .arg(root.join("manifests"))
        .args(args)
        .env("PEALET_CONFIG", "/dev/null")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits up to `wait` for the agent to exit by itself; else stops it with SIGTERM.
fn finish(mut child: std::process::Child, wait: Duration) -> (bool, Output) {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return (true, child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    (false, child.wait_with_output().unwrap())
}

#[test]
fn a_node_is_renamed_only_on_purpose() {
    let dir = std::env::temp_dir().join(format!("pealet-rename-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    let (exited, _) = finish(agent(&dir, &["--node", "old-name"]), Duration::from_secs(1));
    assert!(!exited, "the first start runs");
    let stored = std::fs::read_to_string(dir.join("root/node-name")).unwrap();
    assert_eq!(stored, "old-name\n");

    let (exited, o) = finish(
        agent(&dir, &["--node", "new-name"]),
        Duration::from_secs(10),
    );
    assert!(exited, "a new name is refused at once");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("holds the pods of node \"old-name\""), "{err}");
    assert!(
        err.contains("--node new-name --rename-from old-name"),
        "{err}"
    );

    let args = ["--node", "new-name", "--rename-from", "old-name"];
    let (exited, _) = finish(agent(&dir, &args), Duration::from_secs(1));
    assert!(!exited, "renamed on purpose, it runs");
    let stored = std::fs::read_to_string(dir.join("root/node-name")).unwrap();
    assert_eq!(stored, "new-name\n");
    std::fs::remove_dir_all(&dir).unwrap();
}
