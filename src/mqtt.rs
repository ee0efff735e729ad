//! The MQTT side of pealet: the only module that names the client crate (rumqttc, MQTT
//! 3.1.1 or 5) and its TLS stack. It does not decide anything about pods (that is
//! `desired` and `reconcile`); it moves typed messages between the broker and the agent.
//!
//! # The connection (`link`)
//!
//! One thread reads each connection and never cuts an attempt short: TCP (each address
//! of the broker's name in turn), TLS and CONNECT/CONNACK run until they succeed, fail,
//! or reach the connect timeout (`connect_timeout`, default 30 s), so a link of two
//! seconds' round trip connects as a loopback one does, only slower. The client pings
//! every keep-alive (`keep_alive`, default 30 s); when nothing has arrived for 1.5
//! keep-alives the link is taken for dead and the connection dropped. Between attempts
//! the device pauses with capped exponential back-off and jitter ([`Backoff`], from
//! 0.25 s up to `reconnect_max`, default 30 s), minus the time the failed attempt took.
//! MQTT 5 (`mqtt_version = 5`) adds a session expiry instead of a session that lives
//! forever, message expiry on Events and logs answers, the broker's reason codes in
//! errors, and the maximum packet size announced to the broker.
//!
//! # Device connection ([`Device`])
//!
//! The reader thread moves what the broker sent into the [`Mailbox`]; whatever the agent
//! leaves there is handed to the client's request channel (capacity
//! [`REQUEST_CAPACITY`], never blocking; what does not fit stays in the mailbox) at once
//! by the agent's own thread, and again at every connect. The agent never touches
//! rumqttc. Overflow policy (see `mailbox`): statuses coalesce to the newest per pod,
//! events are a ring of 64 that drops the oldest and counts, the node status is
//! newest-wins, desired-state updates are newest-wins per pod, remote-logs requests and
//! answers are queues of 4 that drop the oldest. Nothing is handed to the client while
//! disconnected, so an outage costs no memory beyond one slot per pod, and on reconnect
//! the current status of every pod is sent.
//!
//! Session: client id `pealet-<node>`, a persistent session (the broker keeps the
//! subscriptions and queued QoS 1 messages while the device is away; with MQTT 5 for a
//! day), QoS 1 for everything, Last Will = the retained NodeStatus with `online: false`
//! on `<prefix>/<node>/node`. The device subscribes to its pods and its index on every
//! connect, so the broker sends the retained ones again. Incoming packets up to
//! [`MAX_INCOMING`] (MQTT 5, announced to the broker, which then never sends more) or
//! [`MAX_INCOMING_V311`] (MQTT 3.1.1, which cannot announce a limit) are read; the
//! payload limit (64 KiB) is checked per message before anything is copied or decoded,
//! so an oversized message is dropped without dropping the connection, and refused
//! with one Warning Event per topic and size (a retained one comes at every connect).
//!
//! # Operator connection ([`Operator`])
//!
//! `pealet apply/get/delete/describe/logs`: a short clean session that reads retained
//! messages (subscribe, then a marker message on `<prefix>/_operator/<client id>`: when
//! it comes back, every retained message before it has arrived) and publishes with
//! QoS 1, waiting for each acknowledgement. `logs --node` subscribes to its reply topic
//! first, then publishes its request and waits for the answer.
//!
//! # TLS
//!
//! `mqtts://` uses rustls with the ring provider: a CA file, or else the system's trust
//! store (`$SSL_CERT_FILE`, else the distribution's bundle), and a device certificate
//! and key for mutual TLS. TLS costs about 0.9 MiB of the stripped x86-64 release
//! binary (docs/benchmarks.md has the figures).

mod backoff;
mod device;
mod link;
mod mailbox;
mod operator;
#[cfg(feature = "tls")]
mod tls;
pub mod topics;

use std::path::PathBuf;
use std::time::Duration;

pub use backoff::Backoff;
pub use device::Device;
pub use mailbox::{
    Dropped, Inbound, MAX_EVENTS, MAX_LOG_ANSWERS, MAX_LOG_REQUESTS, MAX_PENDING, MAX_STATUSES,
    Mailbox,
};
pub use operator::{Message, Operator};
pub use topics::Topics;

use crate::config::Settings;
use crate::spec::bounded::MAX_PAYLOAD;

/// The shortest keep-alive used: pings more often than this cost a metered link for
/// nothing.
pub const MIN_KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Requests the client's channel holds between two polls.
pub const REQUEST_CAPACITY: usize = 32;
/// QoS 1 messages in flight (unacknowledged) at a time.
pub const INFLIGHT: u16 = 16;
/// Largest packet read from the broker with MQTT 5, announced to it in CONNECT: the
/// broker never sends this client a bigger packet (mosquitto drops the message for this
/// client and keeps the connection). Bigger than the payload limit so that a message a
/// little over it is read and refused on its own.
pub const MAX_INCOMING: usize = 1024 * 1024;
/// Largest packet read from the broker with MQTT 3.1.1, which has no way to tell the
/// broker a limit: a packet over what the client reads drops the connection, and the
/// broker sends the same message again at the next connect (retained, or queued in the
/// persistent session), so the device would be deaf for good. Up to this size the
/// client reads the message whole (acknowledges it, so it leaves the session's queue)
/// and the agent drops it by the payload limit. The cost: the message's bytes on the
/// link at every connect (retained), and a read buffer of its size that the client
/// keeps until the connection ends.
pub const MAX_INCOMING_V311: usize = 16 * 1024 * 1024;
/// Largest packet written: a payload at the limit with its topic and header.
const MAX_PAYLOAD_OUT: usize = MAX_PAYLOAD + 1024;

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("no broker given: use --broker mqtt://host[:port]")]
    NoBroker,
    #[error("read {path}: {message}")]
    ReadFile { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Certificate { path: PathBuf, message: String },
    #[error("TLS set-up: {0}")]
    Tls(String),
    #[error("a client certificate needs its key, and a key its certificate")]
    CertWithoutKey,
    #[error("--password-file needs --username")]
    PasswordWithoutUser,
    #[error("connect to {broker}: {message}")]
    Connect { broker: String, message: String },
    #[error("no answer from the broker within {0:?} while waiting for {1}")]
    Timeout(Duration, &'static str),
    #[error("the connection to the broker was lost while waiting for {0}: {1}")]
    Lost(&'static str, String),
    #[error("start the MQTT thread: {0}")]
    Thread(std::io::Error),
}

/// The connection parameters for `settings`: broker, version, keep-alive, connect
/// timeout, credentials, TLS; `will` is the retained Last Will.
fn params(
    settings: &Settings,
    client_id: &str,
    persistent: bool,
    will: Option<(String, Vec<u8>)>,
) -> Result<link::Params, MqttError> {
    let broker = settings.broker.as_ref().ok_or(MqttError::NoBroker)?;
    let credentials = match (&settings.username, &settings.password_file) {
        (Some(user), Some(file)) => Some((user.clone(), read_password(file)?)),
        (Some(user), None) => Some((user.clone(), String::new())),
        (None, Some(_)) => return Err(MqttError::PasswordWithoutUser),
        (None, None) => None,
    };
    if !broker.tls && (settings.cert_file.is_some() || settings.key_file.is_some()) {
        // A certificate given for a plain connection is a mistake worth saying.
        return Err(MqttError::Tls(
            "a client certificate needs an mqtts:// broker".into(),
        ));
    }
    if broker.tls && cfg!(not(feature = "tls")) {
        return Err(MqttError::Tls(
            "this pealet was built without TLS (cargo feature `tls`)".into(),
        ));
    }
    Ok(link::Params {
        version: settings.mqtt_version,
        client_id: client_id.to_owned(),
        host: broker.host.clone(),
        port: broker.port,
        persistent,
        keep_alive: settings.keep_alive.max(MIN_KEEP_ALIVE),
        connect_timeout: settings.connect_timeout.max(Duration::from_secs(1)),
        credentials,
        will,
        #[cfg(feature = "tls")]
        tls: match broker.tls {
            true => Some(tls::client_config(
                settings.ca_file.as_deref(),
                settings.cert_file.as_deref(),
                settings.key_file.as_deref(),
            )?),
            false => None,
        },
        capacity: REQUEST_CAPACITY,
        inflight: INFLIGHT,
    })
}

/// The password: the file's first line (a trailing newline is not part of it).
fn read_password(path: &std::path::Path) -> Result<String, MqttError> {
    let text = std::fs::read_to_string(path).map_err(|e| MqttError::ReadFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// How the broker is named in messages.
fn broker_name(settings: &Settings) -> String {
    match &settings.broker {
        Some(b) => format!(
            "{}://{}:{}",
            if b.tls { "mqtts" } else { "mqtt" },
            b.host,
            b.port
        ),
        None => "no broker".into(),
    }
}
