//! Pods whose images are on a registry, through `pealet run --detach` as root: the pull
//! before the start and the imageID, ErrImagePull then ImagePullBackOff for an image the
//! registry lacks, one download for two pods that need the same image at once, and the
//! offline-first start from the local copy when the registry is gone; static pods of
//! `pealet agent` pulled through a mirror named in its config file, and its Events for
//! a failed pull; a slow pull's progress in the status and its Pulling, PullProgress
//! and Pulled Events.

use std::process::Stdio;
use std::time::{Duration, Instant};

use pealet::mqtt::{Operator, Topics};
use pealet::spec::{self, ContainerState, Event, PodPhase, PodStatus, Reason};

use super::registry::{Comp, Proxy, ProxyRules, Registry, busybox_image, push};
use super::sha;
use crate::mqtt::broker::{Broker, Tls};
use crate::mqtt::support::settings;
use crate::pod::fixture::{Env, KillOnDrop, all_running, pod_name, privileged, text};

fn pod_yaml(name: &str, image: &str, policy: &str) -> String {
    format!(
        "{{apiVersion: v1, kind: Pod, metadata: {{name: {name}}}, spec: {{\
         terminationGracePeriodSeconds: 1, containers: [{{name: c, image: '{image}', \
         imagePullPolicy: {policy}, command: [sh, -c, 'exec busybox sleep 100000']}}]}}}}"
    )
}

fn waiting(st: &PodStatus) -> Option<(Reason, String)> {
    match &st.container_statuses[0].state {
        ContainerState::Waiting { reason, message } => Some((
            reason.clone(),
            message.as_ref().map(|m| m.to_string()).unwrap_or_default(),
        )),
        ContainerState::Running { .. } | ContainerState::Terminated { .. } => None,
    }
}

#[test]
fn a_pod_pulls_its_image_and_reports_the_digest_as_image_id() {
    if !privileged("a_pod_pulls_its_image_and_reports_the_digest_as_image_id") {
        return;
    }
    let reg = Registry::start("podpull", None);
    let img = busybox_image("pulled-by-the-pod", Comp::Gzip);
    push(reg.port, "app", "1", &img, None);
    let mut env = Env::new("podpull");
    let pod = pod_name("podpull");
    let image = format!("{}/app:1", reg.host());
    env.start(&pod, &pod_yaml(&pod, &image, "IfNotPresent"));
    let st = env.wait(&pod, "running", all_running);
    let id = st.container_statuses[0].image_id.map(|d| d.to_string());
    assert_eq!(id, Some(img.digest()));
    let (code, out) = env.exec(&pod, "c", "cat /etc/what");
    assert_eq!((code, out.as_str()), (0, "pulled-by-the-pod"));
    let ls = text(&env.pealet(&["image", "ls"]).stdout);
    assert!(ls.contains(&format!("{}/app:1", reg.host())), "{ls}");
}

#[test]
fn a_missing_image_shows_err_image_pull_then_image_pull_back_off() {
    if !privileged("a_missing_image_shows_err_image_pull_then_image_pull_back_off") {
        return;
    }
    let reg = Registry::start("podmissing", None);
    let mut env = Env::new("podmissing");
    let pod = pod_name("podmissing");
    let image = format!("{}/nothere:1", reg.host());
    let out = env.run_with(
        &pod,
        &pod_yaml(&pod, &image, "IfNotPresent"),
        &["--backoff-base-ms", "2000"],
    );
    // --detach gives up at the first problem, with the reason.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("ErrImagePull"),
        "{}",
        text(&out.stderr)
    );
    let is = |want: Reason| move |st: &PodStatus| waiting(st).is_some_and(|(r, _)| r == want);
    let st = env.wait(&pod, "ErrImagePull", is(Reason::ErrImagePull));
    let (_, message) = waiting(&st).unwrap();
    assert!(message.contains("nothere"), "{message}");
    assert_eq!(st.phase, PodPhase::Pending);
    let st = env.wait(&pod, "ImagePullBackOff", is(Reason::ImagePullBackOff));
    let (_, message) = waiting(&st).unwrap();
    assert_eq!(message, format!("Back-off pulling image \"{image}\""));
    assert_eq!(st.phase, PodPhase::Pending);
    // The retry fails again: ErrImagePull, then back-off once more.
    env.wait(&pod, "ErrImagePull again", is(Reason::ErrImagePull));
    let st = env.wait(&pod, "back-off again", is(Reason::ImagePullBackOff));
    assert_eq!(st.phase, PodPhase::Pending);
    assert_eq!(st.container_statuses[0].restart_count, 0);
}

#[test]
fn two_pods_needing_one_image_at_once_download_it_once() {
    if !privileged("two_pods_needing_one_image_at_once_download_it_once") {
        return;
    }
    let reg = Registry::start("podshare", None);
    let img = busybox_image("shared", Comp::Gzip);
    push(reg.port, "shared", "1", &img, None);
    // Slowed down (the layer takes seconds) so that both pulls overlap.
    let rules = ProxyRules {
        delay_per_chunk: Some(Duration::from_millis(15)),
        ..ProxyRules::default()
    };
    let proxy = Proxy::start(reg.port, rules);
    let mut env = Env::new("podshare");
    let image = format!("127.0.0.1:{}/shared:1", proxy.port);
    let pods = [pod_name("share-a"), pod_name("share-b")];
    let mut children = Vec::new();
    for pod in &pods {
        let file = env.dir.join(format!("{pod}.yaml"));
        std::fs::write(&file, pod_yaml(pod, &image, "IfNotPresent")).unwrap();
        env.pods.push(pod.clone());
        let mut cmd = env.command(&["run", "--detach", file.to_str().unwrap()]);
        cmd.env("PEALET_LOG", "info");
        children.push(cmd.spawn().unwrap());
    }
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    for pod in &pods {
        env.wait(pod, "running", all_running);
    }
    let layer = format!("/blobs/sha256:{}", sha(&img.blobs[1]));
    let gets: Vec<String> = proxy
        .requests(&layer)
        .into_iter()
        .filter(|l| l.starts_with("GET "))
        .collect();
    assert_eq!(gets.len(), 1, "{gets:?}");
    // Both pulled; the later one waited for the first and reused its image, so even
    // the manifest was asked for once.
    for pod in &pods {
        let log = std::fs::read_to_string(env.dir.join("run/pods").join(pod).join("shim.log"));
        let log = log.unwrap_or_default();
        assert!(log.contains(&format!("pulling {image}")), "{pod}: {log}");
    }
    let manifests = proxy.requests("/manifests/");
    assert_eq!(manifests.len(), 1, "{manifests:?}");
}

#[test]
fn always_starts_from_the_local_copy_when_the_registry_is_gone() {
    if !privileged("always_starts_from_the_local_copy_when_the_registry_is_gone") {
        return;
    }
    let reg = Registry::start("podoffline", None);
    let img = busybox_image("offline", Comp::Gzip);
    push(reg.port, "app", "1", &img, None);
    let mut env = Env::new("podoffline");
    let pod = pod_name("podoffline");
    let image = format!("{}/app:1", reg.host());
    let manifest = pod_yaml(&pod, &image, "Always");
    env.start(&pod, &manifest);
    env.wait(&pod, "running", all_running);
    let out = env.pealet(&["rm", &pod]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The uplink is down: the pull fails, the copy in the store is used.
    drop(reg);
    env.start(&pod, &manifest);
    let st = env.wait(&pod, "running again", all_running);
    let id = st.container_statuses[0].image_id.map(|d| d.to_string());
    assert_eq!(id, Some(img.digest()));
    let log = std::fs::read_to_string(env.dir.join("run/pods").join(&pod).join("shim.log"));
    let log = log.unwrap_or_default();
    assert!(log.contains("local store"), "{log}");
    env.pods.dedup();
}

#[test]
fn the_agent_pulls_through_a_mirror_from_its_config_file() {
    if !privileged("the_agent_pulls_through_a_mirror_from_its_config_file") {
        return;
    }
    let reg = Registry::start("agentmirror", None);
    let img = busybox_image("from-the-mirror", Comp::Gzip);
    push(reg.port, "app", "1", &img, None);
    let mut env = Env::new("agentmirror");
    let manifests = env.dir.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    // Only the mirror on loopback has it; the registry's own name does not resolve.
    let config = env.dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "manifests = \"{}\"\n[registries.\"mirrored.invalid\"]\nmirrors = [\"{}\"]\n",
            manifests.display(),
            reg.host()
        ),
    )
    .unwrap();
    let pod = pod_name("agentmirror");
    std::fs::write(
        manifests.join(format!("{pod}.yaml")),
        pod_yaml(&pod, "mirrored.invalid/app:1", "IfNotPresent"),
    )
    .unwrap();
    env.pods.push(pod.clone());
    // And one whose image is nowhere: its failed pull becomes Events.
    let missing = pod_name("agentmissing");
    let image = format!("{}/nothere:1", reg.host());
    std::fs::write(
        manifests.join(format!("{missing}.yaml")),
        pod_yaml(&missing, &image, "IfNotPresent"),
    )
    .unwrap();
    env.pods.push(missing.clone());
    let log_path = env.dir.join("agent.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = env.command(&["agent", "--node", &pod, "--config"]);
    cmd.arg(&config)
        .env("PEALET_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log);
    // Killed before `env` removes the pods.
    let _agent = KillOnDrop(cmd.spawn().unwrap());
    let st = env.wait(&pod, "running", all_running);
    let id = st.container_statuses[0].image_id.map(|d| d.to_string());
    assert_eq!(id, Some(img.digest()));
    assert_eq!(env.exec(&pod, "c", "cat /etc/what").1, "from-the-mirror");
    env.wait(&missing, "ImagePullBackOff", |st| {
        waiting(st).is_some_and(|(r, _)| r == Reason::ImagePullBackOff)
    });
    // The agent's Events, as it logs them (the same it sends to the broker).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(&log_path).unwrap();
        let failed = log.contains(&format!("Failed: cannot pull {image}"));
        if failed && log.contains(&format!("BackOff: Back-off pulling image \"{image}\"")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_slow_pull_shows_progress_in_the_status_and_the_agent_reports_it() {
    if !privileged("a_slow_pull_shows_progress_in_the_status_and_the_agent_reports_it") {
        return;
    }
    let reg = Registry::start("pullprogress", None);
    let img = busybox_image("slowly", Comp::Gzip);
    push(reg.port, "slow", "1", &img, None);
    // About 180 ms per 16 KiB: the 1 MB layer takes over 10 s.
    let rules = ProxyRules {
        delay_per_chunk: Some(Duration::from_millis(180)),
        ..ProxyRules::default()
    };
    let proxy = Proxy::start(reg.port, rules);
    let broker = Broker::start("pullprogress", false, Tls::None);
    let mut env = Env::new("pullprogress");
    let manifests = env.dir.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    let pod = pod_name("pullprogress");
    let image = format!("127.0.0.1:{}/slow:1", proxy.port);
    std::fs::write(
        manifests.join(format!("{pod}.yaml")),
        pod_yaml(&pod, &image, "IfNotPresent"),
    )
    .unwrap();
    env.pods.push(pod.clone());
    // A subscriber to the pod's status and the node's Events, as an operator's tool.
    let topics = Topics::new("pealet/v1", &pod);
    let mut op = Operator::connect(&settings(&broker, &[]), Duration::from_secs(10)).unwrap();
    op.retained(&[topics.status(&pod), topics.events()])
        .unwrap();
    let mut cmd = env.command(&[
        "agent",
        "--node",
        &pod,
        "--broker",
        &broker.url(),
        "--manifests",
        manifests.to_str().unwrap(),
    ]);
    cmd.env("PEALET_CONFIG", "/dev/null")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Killed before `env` removes the pods.
    let _agent = KillOnDrop(cmd.spawn().unwrap());
    // Every Waiting message of the container until it runs, with when it came, and the
    // Events (reason: message) until the Pulled one.
    let started = Instant::now();
    let mut seen: Vec<(Instant, String)> = Vec::new();
    let mut events: Vec<String> = Vec::new();
    let mut running = false;
    while !(running && events.iter().any(|e| e.starts_with("Pulled:"))) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{seen:?} {events:?}"
        );
        let Some(m) = op.next(Duration::from_millis(500)).unwrap() else {
            continue;
        };
        if m.topic == topics.events() {
            let e = spec::decode::<Event>(&m.payload).unwrap();
            events.push(format!("{}: {}", e.reason.as_str(), e.message.as_str()));
        } else if let Ok(st) = spec::decode::<PodStatus>(&m.payload) {
            running = all_running(&st);
            if let Some((_, m)) = waiting(&st) {
                seen.push((Instant::now(), m));
            }
        }
    }
    let took = started.elapsed();
    assert!(took > Duration::from_secs(10), "{took:?}");
    let begins = format!("Pulling image \"{image}\"");
    assert!(seen.iter().any(|(_, m)| *m == begins), "{seen:?}");
    // Progress, in bytes done of the total, renewed at most every 2 s (pushed by the
    // shim as it changes; a little slack for the way through the broker).
    let progress: Vec<&(Instant, String)> = seen
        .iter()
        .filter(|(_, m)| m.starts_with(&format!("{begins}: ")))
        .collect();
    assert!(progress.len() >= 3, "{seen:?}");
    let sizes = |m: &str| m.contains(" kB of ") || m.contains(" MB of ");
    assert!(progress.iter().all(|(_, m)| sizes(m)), "{seen:?}");
    for pair in progress.windows(2) {
        let gap = pair[1].0.duration_since(pair[0].0);
        assert!(gap >= Duration::from_millis(1400), "{gap:?}: {seen:?}");
    }
    // Pulling, a progress Event every 10 s of it, then Pulled with the time and size
    // (then the container's Created and Started).
    assert_eq!(events[0], format!("Pulling: {begins}"), "{events:?}");
    let progress_events = events.iter().filter(|e| e.starts_with("PullProgress: "));
    assert!((1..=3).contains(&progress_events.count()), "{events:?}");
    let pulled = events.iter().find(|e| e.starts_with("Pulled:")).unwrap();
    let prefix = format!("Pulled: Successfully pulled image \"{image}\" in ");
    assert!(pulled.starts_with(&prefix), "{events:?}");
    let size = pulled.split("Image size: ").nth(1).unwrap_or_default();
    let bytes: u64 = size.trim_end_matches(" bytes.").parse().unwrap();
    assert!(bytes > 1_000_000, "{pulled}");
    op.disconnect();
}

#[test]
fn run_takes_registry_flags_and_the_config_file() {
    if !privileged("run_takes_registry_flags_and_the_config_file") {
        return;
    }
    let reg = Registry::start("runflags", None);
    let img = busybox_image("via-flags", Comp::Gzip);
    push(reg.port, "app", "1", &img, None);
    let mut env = Env::new("runflags");
    // A mirror given as a flag; the registry itself does not resolve.
    let pod = pod_name("runflags");
    let mirror = format!("flagged.invalid={}", reg.host());
    let manifest = pod_yaml(&pod, "flagged.invalid/app:1", "IfNotPresent");
    let out = env.run_with(&pod, &manifest, &["--mirror", &mirror]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    env.wait(&pod, "running", all_running);
    // The same through --config; an auth file that cannot be read stops the run early.
    let config = env.dir.join("config.toml");
    let toml = format!(
        "[registries.\"configured.invalid\"]\nmirrors = [\"{}\"]\n",
        reg.host()
    );
    std::fs::write(&config, toml).unwrap();
    let pod2 = pod_name("runconfig");
    let manifest = pod_yaml(&pod2, "configured.invalid/app:1", "IfNotPresent");
    let config = config.to_str().unwrap();
    let out = env.run_with(&pod2, &manifest, &["--config", config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    env.wait(&pod2, "running", all_running);
    let pod3 = pod_name("runauth");
    let manifest = pod_yaml(&pod3, "configured.invalid/app:1", "IfNotPresent");
    let file = env.dir.join(format!("{pod3}.yaml"));
    std::fs::write(&file, manifest).unwrap();
    let out = env.pealet(&[
        "run",
        "--detach",
        file.to_str().unwrap(),
        "--auth-file",
        "/nonexistent/auth.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent/auth.json"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_pod_stopped_while_it_pulls_stops_at_once_and_its_pull_goes() {
    if !privileged("a_pod_stopped_while_it_pulls_stops_at_once_and_its_pull_goes") {
        return;
    }
    let reg = Registry::start("podstop", None);
    let img = busybox_image("slow", Comp::Gzip);
    push(reg.port, "slow", "1", &img, None);
    // About 200 ms per 16 KiB: the layer would take many seconds.
    let rules = ProxyRules {
        delay_per_chunk: Some(Duration::from_millis(200)),
        ..ProxyRules::default()
    };
    let proxy = Proxy::start(reg.port, rules);
    let mut env = Env::new("podstop");
    let pod = pod_name("podstop");
    let image = format!("127.0.0.1:{}/slow:1", proxy.port);
    let file = env.dir.join(format!("{pod}.yaml"));
    std::fs::write(&file, pod_yaml(&pod, &image, "Always")).unwrap();
    env.pods.push(pod.clone());
    // `run --detach` waits for the start, so it runs on while the test goes on.
    let run = env.command(&["run", "--detach", file.to_str().unwrap()]);
    let mut run = KillOnDrop({ run }.spawn().unwrap());
    let layer = format!("/blobs/sha256:{}", sha(&img.blobs[1]));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while proxy.requests(&layer).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the pull never began");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The shim's loop does not wait for the pull: the stop is answered at once.
    let started = std::time::Instant::now();
    let out = env.pealet(&["stop", &pod]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let st = env.status(&pod);
    assert_eq!(st.phase, PodPhase::Failed);
    let never_ran = waiting(&st).is_some_and(|(r, _)| r == Reason::ContainerCreating);
    assert!(never_ran, "{st:?}");
    assert!(
        !run.0.wait().unwrap().success(),
        "run --detach saw no start"
    );
    let root = env.dir.join("root").display().to_string();
    let pulls_left = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(&root) && c.contains(" image pull "))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while pulls_left() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pull outlived its pod"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
