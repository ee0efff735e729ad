//! The overflow policies of the mailbox, one by one.

use super::*;
use crate::spec::DecodeError;

fn drain_statuses(m: &Mailbox) -> Vec<(String, Vec<u8>)> {
    std::iter::from_fn(|| m.take_status()).collect()
}

#[test]
fn statuses_coalesce_to_the_newest_per_pod() {
    let m = Mailbox::default();
    for i in 0..1000u32 {
        m.set_status("a", i.to_be_bytes().to_vec());
    }
    m.set_status("b", vec![1]);
    assert_eq!(
        drain_statuses(&m),
        [
            ("a".into(), 999u32.to_be_bytes().to_vec()),
            ("b".into(), vec![1])
        ]
    );
    assert_eq!(m.take_status(), None);
}

#[test]
fn reconnect_resends_current_statuses_and_forgets_cleared_ones() {
    let m = Mailbox::default();
    m.set_status("a", vec![1]);
    m.set_status("b", vec![2]);
    m.set_node(vec![9]);
    drain_statuses(&m);
    assert_eq!(m.take_node(), Some(vec![9]));
    m.set_status("b", Vec::new());
    assert_eq!(drain_statuses(&m), [("b".into(), vec![])]);
    m.set_connected(true);
    assert_eq!(drain_statuses(&m), [("a".into(), vec![1])]);
    assert_eq!(m.take_node(), Some(vec![9]));
    assert_eq!(m.take_node(), None);
}

#[test]
fn returned_status_does_not_overwrite_a_newer_one() {
    let m = Mailbox::default();
    m.set_status("a", vec![1]);
    let (pod, old) = m.take_status().unwrap();
    m.set_status("a", vec![2]);
    m.return_status(pod, old);
    assert_eq!(drain_statuses(&m), [("a".into(), vec![2])]);
    let (pod, old) = {
        m.set_status("a", vec![3]);
        m.take_status().unwrap()
    };
    m.return_status(pod, old);
    assert_eq!(drain_statuses(&m), [("a".into(), vec![3])]);
}

#[test]
fn status_slots_are_bounded() {
    let m = Mailbox::default();
    for i in 0..MAX_STATUSES + 5 {
        m.set_status(&format!("p{i}"), vec![1]);
    }
    m.set_status("p0", vec![2]);
    assert_eq!(m.dropped().statuses, 5);
    assert_eq!(drain_statuses(&m).len(), MAX_STATUSES);
}

#[test]
fn events_ring_drops_the_oldest_and_counts() {
    let m = Mailbox::default();
    for i in 0..MAX_EVENTS + 3 {
        m.push_event(vec![i as u8]);
    }
    assert_eq!(m.dropped().events, 3);
    assert_eq!(m.take_event(), Some(vec![3]));
    m.return_event(vec![3]);
    let all: Vec<_> = std::iter::from_fn(|| m.take_event()).collect();
    assert_eq!(all.len(), MAX_EVENTS);
    assert_eq!(all[0], vec![3]);
    assert_eq!(all[MAX_EVENTS - 1], vec![(MAX_EVENTS + 2) as u8]);
}

#[test]
fn updates_coalesce_per_pod_and_come_before_the_index() {
    let m = Mailbox::default();
    m.deliver(Update::Index(Err(DecodeError::Empty)));
    m.deliver(Update::Deleted { name: "b".into() });
    m.deliver(Update::Pod {
        name: "a".into(),
        pod: Err(DecodeError::Empty),
    });
    m.deliver(Update::Deleted { name: "a".into() });
    m.set_connected(true);
    let got = m.wait(Duration::from_secs(5));
    assert_eq!(
        got.updates,
        [
            Update::Deleted { name: "a".into() },
            Update::Deleted { name: "b".into() },
            Update::Index(Err(DecodeError::Empty)),
        ]
    );
    assert_eq!(got.connected, Some(true));
    assert_eq!(m.take(), Inbound::default());
}

#[test]
fn pending_updates_are_bounded() {
    let m = Mailbox::default();
    for i in 0..MAX_PENDING + 2 {
        m.deliver(Update::Deleted {
            name: format!("p{i}"),
        });
    }
    let got = m.take();
    assert_eq!(got.updates.len(), MAX_PENDING);
    assert_eq!(got.dropped, 2);
}

#[test]
fn wait_returns_on_timeout_and_on_close() {
    let m = std::sync::Arc::new(Mailbox::default());
    let t = std::time::Instant::now();
    assert_eq!(m.wait(Duration::from_millis(30)), Inbound::default());
    assert!(t.elapsed() >= Duration::from_millis(30));
    let m2 = m.clone();
    let waiter = std::thread::spawn(move || m2.wait(Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(20));
    m.close();
    assert_eq!(waiter.join().unwrap(), Inbound::default());
    assert!(m.is_closed());
}

fn request(id: &str) -> LogsRequest {
    LogsRequest {
        id: id.try_into().unwrap(),
        pod: crate::spec::bounded::name("web").unwrap(),
        container: None,
        tail: None,
        previous: false,
        timestamps: false,
        follow: None,
    }
}

#[test]
fn logs_requests_are_bounded_keep_the_newest_and_wake_the_agent_once() {
    let m = Mailbox::default();
    for i in 0..MAX_LOG_REQUESTS + 3 {
        m.deliver_log_request(request(&format!("r{i}")));
    }
    assert_eq!(m.dropped().log_requests, 3);
    // The arrival wakes a waiting agent once; requests left waiting do not keep it awake.
    let t = std::time::Instant::now();
    assert_eq!(m.wait(Duration::from_secs(5)), Inbound::default());
    assert!(t.elapsed() < Duration::from_secs(2));
    let t = std::time::Instant::now();
    assert_eq!(m.wait(Duration::from_millis(30)), Inbound::default());
    assert!(t.elapsed() >= Duration::from_millis(30));
    let first = m.take_log_requests(1);
    assert_eq!(first, [request("r3")]);
    let rest = m.take_log_requests(100);
    assert_eq!(rest.len(), MAX_LOG_REQUESTS - 1);
    assert!(m.take_log_requests(100).is_empty());
}

#[test]
fn logs_answers_are_bounded_and_drop_the_oldest() {
    let m = Mailbox::default();
    for i in 0..MAX_LOG_ANSWERS + 2 {
        m.push_log_answer(&format!("r{i}"), vec![i as u8]);
    }
    assert_eq!(m.dropped().log_answers, 2);
    let (id, payload) = m.take_log_answer().unwrap();
    assert_eq!(id, "r2");
    m.return_log_answer(id, payload);
    let all: Vec<_> = std::iter::from_fn(|| m.take_log_answer()).collect();
    assert_eq!(all.len(), MAX_LOG_ANSWERS);
    assert_eq!(all[0].0, "r2");
}
