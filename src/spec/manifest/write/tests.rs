//! Tests of the writer: whole manifests as kubectl would print them.

use super::super::emit::{to_json, to_yaml};
use super::*;
use crate::spec::bounded::{BoundedVec, name};
use crate::spec::*;

fn seed() -> Pod {
    let command = BoundedVec::try_from(vec![
        "echo".try_into().unwrap(),
        "Hello World!".try_into().unwrap(),
    ]);
    let mut container = Container::new(name("test").unwrap(), "alpine:latest".try_into().unwrap());
    container.command = command.unwrap();
    let label = (
        Key::try_from("app.kubernetes.io/name").unwrap(),
        "test".try_into().unwrap(),
    );
    Pod {
        name: name("test").unwrap(),
        namespace: None,
        uid: None,
        labels: BoundedVec::try_from(vec![label]).unwrap(),
        annotations: BoundedVec::new(),
        spec: PodSpec {
            containers: BoundedVec::try_from(vec![container]).unwrap(),
            restart_policy: RestartPolicy::Never,
            ..PodSpec::default()
        },
    }
}

#[test]
fn pod_prints_with_kubernetes_defaults() {
    let want = "\
apiVersion: v1
kind: Pod
metadata:
  name: test
  labels:
    app.kubernetes.io/name: test
spec:
  containers:
  - name: test
    image: alpine:latest
    command:
    - echo
    - Hello World!
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    imagePullPolicy: Always
  restartPolicy: Never
";
    assert_eq!(to_yaml(&pod(&seed())), want);
    let json = to_json(&message(&AnyMessage::Pod(seed())));
    assert!(
        json.starts_with("{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"Pod\",\n"),
        "{json}"
    );
    assert!(
        json.contains("\n                \"command\": [\n                    \"echo\",\n"),
        "{json}"
    );
}

#[test]
fn pod_parts_use_kubernetes_shapes() {
    let mut p = seed();
    let c = &mut p.spec.containers.as_mut_slice()[0];
    c.env = BoundedVec::try_from(vec![
        EnvVar {
            name: "A".try_into().unwrap(),
            value: EnvValue::FieldRef(FieldRef::Annotation("x/y".try_into().unwrap())),
        },
        EnvVar {
            name: "B".try_into().unwrap(),
            value: EnvValue::ResourceFieldRef(ResourceFieldRef {
                container_name: None,
                resource: ResourceField::RequestsCpu,
                divisor: Some(1000),
            }),
        },
    ])
    .unwrap();
    c.readiness_probe = Some(Probe::new(ProbeHandler::HttpGet(HttpGet {
        host: None,
        path: None,
        port: PortRef::Number(8080),
        scheme: Scheme::Https,
        http_headers: BoundedVec::new(),
    })));
    c.resources = Some(Resources::default());
    p.spec.volumes = BoundedVec::try_from(vec![Volume {
        name: name("v").unwrap(),
        source: VolumeSource::EmptyDir {
            medium: StorageMedium::Default,
            size_limit: None,
        },
    }])
    .unwrap();
    p.spec.host.network = true;
    let yaml = to_yaml(&pod(&p));
    for want in [
        "      valueFrom:\n        fieldRef:\n          apiVersion: v1\n          fieldPath: metadata.annotations['x/y']\n",
        "        resourceFieldRef:\n          resource: requests.cpu\n          divisor: \"1\"\n",
        "      httpGet:\n        port: 8080\n        scheme: HTTPS\n",
        "    resources: {}\n",
        "  volumes:\n  - name: v\n    emptyDir: {}\n",
        "  hostNetwork: true\n",
    ] {
        assert!(yaml.contains(want), "missing {want:?} in\n{yaml}");
    }
}

#[test]
fn status_times_are_absolute() {
    let st = PodStatus {
        spec_hash: SpecHash([0xab; 8]),
        phase: PodPhase::Succeeded,
        conditions: PodConditions::default(),
        reason: None,
        message: None,
        pod_ip: None,
        host_ip: None,
        start_time: Time(1_795_313_049),
        init_container_statuses: BoundedVec::new(),
        container_statuses: BoundedVec::try_from(vec![ContainerStatus {
            name: name("c").unwrap(),
            state: ContainerState::Terminated {
                exit_code: -1,
                signal: Some(9),
                reason: Reason::OomKilled,
                message: None,
                started_at: Since(1),
                finished_at: Since(3600),
            },
            last_state: None,
            ready: false,
            started: None,
            restart_count: 0,
            image_id: None,
            probes: BoundedVec::new(),
        }])
        .unwrap(),
    };
    let yaml = to_yaml(&pod_status(&st));
    let want = "  state:\n    terminated:\n      exitCode: -1\n      signal: 9\n      reason: OOMKilled\n      \
                startedAt: \"2026-11-22T02:04:10Z\"\n      finishedAt: \"2026-11-22T03:04:09Z\"\n  lastState: {}\n";
    assert!(yaml.contains(want), "{yaml}");
    assert!(
        yaml.contains("- type: Ready\n  status: Unknown\n"),
        "{yaml}"
    );
    assert!(yaml.ends_with("specHash: abababababababab\n"), "{yaml}");
    // Offsets past the end of time saturate instead of overflowing.
    let late = PodStatus {
        start_time: Time(u64::MAX),
        ..st
    };
    assert!(to_yaml(&pod_status(&late)).contains("startedAt:"));
}

#[test]
fn node_events_name_their_object() {
    let e = Event {
        kind: EventType::Normal,
        reason: "Pulled".try_into().unwrap(),
        pod: None,
        container: None,
        message: "image pulled".try_into().unwrap(),
        time: Time(0),
        count: 1,
    };
    let want = "type: Normal\nreason: Pulled\ninvolvedObject:\n  kind: Node\nmessage: image pulled\n\
                lastTimestamp: \"1970-01-01T00:00:00Z\"\ncount: 1\n";
    assert_eq!(to_yaml(&event(&e)), want);
}
