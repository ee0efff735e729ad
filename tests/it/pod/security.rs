//! Container security on the real kernel, as an attacker inside a default container
//! would try it: device nodes it makes itself (a host loop device standing in for the
//! SD card, /dev/kmsg), user namespaces and keyrings under seccomp, sysctls; and what a
//! privileged container may still do.

use std::process::Command;

use super::fixture::{Env, all_running, pod_name, privileged, text};

/// A loop device on a small file of the test's own; detached on drop.
struct Loop {
    dev: String,
}

impl Loop {
    fn new(env: &Env) -> Loop {
        let file = env.dir.join("disk.img");
        std::fs::write(&file, vec![0x5au8; 1 << 20]).unwrap();
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "losetup: {}", text(&out.stderr));
        Loop {
            dev: text(&out.stdout).trim().to_string(),
        }
    }

    /// (major, minor)
    fn numbers(&self) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let rdev = std::fs::metadata(&self.dev).unwrap().rdev();
        (rustix::fs::major(rdev).into(), rustix::fs::minor(rdev).into())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

#[test]
fn default_containers_open_only_the_default_devices_privileged_ones_any() {
    if !privileged("default_containers_open_only_the_default_devices_privileged_ones_any") {
        return;
    }
    let mut env = Env::new("sec-devices");
    let disk = Loop::new(&env);
    let (major, minor) = disk.numbers();
    let pod = pod_name("sec-dev");
    env.start(
        &pod,
        &format!(
            "
apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: plain, image: busybox:test, command: [sleep, '3600']}}
  - name: root
    image: busybox:test
    command: [sleep, '3600']
    securityContext: {{privileged: true}}
"
        ),
    );
    env.wait(&pod, "both running", |st| {
        st.container_statuses.len() == 2 && all_running(st)
    });
    let script = format!(
        "mknod /tmp/disk b {major} {minor} && echo made; \
         dd if=/tmp/disk bs=1 count=1 2>/dev/null | od -An -tx1; \
         mknod /tmp/kmsg c 1 11 && echo made; \
         echo hello > /tmp/kmsg && echo wrote; \
         echo x > /dev/null && head -c1 /dev/urandom >/dev/null && echo defaults"
    );
    // The default container may make the nodes but open neither.
    let (_, out) = env.exec(&pod, "plain", &script);
    assert_eq!(out, "made\nmade\ndefaults\n", "default container");
    // The privileged one reads the disk and writes to the kernel log.
    let (_, out) = env.exec(&pod, "root", &script);
    assert_eq!(out, "made\n 5a\nmade\nwrote\ndefaults\n", "privileged container");
}
