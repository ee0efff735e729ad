//! The agent through outages behind a 100 ms link: a two-minute black hole (the dead
//! link found within 1.5x the keep-alive, a pod applied and one deleted elsewhere
//! meanwhile, a status changed on the device meanwhile, all delivered after the heal),
//! and a broker restart, resets, refused connections and half-closed links (each
//! followed by a reconnect and traffic that flows again); resets in the middle of TLS
//! handshakes over a 1 s round trip.

use std::time::{Duration, Instant};

use super::shaper::{Dir, Link};
use super::{Wan, manifest, until_told};
use crate::mqtt::broker::Tls;
use crate::mqtt::support::{eventually, settings};
use crate::pod::fixture::{pod_name, privileged, text};
use pealet::mqtt::Operator;
use pealet::spec::{self, Pod, PodPhase, PodStatus};

const KEEP_ALIVE: Duration = Duration::from_secs(5);
const HOLE: Duration = Duration::from_secs(120);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Wan {
    /// Waits until the device's own status file of `pod` says `phase`.
    fn wait_local_phase(&self, pod: &str, phase: PodPhase) {
        eventually(
            Duration::from_secs(30),
            &format!("{pod} {phase:?} on the device"),
            || {
                let st =
                    pealet::shim::state::read(&self.env.dir.join("root"), &self.run_dir(), pod);
                st.ok()
                    .and_then(|s| s.status)
                    .is_some_and(|s| s.phase == phase)
            },
        );
    }

    /// Waits until the proxy accepted more than `before` connections; returns when the
    /// first new one came, counted from `since`.
    fn wait_reconnect(&self, before: u64, since: Instant, within: Duration) -> Duration {
        eventually(within, "a new connection through the link", || {
            self.proxy.stats().accepted > before
        });
        self.proxy.first_accept_since(since).unwrap() - since
    }

    fn pids(&self, pod: &Pod) -> Vec<u32> {
        (pod.spec.containers.iter())
            .map(|c| self.container_pid(&pod.name, &c.name))
            .collect()
    }

    /// `pod` Running with the same containers as before (`pids`), none restarted.
    fn assert_untouched(&self, pod: &Pod, pids: &[u32]) {
        let st = self.wait_running(pod);
        assert!(st.container_statuses.iter().all(|c| c.restart_count == 0));
        assert_eq!(self.pids(pod), pids, "the same containers run");
    }
}

#[test]
fn wan_two_minute_black_hole() {
    if !privileged("wan_two_minute_black_hole") {
        return;
    }
    let mut w = Wan::new("wan-hole", Link::rtt(ms(100), ms(20)), Tls::None, true);
    w.start_agent(&["--keep-alive", &KEEP_ALIVE.as_secs().to_string()]);
    w.wait_online();
    let (k, d, f, b) = (
        pod_name("hole-keep"),
        pod_name("hole-gone"),
        pod_name("hole-flip"),
        pod_name("hole-new"),
    );
    let keep = w.apply(&k, &manifest(&k, &["one", "two"], "1"));
    let gone = w.apply(&d, &manifest(&d, &["one"], "1"));
    let flip = w.apply(&f, &until_told(&f));
    for p in [&keep, &gone, &flip] {
        w.wait_running(p);
    }
    let pids = w.pids(&keep);

    let before = w.proxy.stats().accepted;
    let hole = Instant::now();
    w.proxy.black_hole(true);
    // The dead link is found within 1.5x the keep-alive: the agent connects again (the
    // new connection is accepted and held like everything else).
    let found = w.wait_reconnect(before, hole, KEEP_ALIVE * 3);
    eprintln!("black hole: a new connection {found:?} after it began");
    assert!(
        found <= KEEP_ALIVE * 3 / 2 + ms(1000),
        "the dead link was found after {found:?}, keep-alive {KEEP_ALIVE:?}"
    );
    // The broker, too, finds the device silent: its Last Will says offline.
    eventually(KEEP_ALIVE * 4, "the Last Will (node offline)", || {
        w.node_status().is_some_and(|n| !n.online)
    });

    // Meanwhile: a pod applied and one deleted by an operator elsewhere, and a status
    // change on the device.
    let new_text = manifest(&b, &["one"], "1");
    let file = w.file(&b, &new_text);
    let out = w.operator_direct(&["apply", "-f", &file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    w.remember(&b);
    let new = pealet::spec::manifest::read::read_pod(&new_text)
        .unwrap()
        .pod;
    let out = w.operator_direct(&["delete", "pod", &d]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    w.tell_to_stop(&f);
    w.wait_local_phase(&f, PodPhase::Succeeded);
    assert!(
        !w.run_dir().join("pods").join(&b).exists(),
        "nothing crossed"
    );
    assert!(
        w.run_dir().join("pods").join(&d).exists(),
        "nothing crossed"
    );

    // The outage lasts its two minutes; a subscriber elsewhere then waits for what the
    // device sends.
    std::thread::sleep(HOLE.saturating_sub(hole.elapsed()));
    let mut sub = Operator::connect(&settings(&w.broker, &[]), Duration::from_secs(10)).unwrap();
    let topics = w.topics();
    sub.retained(&[topics.status_filter()]).unwrap();
    let healed = Instant::now();
    w.proxy.black_hole(false);
    // Every status the subscriber sees until flip's Succeeded and the new pod's
    // Running: (time since the heal, pod, phase).
    let within = w.patience(Duration::from_secs(60), 0);
    let mut seen: Vec<(Duration, String, PodPhase)> = Vec::new();
    let done = |seen: &[(Duration, String, PodPhase)]| {
        let has = |pod: &str, phase| seen.iter().any(|(_, p, ph)| p == pod && *ph == phase);
        has(&f, PodPhase::Succeeded) && has(&b, PodPhase::Running)
    };
    while !done(&seen) {
        let left = within
            .checked_sub(healed.elapsed())
            .unwrap_or_else(|| panic!("statuses after the heal: {seen:?}"));
        let Some(m) = sub.next(left).unwrap() else {
            continue;
        };
        if let (Some(pod), false) = (topics.pod_of(&m.topic, "status"), m.payload.is_empty()) {
            let st = spec::decode::<PodStatus>(&m.payload).unwrap();
            seen.push((healed.elapsed(), pod.to_owned(), st.phase));
        }
    }
    eprintln!("black hole: statuses after the heal: {seen:?}");
    let first = seen[0].0;
    // The goal of issue 11: at most 5 s from the heal to the first status. At the heal
    // the agent is in the middle of a connection attempt (attempts last up to the
    // connect timeout, the back-offs between them are short), which completes at once.
    assert!(first <= Duration::from_secs(5), "{first:?} from the heal");
    // QoS 1 publishes whose acknowledgement the hole swallowed are sent again first, so
    // older statuses may come again, but never after the newest: flip ends Succeeded.
    let succeeded = (seen.iter())
        .position(|(_, p, ph)| *p == f && *ph == PodPhase::Succeeded)
        .unwrap();
    assert!(
        seen[succeeded + 1..].iter().all(|(_, p, _)| *p != f),
        "a stale status of flip after its newest: {seen:?}"
    );
    sub.disconnect();
    eventually(within, "flip's Succeeded status after the heal", || {
        w.status(&f).is_some_and(|s| s.phase == PodPhase::Succeeded)
    });
    w.wait_running(&new);
    let new_running = healed.elapsed();
    w.wait_gone(&d);
    w.assert_untouched(&keep, &pids);
    eventually(within, "node online again", || {
        w.node_status().is_some_and(|n| n.online)
    });
    eprintln!(
        "black hole: heal -> first status {first:?}, -> the pod applied meanwhile Running \
         {new_running:?}; proxy {:?}",
        w.proxy.stats()
    );
    w.assert_pods(&[&k, &f, &b]);
}

#[test]
fn wan_broker_restart_resets_refusals_and_half_closed_links() {
    if !privileged("wan_broker_restart_resets_refusals_and_half_closed_links") {
        return;
    }
    let mut w = Wan::new("wan-restart", Link::rtt(ms(100), ms(20)), Tls::None, true);
    w.start_agent(&["--keep-alive", &KEEP_ALIVE.as_secs().to_string()]);
    w.wait_online();
    let (k, f) = (pod_name("restart-keep"), pod_name("restart-flip"));
    let keep = w.apply(&k, &manifest(&k, &["one", "two"], "1"));
    let flip = w.apply(&f, &until_told(&f));
    w.wait_running(&keep);
    w.wait_running(&flip);
    let pids = w.pids(&keep);
    let within = w.patience(Duration::from_secs(30), 0);

    // The broker restarts behind the link (persistence on, same port); a status
    // changes while it is away.
    let before = w.proxy.stats().accepted;
    w.broker.stop();
    let down = Instant::now();
    w.tell_to_stop(&f);
    w.wait_local_phase(&f, PodPhase::Succeeded);
    w.broker.restart();
    w.wait_reconnect(before, down, within);
    eventually(within, "flip's Succeeded status after the restart", || {
        w.status(&f).is_some_and(|s| s.phase == PodPhase::Succeeded)
    });
    w.assert_untouched(&keep, &pids);

    // Every connection reset: the agent connects again, and a new pod runs.
    let before = w.proxy.stats().accepted;
    w.proxy.reset_all();
    w.wait_reconnect(before, Instant::now(), within);
    let n = pod_name("restart-new");
    let new = w.apply(&n, &manifest(&n, &["one"], "1"));
    w.wait_running(&new);

    // The link closes toward the device (it reads end of stream): it connects again,
    // and a deletion goes through.
    let before = w.proxy.stats().accepted;
    w.proxy.close(Dir::Down);
    w.wait_reconnect(before, Instant::now(), within);
    w.delete(&f);

    // The link closes toward the broker: it ends the session, and the device learns
    // that as end of stream; it connects again.
    let before = w.proxy.stats().accepted;
    w.proxy.close(Dir::Up);
    w.wait_reconnect(before, Instant::now(), within);
    eventually(within, "node online again", || {
        w.node_status().is_some_and(|n| n.online)
    });

    // New connections refused for a while, the current one reset: the agent keeps
    // trying and gets through once they are taken again.
    let refused = w.proxy.stats().refused;
    w.proxy.refuse(true);
    w.proxy.reset_all();
    eventually(within, "two refused attempts", || {
        w.proxy.stats().refused >= refused + 2
    });
    let before = w.proxy.stats().accepted;
    w.proxy.refuse(false);
    w.wait_reconnect(before, Instant::now(), within);
    let new2 = w.apply(&n, &manifest(&n, &["one"], "2"));
    w.wait_running(&new2);
    w.assert_untouched(&keep, &pids);
    w.assert_pods(&[&k, &n]);
}

/// Over a 1 s round trip to a TLS listener, connections reset in the middle of their
/// TLS handshake, three times: the agent keeps trying and comes up; an operator command
/// whose handshake is reset fails and says so (operator commands do not retry).
#[test]
#[cfg(feature = "tls")]
fn wan_resets_in_the_middle_of_tls_handshakes() {
    if !privileged("wan_resets_in_the_middle_of_tls_handshakes") {
        return;
    }
    let mut w = Wan::new(
        "wan-midshake",
        Link::rtt(ms(1000), ms(0)),
        Tls::Server,
        true,
    );
    w.start_agent(&[]);
    let within = w.patience(Duration::from_secs(30), 0);
    for n in 1..=3 {
        eventually(within, &format!("connection attempt {n}"), || {
            w.proxy.stats().accepted == n
        });
        // Half a round trip in: the ClientHello is on its way up.
        std::thread::sleep(ms(500));
        w.proxy.reset_all();
    }
    w.wait_online();
    assert_eq!(w.proxy.stats().accepted, 4);
    let p = pod_name("midshake");
    let pod = w.apply(&p, &manifest(&p, &["one"], "1"));
    w.wait_running(&pod);

    let operators = &w.operators;
    let before = operators.stats().accepted;
    let reset = std::thread::scope(|s| {
        let resetter = s.spawn(|| {
            eventually(within, "the operator's connection", || {
                operators.stats().accepted > before
            });
            std::thread::sleep(ms(500));
            operators.reset_all();
        });
        let (out, _) = w.operator(&["get", "pods"]);
        resetter.join().unwrap();
        out
    });
    assert_eq!(reset.status.code(), Some(1));
    let err = text(&reset.stderr);
    eprintln!(
        "an operator command reset in its handshake: {}",
        err.trim_end()
    );
    assert!(err.contains("connect to mqtts://127.0.0.1"), "{err}");
    w.assert_pods(&[&p]);
}
