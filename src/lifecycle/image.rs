//! A container's image: whether it is pulled before a start (imagePullPolicy), what a
//! missing image or a failed pull does, the pull back-off, and the imageID.
//!
//! Always pulls before every start; IfNotPresent pulls when the start finds the image
//! missing; Never does not pull (`ErrImageNeverPull`, retried after the back-off base).
//! A failed pull leaves the container Waiting with `ErrImagePull` and the pull's
//! message, shown for half the back-off base, then `ImagePullBackOff` until the retry.
//! The delays are the kubelet's image back-off over the lifecycle's base and cap:
//! 10, 20, 40 ... 300 s with the defaults; a pull that succeeds starts over.
//!
//! While it pulls, the container is Waiting (ContainerCreating) with the message
//! `Pulling image "REF"`, then with the bytes done of the total, renewed at most every
//! [`PROGRESS_EVERY_MS`] so that status updates stay few.
//!
//! Offline first, unlike the kubelet: when a pull fails but the image is in the store
//! (a device whose uplink is down, rebooting), the container starts with that copy.
//!
//! Events: `Pulling` when a pull begins, `PullProgress` every [`PROGRESS_EVENT_EVERY_MS`]
//! of a long one, `Pulled` with its time and the image's size (or "already present on
//! machine" for a start without a pull, recorded by `events.rs`), Warning `Failed` with
//! the pull's message, `BackOff` when ErrImagePull turns ImagePullBackOff, Warning
//! `ErrImageNeverPull`.

use super::container::{CState, Ctr};
use super::pod::Stage;
use super::record::{EventReason, Out};
use super::{Action, Config, ContainerId, Lifecycle, Now, Reason};
use crate::spec::{Container, Digest, PullPolicy};

/// The pull progress in the status changes at most this often.
pub(super) const PROGRESS_EVERY_MS: u64 = 2000;
/// A long pull records a `PullProgress` Event at most this often.
pub(super) const PROGRESS_EVENT_EVERY_MS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Image {
    pub reference: String,
    pub policy: PullPolicy,
    /// The digest of the image the container last started from (`imageID`).
    pub id: Option<Digest>,
    /// The delay the last failed pull waits; 0 when the last pull did not fail.
    delay_ms: u64,
    /// When the status turns from ErrImagePull to ImagePullBackOff.
    pub backoff_from_ms: Option<u64>,
    /// Pulled for the start in progress: a start that still finds it missing fails.
    pub pulled: bool,
    /// The pull in progress: bytes done and total, as last shown.
    progress: Option<(u64, u64)>,
    /// When `progress` was last renewed.
    progress_at_ms: u64,
    /// When the pull in progress began, and when it last recorded an Event.
    pull_began_ms: u64,
    progress_event_ms: u64,
}

impl Image {
    pub fn new(c: &Container) -> Image {
        Image {
            reference: c.image.to_string(),
            policy: c.image_pull_policy,
            id: None,
            delay_ms: 0,
            backoff_from_ms: None,
            pulled: false,
            progress: None,
            progress_at_ms: 0,
            pull_began_ms: 0,
            progress_event_ms: 0,
        }
    }

    /// The Waiting message while the image is pulled.
    pub fn pulling_message(&self) -> String {
        match self.progress {
            Some((done, total)) => self.progress_message(done, total),
            None => format!("Pulling image {:?}", self.reference),
        }
    }

    fn progress_message(&self, done: u64, total: u64) -> String {
        format!(
            "Pulling image {:?}: {} of {}",
            self.reference,
            size(done),
            size(total)
        )
    }

    /// The next pull's delay after a failure: the base, then doubled up to the cap.
    fn next_delay(&mut self, config: &Config) -> u64 {
        self.delay_ms = if self.delay_ms == 0 {
            config.backoff_base_ms
        } else {
            self.delay_ms.saturating_mul(2)
        }
        .min(config.backoff_cap_ms);
        self.delay_ms
    }
}

/// The first action of a start: pull first under Always, else start (which finds out
/// whether the image is there).
pub(super) fn begin_start(c: &mut Ctr, id: ContainerId, now: Now, out: &mut Out) {
    c.image.pulled = false;
    c.image.backoff_from_ms = None;
    match c.image.policy {
        PullPolicy::Always => pull(c, id, now, out),
        PullPolicy::IfNotPresent | PullPolicy::Never => {
            c.state = CState::Starting;
            out.push(Action::StartContainer { id });
        }
    }
}

/// A pull begins, with no progress yet.
fn pull(c: &mut Ctr, id: ContainerId, now: Now, out: &mut Out) {
    c.state = CState::Pulling;
    c.image.progress = None;
    c.image.pull_began_ms = now.mono_ms;
    c.image.progress_event_ms = now.mono_ms;
    let m = format!("Pulling image {:?}", c.image.reference);
    out.normal(EventReason::Pulling, c, &m, now);
    out.push(Action::PullImage { id });
}

/// Bytes in decimal units with one decimal, as `docker pull` shows them: `12.3 MB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut scale = 1000u64;
    let mut unit = 0;
    while bytes / 1000 >= scale && unit < UNITS.len() - 1 {
        scale *= 1000;
        unit += 1;
    }
    let tenths = bytes.saturating_mul(10).saturating_add(scale / 2) / scale;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// ErrImagePull (or ErrImageNeverPull) with `message`, retried after the back-off.
fn failed(c: &mut Ctr, reason: Reason, message: String, config: &Config, now: Now, out: &mut Out) {
    let delay = match reason {
        Reason::ErrImageNeverPull => config.backoff_base_ms,
        _ => c.image.next_delay(config),
    };
    let event = match reason {
        Reason::ErrImageNeverPull => EventReason::ErrImageNeverPull,
        _ => EventReason::Failed,
    };
    out.warning(event, c, &message, now);
    c.image.backoff_from_ms = match reason {
        Reason::ErrImagePull => Some(now.mono_ms.saturating_add(config.backoff_base_ms / 2)),
        _ => None,
    };
    c.state = CState::Waiting {
        reason: Some(reason),
        message: Some(message),
        retry_at_ms: Some(now.mono_ms.saturating_add(delay)),
    };
}

impl Lifecycle {
    pub(super) fn on_image_missing(
        &mut self,
        id: ContainerId,
        message: String,
        now: Now,
        out: &mut Out,
    ) {
        let config = self.config;
        let Some(c) = self.ctrs.get_mut(id) else {
            return;
        };
        if c.state != CState::Starting {
            return;
        }
        let image = &c.image.reference;
        if c.image.policy == PullPolicy::Never {
            let m = format!("Container image {image:?} is not present with pull policy of Never");
            failed(c, Reason::ErrImageNeverPull, m, &config, now, out);
        } else if c.image.pulled {
            // The pull succeeded but the store still lacks the image: do not loop.
            let m = format!("image {image:?} is not in the store after its pull: {message}");
            failed(c, Reason::ErrImagePull, m, &config, now, out);
        } else {
            pull(c, id, now, out);
        }
    }

    pub(super) fn on_image_pulled(
        &mut self,
        id: ContainerId,
        size: Option<u64>,
        now: Now,
        out: &mut Out,
    ) {
        let running = matches!(self.stage, Stage::Running);
        let Some(c) = self.ctrs.get_mut(id) else {
            return;
        };
        if c.state != CState::Pulling {
            return;
        }
        c.image.delay_ms = 0;
        let ms = now.mono_ms.saturating_sub(c.image.pull_began_ms);
        let took = format!("{}.{:03}s", ms / 1000, ms % 1000);
        let mut m = format!(
            "Successfully pulled image {:?} in {took}.",
            c.image.reference
        );
        if let Some(size) = size {
            m.push_str(&format!(" Image size: {size} bytes."));
        }
        out.normal(EventReason::Pulled, c, &m, now);
        after_pull(c, id, running, out);
    }

    /// Progress of a pull: shown when the last shown is [`PROGRESS_EVERY_MS`] old.
    pub(super) fn on_image_pull_progress(
        &mut self,
        id: ContainerId,
        done: u64,
        total: u64,
        now: Now,
        out: &mut Out,
    ) {
        let Some(c) = self.ctrs.get_mut(id) else {
            return;
        };
        if c.state != CState::Pulling {
            return;
        }
        let image = &mut c.image;
        let due = image.progress.is_none()
            || now.mono_ms.saturating_sub(image.progress_at_ms) >= PROGRESS_EVERY_MS;
        if due {
            image.progress = Some((done.min(total), total));
            image.progress_at_ms = now.mono_ms;
        }
        let event_due =
            now.mono_ms.saturating_sub(image.progress_event_ms) >= PROGRESS_EVENT_EVERY_MS;
        if event_due {
            image.progress_event_ms = now.mono_ms;
            let m = image.progress_message(done.min(total), total);
            out.normal(EventReason::PullProgress, c, &m, now);
        }
    }

    pub(super) fn on_image_pull_failed(
        &mut self,
        id: ContainerId,
        message: String,
        present: bool,
        now: Now,
        out: &mut Out,
    ) {
        let running = matches!(self.stage, Stage::Running);
        let config = self.config;
        let Some(c) = self.ctrs.get_mut(id) else {
            return;
        };
        if c.state != CState::Pulling {
            return;
        }
        if present {
            // Offline first: the copy in the store will do.
            let m = format!("{message} (starting from the image in the local store)");
            out.warning(EventReason::Failed, c, &m, now);
            after_pull(c, id, running, out);
        } else {
            failed(c, Reason::ErrImagePull, message, &config, now, out);
        }
    }

    pub(super) fn on_image_resolved(&mut self, id: ContainerId, digest: Digest) {
        if let Some(c) = self.ctrs.get_mut(id) {
            c.image.id = Some(digest);
        }
    }

    /// ErrImagePull becomes ImagePullBackOff once its time is up.
    pub(super) fn image_timers(&mut self, now: Now, out: &mut Out) {
        for c in &mut self.ctrs {
            if c.image.backoff_from_ms.is_none_or(|t| t > now.mono_ms) {
                continue;
            }
            c.image.backoff_from_ms = None;
            let m = format!("Back-off pulling image {:?}", c.image.reference);
            if let CState::Waiting {
                reason: reason @ Some(Reason::ErrImagePull),
                message,
                ..
            } = &mut c.state
            {
                *reason = Some(Reason::ImagePullBackOff);
                *message = Some(m.clone());
            } else {
                continue;
            }
            out.normal(EventReason::BackOff, c, &m, now);
        }
    }
}

/// The image is there: start, unless the pod stopped meanwhile.
fn after_pull(c: &mut Ctr, id: ContainerId, pod_running: bool, out: &mut Out) {
    c.image.pulled = true;
    if pod_running {
        c.state = CState::Starting;
        out.push(Action::StartContainer { id });
    } else {
        c.state = CState::Waiting {
            reason: None,
            message: None,
            retry_at_ms: None,
        };
    }
}
