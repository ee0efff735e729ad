//! The agent and the operator commands over shaped links: round trips of 100 ms, 300 ms
//! and 1 s with jitter, 300 ms over mutual TLS and over MQTT 5, and a 64 kbit/s link.

use std::time::Duration;

use super::shaper::Link;
use super::{Wan, round};
use crate::mqtt::broker::Tls;
use crate::pod::fixture::privileged;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn wan_round_at_100ms() {
    if !privileged("wan_round_at_100ms") {
        return;
    }
    let mut w = Wan::new("wan-100", Link::rtt(ms(100), ms(20)), Tls::None, true);
    round(&mut w, "w100");
}

#[test]
fn wan_round_at_300ms() {
    if !privileged("wan_round_at_300ms") {
        return;
    }
    let mut w = Wan::new("wan-300", Link::rtt(ms(300), ms(60)), Tls::None, true);
    round(&mut w, "w300");
}

#[test]
#[cfg(feature = "tls")]
fn wan_round_at_300ms_over_mutual_tls() {
    if !privileged("wan_round_at_300ms_over_mutual_tls") {
        return;
    }
    let mut w = Wan::new("wan-mtls", Link::rtt(ms(300), ms(60)), Tls::Mutual, true);
    assert!(w.url().starts_with("mqtts://"));
    round(&mut w, "wtls");
}

#[test]
fn wan_round_at_300ms_over_mqtt5() {
    if !privileged("wan_round_at_300ms_over_mqtt5") {
        return;
    }
    let mut w = Wan::new("wan-mqtt5", Link::rtt(ms(300), ms(60)), Tls::None, true);
    w.flags.push(("mqtt-version", "5".into()));
    round(&mut w, "w5");
}

#[test]
fn wan_round_at_1s() {
    if !privileged("wan_round_at_1s") {
        return;
    }
    let mut w = Wan::new("wan-1s", Link::rtt(ms(1000), ms(200)), Tls::None, true);
    round(&mut w, "w1s");
}

/// 64 kbit/s (8000 bytes a second each way) with a 100 ms round trip: a big logs answer
/// takes seconds on each leg.
#[test]
fn wan_round_at_64kbit() {
    if !privileged("wan_round_at_64kbit") {
        return;
    }
    let link = Link::rtt(ms(100), ms(20)).with_rate(8000);
    let mut w = Wan::new("wan-64k", link, Tls::None, true);
    round(&mut w, "w64k");
}

/// 32 kbit/s (4000 bytes a second each way): a full logs answer (about 46 KiB once
/// compressed) takes 12 s on the uplink, well within the default keep-alive (30 s: the
/// watchdog's limit is 45 s), so it arrives on the connection it started on.
#[test]
fn wan_big_logs_answer_at_32kbit_within_the_default_keep_alive() {
    if !privileged("wan_big_logs_answer_at_32kbit_within_the_default_keep_alive") {
        return;
    }
    let link = Link::rtt(ms(100), ms(20)).with_rate(4000);
    let mut w = Wan::new("wan-32k", link, Tls::None, true);
    w.start_agent(&[]);
    w.wait_online();
    let p = crate::pod::fixture::pod_name("w32k-big");
    let pod = w.apply(&p, &super::manifest(&p, &["big"], "1"));
    w.wait_running(&pod);
    let before = w.proxy.stats().accepted;
    let timeout = w.patience(Duration::from_secs(10), 2 * super::LOGS_BOUND);
    let (ok, out, err) = w.logs(&p, &["-c", "big"], timeout);
    assert!(ok, "{err}");
    assert!(out.ends_with("\nend-of-big\n"));
    assert_eq!(
        w.proxy.stats().accepted,
        before,
        "the agent dropped its connection while it sent the answer"
    );
}

/// A keep-alive too short for the link (5 s, while the answer needs 12 s on the uplink):
/// the watchdog takes the slow upload for a dead link, as MQTT's keep-alive rule says.
/// What that costs is the answer, never the node: the answer is not sent again on the
/// next connection (where it would fail again, forever), so the agent settles on one
/// connection and the next status still arrives.
#[test]
fn wan_a_keep_alive_too_short_for_the_link_costs_the_answer_not_the_connection() {
    if !privileged("wan_a_keep_alive_too_short_for_the_link_costs_the_answer_not_the_connection") {
        return;
    }
    let link = Link::rtt(ms(100), ms(20)).with_rate(4000);
    let mut w = Wan::new("wan-32k-ka", link, Tls::None, true);
    w.start_agent(&["--keep-alive", "5"]);
    w.wait_online();
    let p = crate::pod::fixture::pod_name("w32ka-big");
    let pod = w.apply(&p, &super::manifest(&p, &["big"], "1"));
    w.wait_running(&pod);
    let (ok, _, _) = w.logs(&p, &["-c", "big"], Duration::from_secs(30));
    assert!(
        !ok,
        "the answer cannot cross this link within 1.5 keep-alives"
    );
    // The lost answer is not sent again: after a reconnect or two, one connection holds.
    std::thread::sleep(Duration::from_secs(10));
    let settled = w.proxy.stats().accepted;
    std::thread::sleep(Duration::from_secs(20));
    assert_eq!(
        w.proxy.stats().accepted,
        settled,
        "the agent keeps reconnecting"
    );
    w.delete(&p);
}
