//! Faults of pealet's own processes under the real agent: a shim killed with SIGKILL
//! (with the agent up, and while it is down), shims that end (the agent reaps them).
//! The invariants: the status upstream tells the truth within a second, the pod is
//! supervised again with its restart counts kept, and the agent has no zombie child.

use std::time::{Duration, Instant};

use super::{WAIT, World, all_running, manifest};
use crate::mqtt::support::{eventually, settings};
use crate::pod::fixture::{pod_name, privileged, zombie_children};
use pealet::mqtt::Operator;
use pealet::shim::state;
use pealet::spec::{self, Pod, PodPhase, PodStatus, SpecHash};

fn restarts(status: &PodStatus) -> Vec<u32> {
    (status.container_statuses.iter())
        .map(|c| c.restart_count)
        .collect()
}

fn kill(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
}

impl World {
    fn shim_pid(&self, pod: &str) -> u32 {
        let d = state::PodDirs::new(&self.env.dir.join("root"), &self.run_dir(), pod);
        state::shim_pid(&d).expect("the pod's shim runs")
    }

    fn agent_pid(&self) -> u32 {
        self.agent.as_ref().expect("the agent runs").id()
    }

    /// Waits until `pod` runs with every container running and `counts` restarts.
    fn wait_counts(&self, want: &Pod, counts: &[u32]) -> PodStatus {
        let hash = SpecHash::of_pod(want);
        let mut last = None;
        eventually(
            WAIT,
            &format!("{} Running, restarts {counts:?}", want.name),
            || {
                last = self.status(&want.name);
                last.as_ref().is_some_and(|s| {
                    s.spec_hash == hash
                        && s.phase == PodPhase::Running
                        && all_running(s)
                        && restarts(s) == counts
                })
            },
        );
        last.unwrap()
    }
}

#[test]
fn a_killed_shim_is_noticed_at_once_and_replaced_keeping_restart_counts() {
    if !privileged("a_killed_shim_is_noticed_at_once_and_replaced_keeping_restart_counts") {
        return;
    }
    let mut w = World::new("fs-shimkill");
    w.start_agent();
    let p = pod_name("fs-shimkill");
    let pod = w.apply(&p, &manifest(&p, &["one", "two"], "1"));
    w.wait_running(&pod);
    // A restart the operator has seen: container "one" killed once.
    kill(w.container_pid(&p, "one"));
    w.wait_counts(&pod, &[1, 0]);

    let settings = settings(&w.broker, &w.tls_flags);
    let mut op = Operator::connect(&settings, Duration::from_secs(10)).unwrap();
    op.subscribe(&[w.topics().status(&p)]).unwrap();
    while op.next(Duration::from_millis(300)).unwrap().is_some() {}
    let old = w.shim_pid(&p);
    let killed = Instant::now();
    kill(old);

    // The next status says the truth: nobody supervises the pod.
    let mut unknown = None;
    let mut running = None;
    while running.is_none() && killed.elapsed() < WAIT {
        let Some(m) = op.next(Duration::from_secs(1)).unwrap() else {
            continue;
        };
        if m.payload.is_empty() {
            continue;
        }
        let st = spec::decode::<PodStatus>(&m.payload).unwrap();
        match st.phase {
            PodPhase::Unknown => {
                assert_eq!(st.reason.as_ref().map(|r| r.as_str()), Some("ShimLost"));
                unknown.get_or_insert(killed.elapsed());
            }
            PodPhase::Running if all_running(&st) => {
                assert!(
                    unknown.is_some(),
                    "Running again without Unknown first: {st:?}"
                );
                running = Some((killed.elapsed(), restarts(&st)));
            }
            _ => assert!(unknown.is_some(), "a status before Unknown: {st:?}"),
        }
    }
    op.disconnect();
    let unknown = unknown.expect("an Unknown status");
    let (again, counts) = running.expect("Running again");
    eprintln!("shim killed: Unknown upstream after {unknown:?}, Running again after {again:?}");
    assert!(
        unknown < Duration::from_secs(1),
        "Unknown after {unknown:?}"
    );
    // Nothing could re-adopt the old containers: both started again, counted.
    assert_eq!(
        counts,
        [2, 1],
        "restart counts kept and the restart counted"
    );
    assert_ne!(w.shim_pid(&p), old, "a new shim supervises the pod");
    // Supervised for real: a container killed now is restarted by the new shim.
    kill(w.container_pid(&p, "two"));
    w.wait_counts(&pod, &[2, 2]);
    assert!(zombie_children(w.agent_pid()).is_empty());
}

#[test]
fn a_shim_killed_while_the_agent_is_down_is_replaced_when_it_comes_back() {
    if !privileged("a_shim_killed_while_the_agent_is_down_is_replaced_when_it_comes_back") {
        return;
    }
    let mut w = World::new("fs-agentdown");
    w.start_agent();
    let p = pod_name("fs-agentdown");
    let pod = w.apply(&p, &manifest(&p, &["one"], "1"));
    w.wait_running(&pod);
    kill(w.container_pid(&p, "one"));
    w.wait_counts(&pod, &[1]);
    w.kill_agent();
    let old = w.shim_pid(&p);
    kill(old);
    w.start_agent();
    // The restart count survives both the shim and the agent.
    w.wait_counts(&pod, &[2]);
    assert_ne!(w.shim_pid(&p), old);
}

#[test]
fn the_agent_reaps_the_shims_that_end() {
    if !privileged("the_agent_reaps_the_shims_that_end") {
        return;
    }
    let mut w = World::new("fs-reap");
    w.start_agent();
    let mut pods = Vec::new();
    for i in 0..3 {
        let p = pod_name(&format!("fs-reap{i}"));
        let text = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {p}}}\nspec:\n  \
             restartPolicy: Never\n  containers:\n  \
             - {{name: c, image: busybox:test, command: ['true']}}\n"
        );
        pods.push(w.apply(&p, &text));
    }
    let d = pod_name("fs-reapdel");
    let deleted = w.apply(&d, &manifest(&d, &["one"], "1"));
    w.wait_running(&deleted);
    for pod in &pods {
        eventually(WAIT, &format!("{} Succeeded", pod.name), || {
            w.status(&pod.name)
                .is_some_and(|s| s.phase == PodPhase::Succeeded)
        });
    }
    w.operator(&["delete", "pod", &d]);
    eventually(WAIT, "the deleted pod's status cleared", || {
        w.status(&d).is_none()
    });
    w.env.pods.retain(|n| *n != d);
    let agent = w.agent_pid();
    eventually(WAIT, "no zombie child of the agent", || {
        zombie_children(agent).is_empty()
    });
    // And none comes later: the shims of all four pods have exited.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(zombie_children(agent), Vec::<u32>::new());
}
