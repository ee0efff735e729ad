//! The agent's loop: one `poll` over the signalfd, the waker, the manifests directory's
//! inotify fd, every shim's watch socket and the pidfd of every shim it started (reaped
//! once it exits), with the earliest timer as its timeout (the
//! node heartbeat, the remote-logs rate limit). Each wake handles what is ready, then
//! publishes what changed: Events, cleared statuses, statuses, the node status. Idle,
//! it wakes only for heartbeats. As the shim does, once nothing has happened for a
//! second it gives memory back (`sys::release_idle_memory`) right before a long sleep.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;

use super::{Agent, logs, place_static};
use crate::desired::Update;
use crate::mqtt::Inbound;
use crate::reconcile::event;
use crate::spec::{self, Event, EventType, Time};
use crate::wake::Waker;

/// What became ready in one poll.
#[derive(Debug, Default)]
struct Ready {
    signal: bool,
    woken: bool,
    manifests: bool,
    /// Pods whose shim pushed something.
    shims: Vec<String>,
    /// A shim this agent started has exited: reap it.
    children: bool,
    /// The sleep was cut to [`IDLE_RELEASE_AFTER`] to see whether the agent is idle.
    capped: bool,
}

impl Ready {
    /// Something other than a timer woke the loop.
    fn any(&self) -> bool {
        self.signal || self.woken || self.manifests || !self.shims.is_empty() || self.children
    }
}

/// Whether the agent has been idle long enough to give memory back before its next
/// long sleep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Idle {
    /// Woken by something since the last release: first a sleep of at most a second.
    Busy,
    /// That sleep passed with nothing to do: release, then sleep as long as needed.
    Quiet,
}

/// How long the agent is idle before it gives memory back.
const IDLE_RELEASE_AFTER: Duration = Duration::from_secs(1);

impl Agent {
    /// Runs until SIGTERM or SIGINT.
    pub(super) fn run(&mut self, signals: &OwnedFd, waker: &Waker) {
        self.publish_node();
        loop {
            let ready = self.wait(signals, waker);
            if ready.signal {
                return;
            }
            self.idle = match (ready.any(), ready.capped) {
                (true, _) => Idle::Busy,
                (false, true) => Idle::Quiet,
                (false, false) => self.idle,
            };
            let now = Time::now();
            let mut events = Vec::new();
            if ready.woken {
                waker.drain();
                let inbound = self.device.as_ref().map(|d| d.take()).unwrap_or_default();
                events.extend(self.inbound(inbound, now));
                self.reconciler.runtime_mut().collect();
            }
            if ready.manifests {
                self.statics.drain();
                let runtime = self.reconciler.runtime_mut();
                events.extend(place_static(runtime, &mut self.statics, now));
            }
            for pod in &ready.shims {
                self.reconciler.runtime_mut().on_watch(pod);
            }
            if ready.children {
                self.reconciler.runtime_mut().reap_children();
            }
            if self
                .reconciler
                .retry_due()
                .is_some_and(|t| t <= Instant::now())
            {
                events.extend(self.reconciler.retry(now));
            }
            if (self.facts).set_store_failure(self.reconciler.store_failure()) {
                // DiskPressure on or off: said at once, not at the next heartbeat.
                self.publish_node();
            }
            if Instant::now() >= self.node_due {
                if self.statics.watch() || !self.statics.watching() {
                    // The directory appeared, or cannot be watched: look at it now.
                    let runtime = self.reconciler.runtime_mut();
                    events.extend(place_static(runtime, &mut self.statics, now));
                }
                self.publish_node();
            }
            // Remote logs: a call site of its own, with its own deadline.
            if ready.woken || self.logs_due.is_some_and(|t| t <= Instant::now()) {
                let requests = self.answer_logs();
                let follows = self.answer_follows();
                self.logs_due = match (requests, follows) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            self.publish(events);
        }
    }

    /// Sleeps until something is ready or the earliest timer is due.
    fn wait(&self, signals: &OwnedFd, waker: &Waker) -> Ready {
        let runtime = self.reconciler.runtime();
        let watches: Vec<(&str, BorrowedFd<'_>)> = runtime.watches().collect();
        let mut fds = vec![
            PollFd::new(signals, PollFlags::IN),
            PollFd::new(waker, PollFlags::IN),
        ];
        let inotify = self.statics.fd();
        if let Some(fd) = &inotify {
            fds.push(PollFd::from_borrowed_fd(fd.as_fd(), PollFlags::IN));
        }
        for (_, fd) in &watches {
            fds.push(PollFd::from_borrowed_fd(*fd, PollFlags::IN));
        }
        let first_child = fds.len();
        for fd in runtime.children() {
            fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
        }
        let next = [self.logs_due, self.reconciler.retry_due()]
            .into_iter()
            .flatten()
            .fold(self.node_due, Instant::min);
        let left = next.saturating_duration_since(Instant::now());
        let long = left >= IDLE_RELEASE_AFTER;
        let (left, capped) = match self.idle {
            Idle::Busy if long => (IDLE_RELEASE_AFTER, true),
            Idle::Quiet if long => {
                // Right before the sleep, so that no work runs between the two.
                crate::sys::release_idle_memory();
                (left, false)
            }
            Idle::Busy | Idle::Quiet => (left, false),
        };
        let timeout = timespec(left);
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => log::error!("poll: {e}"),
        }
        let is = |i: usize| !fds[i].revents().is_empty();
        let first_watch = if inotify.is_some() { 3 } else { 2 };
        Ready {
            signal: is(0),
            woken: is(1),
            manifests: inotify.is_some() && is(2),
            shims: (watches.iter().enumerate())
                .filter(|(i, _)| is(first_watch + i))
                .map(|(_, (name, _))| name.to_string())
                .collect(),
            children: (first_child..fds.len()).any(is),
            capped,
        }
    }

    /// Desired-state updates and connection changes from the broker.
    fn inbound(&mut self, inbound: Inbound, now: Time) -> Vec<Event> {
        let mut events = Vec::new();
        if inbound.dropped > 0 {
            let msg = format!(
                "{} desired-state updates dropped (too many pending)",
                inbound.dropped
            );
            events.push(event(EventType::Warning, "UpdatesDropped", None, msg, now));
        }
        for update in inbound.updates {
            events.extend(self.handle(update, now));
        }
        // Nothing to publish on a connect: the mailbox sends the node status (the
        // newest, kept current by the heartbeats during an outage) and every pod's
        // status again by itself. Publishing a fresh one here too sent "online" twice.
        events
    }

    fn handle(&mut self, update: Update, now: Time) -> Vec<Event> {
        let (update, mut events) = match self.reconciler.admit(update, now) {
            Ok(admitted) => admitted,
            Err(refused) => return vec![*refused],
        };
        let name = update.pod().map(str::to_owned);
        if let Some(name) = name.as_ref().filter(|n| self.statics.contains(n)) {
            let msg =
                format!("pod {name} is a static pod of this node; change its manifest on the node");
            let pod = Some(name.clone());
            events.push(event(EventType::Warning, "Refused", pod, msg, now));
            return events;
        }
        let deleted = update.is_deletion();
        events.extend(self.reconciler.apply(update, now));
        let runtime = self.reconciler.runtime_mut();
        if let Some(name) = name.filter(|n| deleted && !runtime.runs(n)) {
            // A refused spec of a pod that never ran: its status goes with it.
            runtime.unplace(&name);
        }
        events
    }

    /// Answers the remote-logs requests that the rate limit allows now; the others wait
    /// in the mailbox's bounded queue. Returns when to look again, if some may wait.
    fn answer_logs(&mut self) -> Option<Instant> {
        let d = self.device.as_ref()?;
        let dropped = d.dropped().log_requests;
        if dropped > self.logs_dropped {
            let n = dropped - self.logs_dropped;
            log::warn!("{n} remote-logs requests dropped: too many at once");
            self.logs_dropped = dropped;
        }
        let now = Instant::now();
        let again = now + Duration::from_secs(1) / logs::PER_SECOND;
        let n = self.limiter.available(now);
        if n == 0 {
            return Some(again);
        }
        let requests = d.take_log_requests(n);
        self.limiter.spend(requests.len());
        for r in &requests {
            if r.follow.is_some() {
                if let Some(busy) = self.follows.request(r, now) {
                    d.answer_logs(&busy);
                }
                continue;
            }
            let answer = logs::answer(&self.paths.root, &self.paths.run_dir, r);
            if let spec::logs::LogsResult::Error(e) = &answer.result {
                log::info!("logs of pod {}: {}", r.pod, e.message);
            }
            d.answer_logs(&answer);
        }
        (requests.len() == n).then_some(again)
    }

    /// Sends what the remote-logs follows have due (new output, ends, renewals);
    /// returns when they next need a look.
    fn answer_follows(&mut self) -> Option<Instant> {
        let d = self.device.as_ref()?;
        let mut files = logs::Files {
            root: &self.paths.root,
            run_dir: &self.paths.run_dir,
        };
        for answer in self.follows.due(Instant::now(), &mut files) {
            d.answer_logs(&answer);
        }
        self.follows.next_deadline()
    }

    /// Events, cleared statuses and the statuses that changed, upstream.
    fn publish(&mut self, mut events: Vec<Event>) {
        let runtime = self.reconciler.runtime_mut();
        let (pushed, cleared) = runtime.take();
        events.extend(pushed);
        self.publish_events(events);
        for pod in cleared {
            if self.reconciler.runtime().runs(&pod) {
                continue;
            }
            self.reconciler.removed(&pod);
            // Cleared even when this run of the agent never published it: a deletion
            // that arrives before the first publish after a restart must not leave the
            // status retained by the previous run behind.
            if let Some(d) = &self.device {
                d.set_status(&pod, None);
            }
        }
        for (pod, status) in self.reconciler.runtime_mut().to_publish() {
            log::debug!("pod {pod}: status {}", status.phase.as_str());
            if let Some(d) = &self.device {
                d.set_status(&pod, Some(&status));
            }
        }
    }

    pub(super) fn publish_events(&self, events: Vec<Event>) {
        for e in &events {
            let level = match e.kind {
                EventType::Normal => log::Level::Info,
                EventType::Warning => log::Level::Warn,
            };
            let pod = e.pod.as_deref().unwrap_or("-");
            log::log!(
                level,
                "{pod}: {}: {}",
                e.reason.as_str(),
                e.message.as_str()
            );
            if let Some(d) = &self.device {
                d.push_event(e);
            }
        }
    }

    /// The node status, now (at start, at a connect, at each heartbeat); the next
    /// heartbeat is due one period later.
    fn publish_node(&mut self) {
        let now = Time::now();
        let mut status = self.facts.status(true, self.node.as_ref(), now);
        status.heartbeat = now;
        let runtime = self.reconciler.runtime_mut();
        runtime.set_allocatable(status.allocatable);
        if let Some(d) = &self.device {
            d.set_node(&status);
        }
        self.node = Some(status);
        self.node_due = Instant::now() + self.heartbeat;
    }
}

fn timespec(d: Duration) -> Timespec {
    // Rounded up to the millisecond, so that a timer never fires a little early.
    let ms = d.as_millis().saturating_add(1);
    Timespec {
        tv_sec: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        tv_nsec: i64::try_from(ms % 1000 * 1_000_000).unwrap_or(0),
    }
}
