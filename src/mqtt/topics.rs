//! Topic names of one node (`<prefix>/<node>/pods/<pod>`, `status/<pod>`, `node`,
//! `events`, `index`, `logs/req`, `logs/resp/<id>`) and the device-side receive path: a
//! message on a subscribed topic becomes a typed `desired::Update` or logs request, its
//! payload size checked before decoding; a signed one (format version 3) is checked
//! against its topic and, with trusted keys, verified here (`trust::Gate` then decides).
//!
//! No network here: `device` feeds it what the broker sends.

use crate::desired::{Seal, Update};
use crate::spec::bounded::MAX_PAYLOAD;
use crate::spec::logs::is_request_id;
use crate::spec::signed::{self, SignedKind};
use crate::spec::validate::is_dns_label;
use crate::spec::{self, DecodeError, Index, Kind, LogsRequest, Pod};
use crate::trust::TrustedKeys;

/// The topics of one node under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
    node: String,
    /// The keys whose signatures the receive path checks (the device's config).
    keys: TrustedKeys,
}

impl Topics {
    pub fn new(prefix: &str, node: &str) -> Topics {
        Topics {
            prefix: prefix.trim_end_matches('/').to_owned(),
            node: node.to_owned(),
            keys: TrustedKeys::default(),
        }
    }

    /// The same topics, whose receive path verifies signatures against `keys`.
    pub fn with_keys(mut self, keys: TrustedKeys) -> Topics {
        self.keys = keys;
        self
    }

    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// `<prefix>/<node>/pods/<pod>`: the retained Pod; empty = delete.
    pub fn pod(&self, pod: &str) -> String {
        format!("{}/{}/pods/{pod}", self.prefix, self.node)
    }

    /// `<prefix>/<node>/pods/+`.
    pub fn pods_filter(&self) -> String {
        self.pod("+")
    }

    /// `<prefix>/<node>/status/<pod>`: the retained PodStatus; empty after deletion.
    pub fn status(&self, pod: &str) -> String {
        format!("{}/{}/status/{pod}", self.prefix, self.node)
    }

    pub fn status_filter(&self) -> String {
        self.status("+")
    }

    /// `<prefix>/<node>/node`: the retained NodeStatus, and the Last Will.
    pub fn node(&self) -> String {
        format!("{}/{}/node", self.prefix, self.node)
    }

    /// `<prefix>/+/node`: every node's status, for `pealet get nodes`.
    pub fn all_nodes_filter(prefix: &str) -> String {
        format!("{}/+/node", prefix.trim_end_matches('/'))
    }

    /// `<prefix>/<node>/events`: Events, not retained.
    pub fn events(&self) -> String {
        format!("{}/{}/events", self.prefix, self.node)
    }

    /// `<prefix>/<node>/index`: the retained Index of desired pods.
    pub fn index(&self) -> String {
        format!("{}/{}/index", self.prefix, self.node)
    }

    /// `<prefix>/<node>/logs/req`: remote-logs requests to the device, not retained.
    pub fn logs_request(&self) -> String {
        format!("{}/{}/logs/req", self.prefix, self.node)
    }

    /// `<prefix>/<node>/logs/resp/<id>`: the answer to the logs request `id`, not
    /// retained. The device derives it from the id: a request cannot make the device
    /// publish anywhere else.
    pub fn logs_reply(&self, id: &str) -> String {
        format!("{}/{}/logs/resp/{id}", self.prefix, self.node)
    }

    /// The client id of the device: fixed per node, so that its session persists.
    pub fn device_client_id(&self) -> String {
        format!("pealet-{}", self.node)
    }

    /// What the device subscribes to: its desired pods and its index, nothing else.
    pub fn device_filters(&self) -> [String; 2] {
        [self.pods_filter(), self.index()]
    }

    /// The pod a `pods/<pod>` or `status/<pod>` topic of this node names; `None` also
    /// when that name is not a DNS label (no pod can have it).
    pub fn pod_of<'t>(&self, topic: &'t str, kind: &str) -> Option<&'t str> {
        let rest = topic.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        let rest = rest.strip_prefix(&self.node)?.strip_prefix('/')?;
        (rest.strip_prefix(kind)?.strip_prefix('/')).filter(|n| is_dns_label(n))
    }

    /// The node a `<prefix>/<node>/node` topic names.
    pub fn node_of<'t>(prefix: &str, topic: &'t str) -> Option<&'t str> {
        let rest = topic
            .strip_prefix(prefix.trim_end_matches('/'))?
            .strip_prefix('/')?;
        rest.strip_suffix("/node").filter(|n| !n.contains('/'))
    }

    /// The device-side receive path: a message on `topic` as a typed update, `None`
    /// when the topic is not one of this node's desired-state topics, or names no pod
    /// that could exist (not a DNS label: `pods/`, `pods/..`, `pods/a/b`): nothing is
    /// ever stored, run or published under such a name.
    pub fn receive(&self, topic: &str, payload: &[u8]) -> Option<Update> {
        if signed::is_signed(payload) {
            return self.receive_signed(topic, payload);
        }
        if topic == self.index() {
            return Some(Update::Index(
                checked(payload).and_then(spec::decode::<Index>),
            ));
        }
        let name = self.pod_of(topic, "pods")?.to_owned();
        if payload.is_empty() {
            return Some(Update::Deleted { name });
        }
        let pod = checked(payload).and_then(|p| spec::decode::<Pod>(p).map(Box::new));
        Some(Update::Pod { name, pod })
    }

    /// A signed message (format version 3): parsed, checked to be for this node and
    /// the pod (or index) of its topic, its signature verified when keys are trusted;
    /// [`Update::Signed`] around what it carries, or [`Update::Untrusted`].
    fn receive_signed(&self, topic: &str, payload: &[u8]) -> Option<Update> {
        let pod = if topic == self.index() {
            None
        } else {
            Some(self.pod_of(topic, "pods")?.to_owned())
        };
        let untrusted = |why: String| Update::Untrusted {
            pod: pod.clone(),
            why,
        };
        let env = match signed::open(payload) {
            Ok(env) => env,
            Err(e) => return Some(untrusted(format!("signed message: {e}"))),
        };
        let h = &env.header;
        if h.node.as_str() != self.node || h.pod.as_deref() != pod.as_deref() {
            return Some(untrusted(format!(
                "a message signed for node {:?}{} arrived on {topic}",
                h.node.as_str(),
                h.pod
                    .as_ref()
                    .map(|p| format!(", pod {p:?},"))
                    .unwrap_or_default()
            )));
        }
        let key = match self.keys.is_empty() {
            true => None,
            false => match self.keys.verify(&env) {
                Ok(id) => Some(id),
                Err(why) => return Some(untrusted(why)),
            },
        };
        let seal = Seal {
            key,
            generation: h.generation,
            digest: crate::trust::digest(env.signed),
        };
        let inner = match (env.kind, pod) {
            (SignedKind::Index, _) => Update::Index(spec::decode::<Index>(env.message)),
            (SignedKind::Deletion, Some(name)) => Update::Deleted { name },
            (SignedKind::Pod, Some(name)) => Update::Pod {
                name,
                pod: spec::decode::<Pod>(env.message).map(Box::new),
            },
            // `open` checked that a pod message names a pod, and so does its topic.
            (SignedKind::Pod | SignedKind::Deletion, None) => return None,
        };
        Some(Update::Signed(Box::new(inner), seal))
    }

    /// A message of `len` bytes on `topic` whose payload the client dropped because it
    /// is over the limit: the update that refuses it, `None` when the topic is not a
    /// desired-state topic of this node.
    pub fn receive_oversized(&self, topic: &str, len: usize) -> Option<Update> {
        let too_large = DecodeError::TooLarge {
            len,
            max: MAX_PAYLOAD,
        };
        if topic == self.index() {
            return Some(Update::Index(Err(too_large)));
        }
        let name = self.pod_of(topic, "pods")?.to_owned();
        Some(Update::Pod {
            name,
            pod: Err(too_large),
        })
    }

    /// The device-side receive path of a logs request: `None` when `topic` is not this
    /// node's request topic.
    pub fn receive_logs(
        &self,
        topic: &str,
        payload: &[u8],
    ) -> Option<Result<LogsRequest, DecodeError>> {
        if topic != self.logs_request() {
            return None;
        }
        let request = checked(payload).and_then(spec::decode::<LogsRequest>);
        Some(request.and_then(|r| {
            if is_request_id(&r.id) {
                Ok(r)
            } else {
                Err(DecodeError::Malformed {
                    kind: Kind::LogsRequest,
                    what: "the request id is not 1 to 32 of [a-z0-9-]",
                })
            }
        }))
    }
}

/// The payload limit, checked before anything is decoded.
fn checked(payload: &[u8]) -> Result<&[u8], DecodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(DecodeError::TooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::manifest::read::read_pod;

    fn topics() -> Topics {
        Topics::new("pealet/v1/", "pi-01")
    }

    #[test]
    fn names() {
        let t = topics();
        assert_eq!(t.pod("web"), "pealet/v1/pi-01/pods/web");
        assert_eq!(t.status("web"), "pealet/v1/pi-01/status/web");
        assert_eq!(t.node(), "pealet/v1/pi-01/node");
        assert_eq!(t.events(), "pealet/v1/pi-01/events");
        assert_eq!(t.index(), "pealet/v1/pi-01/index");
        assert_eq!(
            t.device_filters(),
            ["pealet/v1/pi-01/pods/+", "pealet/v1/pi-01/index"]
        );
        assert_eq!(t.device_client_id(), "pealet-pi-01");
        assert_eq!(t.logs_request(), "pealet/v1/pi-01/logs/req");
        assert_eq!(t.logs_reply("a1"), "pealet/v1/pi-01/logs/resp/a1");
        assert_eq!(
            t.pod_of("pealet/v1/pi-01/status/web", "status"),
            Some("web")
        );
        assert_eq!(t.pod_of("pealet/v1/pi-02/status/web", "status"), None);
        for junk in ["", "..", "a/b", "Web", "a_b"] {
            let topic = format!("pealet/v1/pi-01/status/{junk}");
            assert_eq!(t.pod_of(&topic, "status"), None, "{junk}");
        }
        assert_eq!(
            Topics::node_of("pealet/v1", "pealet/v1/pi-02/node"),
            Some("pi-02")
        );
        assert_eq!(Topics::node_of("pealet/v1", "pealet/v1/a/b/node"), None);
    }

    #[test]
    fn receive_yields_typed_updates_or_errors() {
        let t = topics();
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n\
                    spec: {containers: [{name: c, image: nginx}]}\n";
        let pod = read_pod(yaml).unwrap().pod;
        let bytes = spec::encode(&pod);
        let got = t.receive("pealet/v1/pi-01/pods/web", &bytes);
        assert_eq!(
            got,
            Some(Update::Pod {
                name: "web".into(),
                pod: Ok(Box::new(pod.clone()))
            })
        );
        let deleted = t.receive("pealet/v1/pi-01/pods/web", b"");
        assert_eq!(deleted, Some(Update::Deleted { name: "web".into() }));
        let err = |topic: &str, payload: &[u8]| match t.receive(topic, payload) {
            Some(Update::Pod { pod: Err(e), .. }) | Some(Update::Index(Err(e))) => e,
            other => panic!("{other:?}"),
        };
        let too_big = vec![1u8; MAX_PAYLOAD + 1];
        assert!(matches!(
            err("pealet/v1/pi-01/pods/web", &too_big),
            DecodeError::TooLarge { .. }
        ));
        assert_eq!(
            err("pealet/v1/pi-01/pods/web", b"garbage"),
            DecodeError::UnsupportedVersion(b'g')
        );
        let status_kind = spec::encode(&Index::default());
        assert!(matches!(
            err("pealet/v1/pi-01/pods/web", &status_kind),
            DecodeError::WrongKind { .. }
        ));
        for junk in ["Bad_Name", "", "..", "a/b", "-a"] {
            let topic = format!("pealet/v1/pi-01/pods/{junk}");
            assert_eq!(t.receive(&topic, &bytes), None, "{junk}");
            assert_eq!(t.receive(&topic, b""), None, "{junk}");
        }
        assert!(matches!(
            err("pealet/v1/pi-01/index", &bytes),
            DecodeError::WrongKind { .. }
        ));
        assert_eq!(t.receive("pealet/v1/pi-01/status/web", &bytes), None);
        assert_eq!(t.receive("pealet/v1/pi-01/logs/req", &bytes), None);
        assert_eq!(t.receive("pealet/v1/pi-02/pods/web", &bytes), None);
    }

    #[test]
    fn logs_requests_are_typed_and_their_ids_checked() {
        let t = topics();
        let mut req = LogsRequest {
            id: "a1".try_into().unwrap(),
            pod: spec::bounded::name("web").unwrap(),
            container: None,
            tail: Some(10),
            previous: false,
            timestamps: false,
            follow: None,
        };
        let topic = "pealet/v1/pi-01/logs/req";
        let got = t.receive_logs(topic, &spec::encode(&req));
        assert_eq!(got, Some(Ok(req.clone())));
        assert_eq!(t.receive_logs("pealet/v1/pi-02/logs/req", b"x"), None);
        assert_eq!(t.receive_logs(t.pod("web").as_str(), b"x"), None);
        req.id = "../status/web".try_into().unwrap();
        assert!(matches!(
            t.receive_logs(topic, &spec::encode(&req)),
            Some(Err(DecodeError::Malformed { .. }))
        ));
        assert!(matches!(
            t.receive_logs(topic, &vec![1u8; MAX_PAYLOAD + 1]),
            Some(Err(DecodeError::TooLarge { .. }))
        ));
        assert_eq!(t.receive_logs(topic, b""), Some(Err(DecodeError::Empty)));
    }
}
