//! Events for image pulls, from the statuses the shims write: a container that turns
//! `ErrImagePull` gives a Warning `Failed` with the pull's (the registry's) message, one
//! that turns `ImagePullBackOff` a Normal `BackOff`, as the kubelet reports them.

use crate::reconcile::event;
use crate::spec::bounded::Name;
use crate::spec::{ContainerState, ContainerStatus, Event, EventType, PodStatus, Reason, Time};

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
}
