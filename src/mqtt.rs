//! The MQTT side of pealet: the only module that names the client crate (rumqttc, MQTT
//! 3.1.1) and its TLS stack. It does not decide anything about pods (that is `desired`
//! and `reconcile`); it moves typed messages between the broker and the agent.
//!
//! # Device connection ([`Device`])
//!
//! One thread owns the rumqttc `Connection` and only polls it (every [`TICK`] at most);
//! between two polls it moves what the agent left in the [`Mailbox`] into the client's
//! request channel (capacity [`REQUEST_CAPACITY`], never blocking: `try_publish`, and
//! what does not fit stays in the mailbox) and what the broker sent into the mailbox.
//! The agent never touches rumqttc. Overflow policy (see `mailbox`): statuses coalesce
//! to the newest per pod, events are a ring of 64 that drops the oldest and counts,
//! the node status is newest-wins, desired-state updates are newest-wins per pod,
//! remote-logs requests and answers are queues of 4 that drop the oldest.
//! Nothing is handed to the client while disconnected, so an outage costs no memory
//! beyond one slot per pod, and on reconnect the current status of every pod is sent.
//!
//! Session: client id `pealet-<node>`, clean session off (the broker keeps the
//! subscriptions and queued QoS 1 messages while the device is away), QoS 1 for
//! everything, keep-alive from the settings, Last Will = the retained NodeStatus with
//! `online: false` on `<prefix>/<node>/node`. The device subscribes to its pods and its
//! index on every connect, so the broker sends the retained ones again. On a connection
//! error the thread sleeps with capped exponential back-off and jitter ([`Backoff`]),
//! then polls again, which reconnects. Incoming packets up to [`MAX_INCOMING`] are
//! read; the payload limit (64 KiB) is checked per message before decoding, so an
//! oversized message is refused without dropping the connection.
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
//! `mqtts://` uses rustls with the ring provider: a CA file (default: the system
//! bundle), and a device certificate and key for mutual TLS. TLS costs about 0.9 MiB
//! of the stripped x86-64 release binary (docs/benchmarks.md has the figures).

mod backoff;
mod device;
mod mailbox;
mod operator;
#[cfg(feature = "tls")]
mod tls;
pub mod topics;

use std::path::PathBuf;
use std::time::Duration;

use rumqttc::MqttOptions;

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

/// Longest wait in one poll of the connection: the latency of an outgoing message.
pub const TICK: Duration = Duration::from_millis(50);

/// A client and its connection with `TCP_NODELAY`: MQTT messages are small, and with
/// Nagle's algorithm one written while the previous one awaits its (delayed) ACK waits
/// up to 40 ms on Linux; every status and apply would.
fn client(opts: rumqttc::MqttOptions, capacity: usize) -> (rumqttc::Client, rumqttc::Connection) {
    let (client, mut connection) = rumqttc::Client::new(opts, capacity);
    let mut network = connection.eventloop.network_options();
    network.set_tcp_nodelay(true);
    connection.eventloop.set_network_options(network);
    (client, connection)
}
/// Requests the client's channel holds between two polls.
pub const REQUEST_CAPACITY: usize = 32;
/// QoS 1 messages in flight (unacknowledged) at a time.
pub const INFLIGHT: u16 = 16;
/// Largest packet read from the broker. Bigger than the payload limit so that an
/// oversized message is refused on its own (a packet over this drops the connection).
pub const MAX_INCOMING: usize = 1024 * 1024;

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

/// Client options for `settings`: broker, keep-alive, credentials, TLS.
fn options(settings: &Settings, client_id: &str, clean: bool) -> Result<MqttOptions, MqttError> {
    let broker = settings.broker.as_ref().ok_or(MqttError::NoBroker)?;
    let mut o = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    o.set_keep_alive(settings.keep_alive.max(Duration::from_secs(5)))
        .set_clean_session(clean)
        .set_inflight(INFLIGHT)
        .set_request_channel_capacity(REQUEST_CAPACITY)
        .set_max_packet_size(MAX_INCOMING, MAX_PAYLOAD + 1024);
    match (&settings.username, &settings.password_file) {
        (Some(user), Some(file)) => {
            o.set_credentials(user.clone(), read_password(file)?);
        }
        (Some(user), None) => {
            o.set_credentials(user.clone(), "");
        }
        (None, Some(_)) => return Err(MqttError::PasswordWithoutUser),
        (None, None) => {}
    }
    if broker.tls {
        set_tls(&mut o, settings)?;
    } else if settings.cert_file.is_some() || settings.key_file.is_some() {
        // A certificate given for a plain connection is a mistake worth saying.
        return Err(MqttError::Tls(
            "a client certificate needs an mqtts:// broker".into(),
        ));
    }
    Ok(o)
}

#[cfg(feature = "tls")]
fn set_tls(o: &mut MqttOptions, settings: &Settings) -> Result<(), MqttError> {
    use rumqttc::{TlsConfiguration, Transport};
    let config = tls::client_config(
        settings.ca_file.as_deref(),
        settings.cert_file.as_deref(),
        settings.key_file.as_deref(),
    )?;
    o.set_transport(Transport::Tls(TlsConfiguration::Rustls(config)));
    Ok(())
}

#[cfg(not(feature = "tls"))]
fn set_tls(_: &mut MqttOptions, _: &Settings) -> Result<(), MqttError> {
    Err(MqttError::Tls(
        "this pealet was built without TLS (cargo feature `tls`)".into(),
    ))
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
