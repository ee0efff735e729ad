//! Events for image pulls, from the statuses the shims write, as the kubelet reports
//! them: a container that turns `ErrImagePull` gives a Warning `Failed` with the pull's
//! (the registry's) message, one that turns `ImagePullBackOff` a Normal `BackOff`.
//!
//! A container Waiting with `Pulling image "REF"` gives a Normal `Pulling` when first
//! seen, a Normal `PullProgress` with the bytes done at most every
//! [`PROGRESS_EVENT_EVERY`] of a long pull, and a Normal `Pulled` with the time and the
//! image's size when the pull ends well. A container that starts without a pull, under
//! IfNotPresent or Never, gives `Pulled` "already present on machine". Pulls are seen
//! through statuses: the time is the agent's, from the status that first shows the pull
//! (up to a tick late) to the first without it (the agent ticks fast meanwhile); a pull
//! shorter than a tick may go unreported.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::reconcile::event;
use crate::spec::bounded::Name;
use crate::spec::{
    ContainerState, ContainerStatus, Event, EventType, PodPhase, PodStatus, PullPolicy, Reason,
    Time,
};

/// A long pull gives a progress Event at most this often.
pub const PROGRESS_EVENT_EVERY: Duration = Duration::from_secs(10);

/// What the Events need beyond the statuses: the pod specs and the image store.
pub trait Images {
    /// The image and pull policy of `container` of `pod`.
    fn image(&self, pod: &str, container: &str) -> Option<(String, PullPolicy)>;
    /// The size in the store of the image `reference`, if it is there.
    fn size(&self, reference: &str) -> Option<u64>;
}

/// A pull seen to begin.
struct Seen {
    reference: String,
    began: Instant,
    last_event: Instant,
}

/// Pulls in progress and just ended, per (pod, container); entries leave when the pull
/// ends, the container starts, or the pod goes.
#[derive(Default)]
pub struct PullWatch {
    pulling: BTreeMap<(String, String), Seen>,
    /// Pulled for the start to come: that start is not "already present".
    pulled: BTreeSet<(String, String)>,
}

/// The image of a `Pulling image "REF"` message, and whether it gives progress.
fn pulling(state: &ContainerState) -> Option<(&str, bool)> {
    let ContainerState::Waiting {
        reason: Reason::ContainerCreating | Reason::PodInitializing,
        message: Some(m),
    } = state
    else {
        return None;
    };
    let rest = m.as_str().strip_prefix("Pulling image \"")?;
    let end = rest.find('"')?;
    Some((&rest[..end], rest[end..].starts_with("\": ")))
}

fn containers(s: &PodStatus) -> impl Iterator<Item = &ContainerStatus> {
    let init = s.init_container_statuses.iter();
    init.chain(s.container_statuses.iter())
}

impl PullWatch {
    /// The pull Events of what changed between `old` and `new` for `pod`; `clock` times
    /// the pulls.
    pub fn events(
        &mut self,
        pod: &str,
        old: Option<&PodStatus>,
        new: &PodStatus,
        now: (Time, Instant),
        images: &dyn Images,
    ) -> Vec<Event> {
        let (now, clock) = now;
        let mut out = Vec::new();
        let mut push = |reason: &str, message: String, c: &ContainerStatus| {
            let mut e = event(
                EventType::Normal,
                reason,
                Some(pod.to_string()),
                message,
                now,
            );
            e.container = Some(Name::clone(&c.name));
            out.push(e);
        };
        let ended = matches!(new.phase, PodPhase::Failed | PodPhase::Succeeded);
        for c in containers(new) {
            let key = (pod.to_string(), c.name.to_string());
            if let Some((reference, progress)) = pulling(&c.state) {
                match self.pulling.get_mut(&key) {
                    None => {
                        push("Pulling", format!("Pulling image {reference:?}"), c);
                        let seen = Seen {
                            reference: reference.to_string(),
                            began: clock,
                            last_event: clock,
                        };
                        self.pulling.insert(key, seen);
                    }
                    Some(seen) => {
                        let due = clock.duration_since(seen.last_event) >= PROGRESS_EVENT_EVERY;
                        if progress && due {
                            seen.last_event = clock;
                            let message = match &c.state {
                                ContainerState::Waiting {
                                    message: Some(m), ..
                                } => m.to_string(),
                                _ => continue,
                            };
                            push("PullProgress", message, c);
                        }
                    }
                }
                continue;
            }
            if let Some(seen) = self.pulling.remove(&key) {
                let failed = ended
                    || matches!(
                        &c.state,
                        ContainerState::Waiting {
                            reason: Reason::ErrImagePull | Reason::ImagePullBackOff,
                            ..
                        }
                    );
                if let Some(size) = images.size(&seen.reference).filter(|_| !failed) {
                    let took = clock.duration_since(seen.began).as_secs_f64();
                    let message = format!(
                        "Successfully pulled image {:?} in {took:.3}s. Image size: {size} bytes.",
                        seen.reference
                    );
                    push("Pulled", message, c);
                    self.pulled.insert(key.clone());
                }
            }
            let was = old.and_then(|o| containers(o).find(|b| b.name == c.name));
            let runs = matches!(
                c.state,
                ContainerState::Running { .. } | ContainerState::Terminated { .. }
            );
            let started = runs
                && was.is_some_and(|w| {
                    matches!(w.state, ContainerState::Waiting { .. })
                        || w.restart_count != c.restart_count
                });
            if started && !self.pulled.remove(&key) {
                if let Some((image, policy)) = images.image(pod, c.name.as_str()) {
                    if policy != PullPolicy::Always {
                        let message =
                            format!("Container image {image:?} already present on machine");
                        push("Pulled", message, c);
                    }
                }
            }
        }
        out
    }

    /// Whether a pull is in progress (the agent then ticks fast, so that its end, and
    /// so its time, is seen within a tick).
    pub fn watching(&self) -> bool {
        !self.pulling.is_empty()
    }

    /// `pod` is gone: nothing of it is kept.
    pub fn forget(&mut self, pod: &str) {
        self.pulling.retain(|(p, _), _| p != pod);
        self.pulled.retain(|(p, _)| p != pod);
    }
}

/// The Events of what changed between the last published status of `pod` and `new`.
pub fn pull_events(pod: &str, old: Option<&PodStatus>, new: &PodStatus, now: Time) -> Vec<Event> {
    let all = |s: &PodStatus| -> Vec<ContainerStatus> {
        let init = s.init_container_statuses.iter();
        init.chain(s.container_statuses.iter()).cloned().collect()
    };
    let before = old.map(all).unwrap_or_default();
    let mut out = Vec::new();
    for c in all(new) {
        let ContainerState::Waiting { reason, message } = &c.state else {
            continue;
        };
        let (kind, word) = match reason {
            Reason::ErrImagePull => (EventType::Warning, "Failed"),
            Reason::ImagePullBackOff => (EventType::Normal, "BackOff"),
            _ => continue,
        };
        let same = before
            .iter()
            .any(|b| b.name == c.name && b.state == c.state);
        if same {
            continue;
        }
        let message = message.as_deref().unwrap_or(reason.as_str()).to_string();
        let mut e = event(kind, word, Some(pod.to_string()), message, now);
        e.container = Some(Name::clone(&c.name));
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::bounded::{BoundedVec, name};
    use crate::spec::{PodConditions, PodPhase, SpecHash};

    fn status(states: &[(&str, Reason, &str)]) -> PodStatus {
        let cs: Vec<ContainerStatus> = states
            .iter()
            .map(|(n, reason, m)| ContainerStatus {
                name: name(n).unwrap(),
                state: ContainerState::Waiting {
                    reason: reason.clone(),
                    message: Some((*m).try_into().unwrap()),
                },
                last_state: None,
                ready: false,
                started: None,
                restart_count: 0,
                image_id: None,
                probes: BoundedVec::new(),
            })
            .collect();
        PodStatus {
            spec_hash: SpecHash::default(),
            phase: PodPhase::Pending,
            conditions: PodConditions::default(),
            reason: None,
            message: None,
            pod_ip: None,
            host_ip: None,
            start_time: Time(0),
            init_container_statuses: BoundedVec::new(),
            container_statuses: BoundedVec::try_from(cs).unwrap(),
        }
    }

    fn words(events: &[Event]) -> Vec<String> {
        let line = |e: &Event| {
            let c = e.container.as_ref().map_or("", |c| c.as_str());
            format!(
                "{}:{}:{c}:{}",
                e.kind.as_str(),
                e.reason.as_str(),
                e.message.as_str()
            )
        };
        events.iter().map(line).collect()
    }

    #[test]
    fn a_failed_pull_and_its_back_off_become_events_once() {
        let creating = status(&[("c", Reason::ContainerCreating, "")]);
        let failed = status(&[("c", Reason::ErrImagePull, "cannot pull x: manifest unknown")]);
        let backoff = status(&[(
            "c",
            Reason::ImagePullBackOff,
            "Back-off pulling image \"x\"",
        )]);
        let t = Time(5);
        assert!(pull_events("p", None, &creating, t).is_empty());
        assert_eq!(
            words(&pull_events("p", Some(&creating), &failed, t)),
            ["Warning:Failed:c:cannot pull x: manifest unknown"]
        );
        assert!(pull_events("p", Some(&failed), &failed, t).is_empty());
        assert_eq!(
            words(&pull_events("p", Some(&failed), &backoff, t)),
            ["Normal:BackOff:c:Back-off pulling image \"x\""]
        );
        assert_eq!(pull_events("p", Some(&backoff), &failed, t).len(), 1);
    }

    struct Fake;

    impl Images for Fake {
        fn image(&self, _pod: &str, c: &str) -> Option<(String, PullPolicy)> {
            let policy = match c {
                "always" => PullPolicy::Always,
                _ => PullPolicy::IfNotPresent,
            };
            Some(("reg/app:1".into(), policy))
        }
        fn size(&self, reference: &str) -> Option<u64> {
            (reference == "reg/app:1").then_some(1234)
        }
    }

    /// `st` with its first container changed by `f`.
    fn edit(mut st: PodStatus, f: impl FnOnce(&mut ContainerStatus)) -> PodStatus {
        let mut cs: Vec<ContainerStatus> = st.container_statuses.iter().cloned().collect();
        f(&mut cs[0]);
        st.container_statuses = BoundedVec::try_from(cs).unwrap();
        st
    }

    fn running(name: &str, restarts: u32) -> PodStatus {
        edit(status(&[(name, Reason::ContainerCreating, "")]), |c| {
            c.state = ContainerState::Running {
                started_at: crate::spec::Since(1),
            };
            c.restart_count = restarts;
        })
    }

    #[test]
    fn a_pull_gives_pulling_progress_at_a_modest_rate_then_pulled() {
        let mut w = PullWatch::default();
        let t0 = Instant::now();
        let at = |s: u64| (Time(s), t0 + Duration::from_millis(s * 1000 + 234));
        let creating = status(&[("c", Reason::ContainerCreating, "")]);
        let begin = status(&[(
            "c",
            Reason::ContainerCreating,
            "Pulling image \"reg/app:1\"",
        )]);
        let part = |m: &str| {
            let m = format!("Pulling image \"reg/app:1\": {m} of 50.0 MB");
            status(&[("c", Reason::ContainerCreating, m.as_str())])
        };
        // (status, at s, events)
        let steps: Vec<(PodStatus, u64, Vec<&str>)> = vec![
            (creating.clone(), 0, vec![]),
            (
                begin.clone(),
                0,
                vec!["Normal:Pulling:c:Pulling image \"reg/app:1\""],
            ),
            (part("1.0 MB"), 2, vec![]),
            (part("5.0 MB"), 9, vec![]),
            (
                part("6.0 MB"),
                10,
                vec!["Normal:PullProgress:c:Pulling image \"reg/app:1\": 6.0 MB of 50.0 MB"],
            ),
            (part("9.0 MB"), 12, vec![]),
            (
                part("12.0 MB"),
                20,
                vec!["Normal:PullProgress:c:Pulling image \"reg/app:1\": 12.0 MB of 50.0 MB"],
            ),
            (
                running("c", 0),
                21,
                vec![
                    "Normal:Pulled:c:Successfully pulled image \"reg/app:1\" in 21.000s. Image size: 1234 bytes.",
                ],
            ),
            // A restart without a pull: the image is there.
            (
                running("c", 1),
                30,
                vec!["Normal:Pulled:c:Container image \"reg/app:1\" already present on machine"],
            ),
        ];
        let mut old: Option<PodStatus> = None;
        for (i, (new, s, want)) in steps.into_iter().enumerate() {
            let got = w.events("p", old.as_ref(), &new, at(s), &Fake);
            assert_eq!(words(&got), want, "step {i}");
            old = Some(new);
        }
        assert!(!w.watching() && w.pulled.is_empty());
        // A failed pull is no Pulled (its Failed comes from `pull_events`); nor is a pull
        // of a pod that stopped.
        let failed = status(&[("c", Reason::ErrImagePull, "cannot pull")]);
        assert_eq!(w.events("p", None, &begin, at(40), &Fake).len(), 1);
        assert!(
            w.events("p", Some(&begin), &failed, at(41), &Fake)
                .is_empty()
        );
        w.events("p", None, &begin, at(42), &Fake);
        let mut stopped = creating.clone();
        stopped.phase = PodPhase::Failed;
        assert!(
            w.events("p", Some(&begin), &stopped, at(43), &Fake)
                .is_empty()
        );
        // Under Always a start with no pull seen says nothing; a pod that goes is forgotten.
        let always = edit(creating.clone(), |c| c.name = name("always").unwrap());
        assert!(
            w.events("p", Some(&always), &running("always", 0), at(50), &Fake)
                .is_empty()
        );
        w.events("q", None, &begin, at(51), &Fake);
        w.forget("q");
        assert!(w.pulling.is_empty());
    }
}
