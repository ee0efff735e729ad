//! Volumes on the real kernel: subPath (a file, a directory, one created when missing,
//! and escapes through `..` or symlinks refused), every hostPath type and its mismatch
//! errors, fsGroup (group ownership, setgid, the supplementary group) and readOnly.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::fixture::{Env, all_running, pod_name, privileged, text};
use super::lifecycle::ctr;
use pealet::spec::{ContainerState, PodStatus, Reason};

/// A host directory for hostPath volumes: files, a subdirectory, escaping symlinks and
/// a listening unix socket (kept open by the returned listener).
fn host_dir(env: &Env) -> (PathBuf, std::os::unix::net::UnixListener) {
    let host = env.dir.join("host");
    std::fs::create_dir_all(host.join("sub")).unwrap();
    std::fs::write(host.join("conf.txt"), "conf\n").unwrap();
    std::fs::write(host.join("sub/inner.txt"), "inner\n").unwrap();
    std::fs::write(host.join("file"), "file\n").unwrap();
    symlink("/etc", host.join("abs")).unwrap();
    symlink("../..", host.join("sub/up")).unwrap();
    symlink("inner.txt", host.join("sub/link")).unwrap();
    let socket = std::os::unix::net::UnixListener::bind(host.join("sock")).unwrap();
    (host, socket)
}

/// The Waiting reason and message of container `name`.
fn waiting<'a>(st: &'a PodStatus, name: &str) -> Option<(&'a Reason, String)> {
    match &ctr(st, name).state {
        ContainerState::Waiting { reason, message } => Some((
            reason,
            message.as_ref().map(|m| m.to_string()).unwrap_or_default(),
        )),
        _ => None,
    }
}

fn block_device() -> Option<&'static str> {
    [
        "/dev/loop0",
        "/dev/sda",
        "/dev/vda",
        "/dev/mmcblk0",
        "/dev/nvme0n1",
    ]
    .into_iter()
    .find(|p| {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata(p).is_ok_and(|m| m.file_type().is_block_device())
    })
}

#[test]
fn sub_paths_host_path_types_fs_group_and_read_only() {
    if !privileged("sub_paths_host_path_types_fs_group_and_read_only") {
        return;
    }
    let mut env = Env::new("volumes");
    let (host, _socket) = host_dir(&env);
    let h = |p: &str| host.join(p).display().to_string();
    let block = block_device();
    let (block_volume, block_mount) = match block {
        Some(dev) => (
            format!("\n  - {{name: blk, hostPath: {{path: {dev}, type: BlockDevice}}}}"),
            "\n    - {name: blk, mountPath: /blk}",
        ),
        None => (String::new(), ""),
    };
    let pod = pod_name("volumes");
    let manifest = format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {{fsGroup: 3000}}
  volumes:
  - {{name: host, hostPath: {{path: {host}, type: Directory}}}}
  - {{name: made, hostPath: {{path: {made}, type: DirectoryOrCreate}}}}
  - {{name: file, hostPath: {{path: {file}, type: File}}}}
  - {{name: created, hostPath: {{path: {created}, type: FileOrCreate}}}}
  - {{name: sock, hostPath: {{path: {sock}, type: Socket}}}}
  - {{name: devnull, hostPath: {{path: /dev/null, type: CharDevice}}}}{block_volume}
  - {{name: scratch, emptyDir: {{}}}}
  containers:
  - name: c
    image: busybox:test
    command: [sleep, '100000']
    volumeMounts:
    - {{name: host, mountPath: /etc/app.conf, subPath: conf.txt, readOnly: true}}
    - {{name: host, mountPath: /sub, subPath: sub}}
    - {{name: host, mountPath: /linked, subPath: sub/link}}
    - {{name: host, mountPath: /fresh, subPath: new/dir}}
    - {{name: made, mountPath: /made}}
    - {{name: file, mountPath: /file, readOnly: true}}
    - {{name: created, mountPath: /created.txt}}
    - {{name: sock, mountPath: /run/app.sock}}
    - {{name: devnull, mountPath: /null}}{block_mount}
    - {{name: scratch, mountPath: /scratch}}
",
        host = host.display(),
        made = h("made/deeper"),
        file = h("file"),
        created = h("created/new.txt"),
        sock = h("sock"),
    );
    env.start(&pod, &manifest);
    env.wait(&pod, "running", all_running);
    let sh = |script: &str| env.exec(&pod, "c", script);
    // subPath: a file, a directory, a symlink inside the volume, and a missing directory
    // created inside the volume.
    assert_eq!(sh("cat /etc/app.conf"), (0, "conf\n".into()));
    assert_eq!(
        sh("cat /sub/inner.txt /linked"),
        (0, "inner\ninner\n".into())
    );
    assert_eq!(sh("touch /fresh/x && echo ok").1, "ok\n");
    assert!(host.join("new/dir/x").is_file());
    // readOnly, on a subPath file and on a hostPath file; others stay writable.
    assert_ne!(sh("echo x > /etc/app.conf").0, 0);
    assert_ne!(sh("echo x > /file").0, 0);
    assert_eq!(sh("echo w > /sub/w && cat /sub/w").1, "w\n");
    // Every hostPath type, the ...OrCreate ones created on the host.
    let made = std::fs::metadata(host.join("made/deeper")).unwrap();
    assert!(made.is_dir());
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&made.permissions()) & 0o7777,
        0o755
    );
    assert!(host.join("created/new.txt").is_file());
    let types = "stat -c %F /made /file /created.txt /run/app.sock /null";
    assert_eq!(
        sh(types).1,
        "directory\nregular file\nregular empty file\nsocket\ncharacter special file\n"
    );
    if block.is_some() {
        assert_eq!(sh("stat -c %F /blk").1, "block special file\n");
    }
    // fsGroup: the emptyDir is the group's and setgid, new files inherit the group, and
    // the group is a supplementary group of the process.
    assert_eq!(sh("stat -c '%g %a' /scratch").1, "3000 2777\n");
    assert_eq!(sh("touch /scratch/f; stat -c %g /scratch/f").1, "3000\n");
    let groups = sh("id -G").1;
    assert!(groups.split_whitespace().any(|g| g == "3000"), "{groups}");
}

#[test]
fn sub_path_escapes_are_refused_with_a_reason() {
    if !privileged("sub_path_escapes_are_refused_with_a_reason") {
        return;
    }
    let mut env = Env::new("escape");
    let (host, _socket) = host_dir(&env);
    // `..` never gets as far as a container: validation refuses it.
    let pod = pod_name("dotdot");
    let manifest = format!(
        "{{apiVersion: v1, kind: Pod, metadata: {{name: {pod}}}, spec: {{volumes: [{{name: h, \
         hostPath: {{path: {}}}}}], containers: [{{name: c, image: busybox:test, \
         volumeMounts: [{{name: h, mountPath: /x, subPath: 'sub/../../etc'}}]}}]}}}}",
        host.display()
    );
    let out = env.run(&pod, &manifest);
    env.pods.retain(|p| *p != pod);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("must not contain '..'"),
        "{}",
        text(&out.stderr)
    );
    // Symlinks that leave the volume: the containers do not start and say why; the
    // one with a symlink that stays inside runs.
    let pod = pod_name("links");
    let mount = |name: &str, sub: &str| {
        format!(
            "{{name: {name}, image: busybox:test, command: [sleep, '100000'], \
             volumeMounts: [{{name: h, mountPath: /x, subPath: '{sub}'}}]}}"
        )
    };
    let manifest = format!(
        "{{apiVersion: v1, kind: Pod, metadata: {{name: {pod}}}, spec: {{\
         terminationGracePeriodSeconds: 1, volumes: [{{name: h, hostPath: {{path: {}}}}}], \
         containers: [{}, {}, {}, {}]}}}}",
        host.display(),
        mount("absolute", "abs/passwd"),
        mount("relative", "sub/up/etc"),
        mount("dangling", "sub/up"),
        mount("inside", "sub/link"),
    );
    let out = env.run(&pod, &manifest);
    assert!(out.status.code().is_some(), "{}", text(&out.stderr));
    let st = env.wait(&pod, "escapes refused", |st| {
        ["absolute", "relative", "dangling"]
            .iter()
            .all(|c| waiting(st, c).is_some_and(|(_, m)| !m.is_empty()))
            && matches!(ctr(st, "inside").state, ContainerState::Running { .. })
    });
    for c in ["absolute", "relative", "dangling"] {
        let (reason, message) = waiting(&st, c).unwrap();
        assert_eq!(
            *reason,
            Reason::CreateContainerConfigError,
            "{c}: {message}"
        );
        assert!(message.contains("leaves its root"), "{c}: {message}");
    }
    assert!(!Path::new("/etc/passwd-pealet-escape").exists());
}

#[test]
fn host_path_type_mismatches_are_reported_per_container() {
    if !privileged("host_path_type_mismatches_are_reported_per_container") {
        return;
    }
    let mut env = Env::new("mismatch");
    let (host, _socket) = host_dir(&env);
    let cases = [
        ("dir", h(&host, "file"), "Directory", "is not a directory"),
        ("file", h(&host, "sub"), "File", "is not a file"),
        ("socket", h(&host, "file"), "Socket", "is not a socket"),
        (
            "chardev",
            h(&host, "file"),
            "CharDevice",
            "is not a character device",
        ),
        (
            "blockdev",
            "/dev/null".into(),
            "BlockDevice",
            "is not a block device",
        ),
        ("missing", h(&host, "nothere"), "Directory", "No such file"),
        ("ok", h(&host, "sub"), "Directory", ""),
    ];
    let pod = pod_name("mismatch");
    let volumes: Vec<String> = cases
        .iter()
        .map(|(n, p, t, _)| format!("{{name: {n}, hostPath: {{path: '{p}', type: {t}}}}}"))
        .collect();
    let containers: Vec<String> = cases
        .iter()
        .map(|(n, ..)| {
            format!(
                "{{name: {n}, image: busybox:test, command: [sleep, '100000'], \
                 volumeMounts: [{{name: {n}, mountPath: /v}}]}}"
            )
        })
        .collect();
    let manifest = format!(
        "{{apiVersion: v1, kind: Pod, metadata: {{name: {pod}}}, spec: {{\
         terminationGracePeriodSeconds: 1, volumes: [{}], containers: [{}]}}}}",
        volumes.join(", "),
        containers.join(", ")
    );
    let out = env.run(&pod, &manifest);
    assert!(out.status.code().is_some(), "{}", text(&out.stderr));
    let failing = &cases[..cases.len() - 1];
    let st = env.wait(&pod, "mismatches reported", |st| {
        failing
            .iter()
            .all(|(c, ..)| waiting(st, c).is_some_and(|(_, m)| !m.is_empty()))
            && matches!(ctr(st, "ok").state, ContainerState::Running { .. })
    });
    for (c, path, _, want) in failing {
        let (reason, message) = waiting(&st, c).unwrap();
        assert_eq!(
            *reason,
            Reason::CreateContainerConfigError,
            "{c}: {message}"
        );
        assert!(
            message.contains(want) && message.contains(path.as_str()),
            "{c}: {message}"
        );
    }
}

fn h(host: &Path, p: &str) -> String {
    host.join(p).display().to_string()
}
