//! Sample messages for the golden-byte tests, the corpus and `examples/wire-sizes.rs`.

use std::net::{IpAddr, Ipv4Addr};

use pealet::spec::bounded::{BoundedVec, name};
use pealet::spec::*;

pub fn n(s: &str) -> bounded::Name {
    name(s).expect("a name")
}

pub fn t<const MAX: usize>(s: &str) -> bounded::BoundedString<MAX> {
    s.try_into().expect("a bounded string")
}

pub fn v<T, const MAX: usize>(items: Vec<T>) -> BoundedVec<T, MAX> {
    BoundedVec::try_from(items).unwrap_or_else(|_| panic!("more than {MAX} items"))
}

pub fn k(s: &str) -> Key {
    Key::try_from(s).expect("a key")
}

pub fn container(name: &str, image: &str) -> Container {
    Container::new(n(name), t(image))
}

/// The pod of the Kubernetes reference's first example.
pub fn seed_pod() -> Pod {
    let mut c = container("test", "alpine:latest");
    c.command = v(vec![t("echo"), t("Hello World!")]);
    Pod {
        name: n("test"),
        namespace: None,
        uid: None,
        labels: v(vec![
            (
                k("app.kubernetes.io/created-by"),
                t("kubernetes-complete-reference"),
            ),
            (k("app.kubernetes.io/name"), t("test")),
        ]),
        annotations: v(vec![]),
        spec: PodSpec {
            containers: v(vec![c]),
            restart_policy: RestartPolicy::Never,
            ..PodSpec::default()
        },
    }
}

/// A pod that uses most of the spec: probes, env, resources, volumes, security.
pub fn full_pod() -> Pod {
    let mut web = container("web", "nginx:1.27");
    web.ports = v(vec![ContainerPort {
        name: Some(n("http")),
        container_port: 80,
        host_port: Some(8080),
        protocol: Protocol::Tcp,
    }]);
    web.env = v(vec![
        EnvVar {
            name: t("MODE"),
            value: EnvValue::Value(t("production")),
        },
        EnvVar {
            name: t("APP"),
            value: EnvValue::FieldRef(FieldRef::Label(t("app"))),
        },
        EnvVar {
            name: t("POD_IP"),
            value: EnvValue::FieldRef(FieldRef::PodIp),
        },
        EnvVar {
            name: t("MEM_MB"),
            value: EnvValue::ResourceFieldRef(ResourceFieldRef {
                container_name: Some(n("web")),
                resource: ResourceField::LimitsMemory,
                divisor: Some(1 << 20),
            }),
        },
    ]);
    let list = |cpu, memory| ResourceList {
        cpu: Some(cpu),
        memory: Some(memory),
        ephemeral_storage: None,
    };
    web.resources = Some(Resources {
        requests: list(250, 64 << 20),
        limits: list(500, 128 << 20),
    });
    web.volume_mounts = v(vec![
        VolumeMount {
            name: n("cache"),
            mount_path: t("/cache"),
            read_only: false,
            sub_path: None,
        },
        VolumeMount {
            name: n("config"),
            mount_path: t("/etc/app"),
            read_only: true,
            sub_path: Some(t("app")),
        },
    ]);
    let mut live = Probe::new(ProbeHandler::HttpGet(HttpGet {
        host: None,
        path: Some(t("/healthz")),
        port: PortRef::Name(n("http")),
        scheme: Scheme::Http,
        http_headers: v(vec![HttpHeader {
            name: t("X-Probe"),
            value: t("1"),
        }]),
    }));
    live.initial_delay_seconds = 5;
    web.liveness_probe = Some(live);
    web.readiness_probe = Some(Probe::new(ProbeHandler::TcpSocket {
        host: None,
        port: PortRef::Number(80),
    }));
    web.startup_probe = Some(Probe {
        failure_threshold: 30,
        ..Probe::new(ProbeHandler::Exec {
            command: v(vec![t("cat"), t("/tmp/ready")]),
        })
    });
    web.lifecycle = Some(Lifecycle {
        post_start: None,
        pre_stop: Some(LifecycleHandler::Sleep { seconds: 5 }),
    });
    web.security_context = Some(SecurityContext {
        run_as_user: Some(1000),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            add: v(vec![t("NET_BIND_SERVICE")]),
            drop: v(vec![t("ALL")]),
        }),
        seccomp_profile: Some(SecurityProfile::Localhost(t("web.json"))),
        ..SecurityContext::default()
    });
    web.termination_message = Some(TerminationMessage {
        path: t("/dev/termination-log"),
        policy: TerminationMessagePolicy::FallbackToLogsOnError,
    });
    let mut sidecar = container("log-shipper", "busybox");
    sidecar.args = v(vec![t("sh"), t("-c"), t("tail -F /cache/log")]);
    sidecar.restart_policy = Some(ContainerRestartPolicy::Always);
    let volumes = vec![
        Volume {
            name: n("cache"),
            source: VolumeSource::EmptyDir {
                medium: StorageMedium::Default,
                size_limit: None,
            },
        },
        Volume {
            name: n("scratch"),
            source: VolumeSource::EmptyDir {
                medium: StorageMedium::Memory,
                size_limit: Some(16 << 20),
            },
        },
        Volume {
            name: n("config"),
            source: VolumeSource::HostPath {
                path: t("/etc/app"),
                kind: HostPathType::Directory,
            },
        },
    ];
    Pod {
        name: n("web"),
        namespace: Some(n("edge")),
        uid: Some(t("6f1e0c8e-2b1d-4c55-9a57-0d1f3c2b9e10")),
        labels: v(vec![
            (k("app"), t("web")),
            (k("app.kubernetes.io/name"), t("web")),
        ]),
        annotations: v(vec![(
            k("kubectl.kubernetes.io/default-container"),
            t("web"),
        )]),
        spec: PodSpec {
            init_containers: v(vec![sidecar]),
            containers: v(vec![web]),
            volumes: v(volumes),
            restart_policy: RestartPolicy::Always,
            host: HostNamespaces::default(),
            hostname: Some(n("web-1")),
            host_aliases: v(vec![HostAlias {
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                hostnames: v(vec![t("gateway.local")]),
            }]),
            termination_grace_period_seconds: Some(10),
            active_deadline_seconds: None,
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                fs_group: Some(2000),
                sysctls: v(vec![Sysctl {
                    name: t("net.ipv4.ip_unprivileged_port_start"),
                    value: t("0"),
                }]),
                seccomp_profile: Some(SecurityProfile::RuntimeDefault),
                ..PodSecurityContext::default()
            }),
        },
    }
}

const START: Time = Time(1_795_313_049);

fn true_at(s: u32) -> Condition {
    Condition {
        status: ConditionStatus::True,
        last_transition: Since(s),
        detail: None,
    }
}

fn digest(seed: u8) -> Digest {
    Digest(std::array::from_fn(|i| {
        seed.wrapping_add(i as u8).wrapping_mul(31)
    }))
}

fn status_of(name: &str, state: ContainerState, image: u8) -> ContainerStatus {
    ContainerStatus {
        name: n(name),
        state,
        last_state: None,
        ready: true,
        started: Some(true),
        restart_count: 0,
        image_id: Some(digest(image)),
        probes: v(vec![]),
    }
}

/// The status of a running two-container pod, all conditions true.
pub fn running_status() -> PodStatus {
    PodStatus {
        spec_hash: SpecHash::of(&encode(&seed_pod())),
        phase: PodPhase::Running,
        conditions: PodConditions {
            pod_scheduled: true_at(0),
            initialized: true_at(0),
            containers_ready: true_at(3),
            ready: true_at(3),
        },
        reason: None,
        message: None,
        pod_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 42, 0, 7))),
        host_ip: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20))),
        start_time: START,
        init_container_statuses: v(vec![]),
        container_statuses: v(vec![
            status_of(
                "nginx-container",
                ContainerState::Running {
                    started_at: Since(2),
                },
                1,
            ),
            status_of(
                "debian-container",
                ContainerState::Running {
                    started_at: Since(3),
                },
                2,
            ),
        ]),
    }
}

/// A pod whose only container keeps failing: waiting in CrashLoopBackOff.
pub fn crashloop_status() -> PodStatus {
    let not_ready = Condition {
        status: ConditionStatus::False,
        last_transition: Since(4),
        detail: Some(ConditionDetail {
            reason: Reason::ContainersNotReady,
            message: Some(t("containers with unready status: [app]")),
        }),
    };
    let mut app = status_of(
        "app",
        ContainerState::Waiting {
            reason: Reason::CrashLoopBackOff,
            message: Some(t("back-off 40s restarting failed container=app")),
        },
        3,
    );
    app.ready = false;
    app.started = Some(false);
    app.restart_count = 3;
    app.last_state = Some(ContainerState::Terminated {
        exit_code: 1,
        signal: None,
        reason: Reason::Error,
        message: None,
        started_at: Since(61),
        finished_at: Since(62),
    });
    app.probes = v(vec![ProbeStatus {
        kind: ProbeKind::Liveness,
        last_result: ProbeResult::Failure,
        consecutive_successes: 0,
        consecutive_failures: 3,
        last_failure: Some(t("HTTP probe failed with statuscode: 500")),
    }]);
    PodStatus {
        spec_hash: SpecHash::of(b"app"),
        phase: PodPhase::Running,
        conditions: PodConditions {
            pod_scheduled: true_at(0),
            initialized: true_at(0),
            containers_ready: not_ready.clone(),
            ready: not_ready,
        },
        reason: None,
        message: None,
        pod_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 42, 0, 9))),
        host_ip: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20))),
        start_time: START,
        init_container_statuses: v(vec![]),
        container_statuses: v(vec![app]),
    }
}

pub fn node_status() -> NodeStatus {
    let ready = NodeCondition {
        status: ConditionStatus::True,
        reason: Some(t("KubeletReady")),
        message: Some(t("pealet is posting ready status")),
        last_transition: START,
    };
    let fine = NodeCondition {
        status: ConditionStatus::False,
        reason: None,
        message: None,
        last_transition: START,
    };
    let resources = NodeResources {
        cpu: 4000,
        memory: 8 << 30,
        pods: 32,
    };
    NodeStatus {
        name: t("pi-01"),
        online: true,
        agent_version: t("0.1.0"),
        os: t("linux"),
        arch: t("arm64"),
        kernel: t("6.6.51+rpt-rpi-v8"),
        cgroup: CgroupInfo {
            version: 2,
            enforced: Controllers(Controllers::CPU | Controllers::MEMORY | Controllers::PIDS),
        },
        capacity: resources,
        allocatable: NodeResources {
            memory: 7 << 30,
            ..resources
        },
        conditions: NodeConditions {
            ready,
            memory_pressure: fine.clone(),
            disk_pressure: fine.clone(),
            pid_pressure: fine,
        },
        heartbeat: Time(START.0 + 600),
    }
}

pub fn event() -> Event {
    Event {
        kind: EventType::Warning,
        reason: t("BackOff"),
        pod: Some(n("app")),
        container: Some(n("app")),
        message: t("Back-off restarting failed container app in pod app_default"),
        time: Time(START.0 + 62),
        count: 3,
    }
}

/// The index of a node running the seed pod and a web pod.
pub fn index() -> Index {
    let mut ix = Index::default();
    ix.insert(n("test"), SpecHash::of_pod(&seed_pod())).unwrap();
    ix.insert(n("web"), SpecHash([0x5e, 0xed, 0, 1, 2, 3, 4, 5]))
        .unwrap();
    ix
}

/// `pealet logs --node N app -c app --tail 20 --previous` as the operator sends it.
pub fn logs_request() -> LogsRequest {
    LogsRequest {
        id: t("1a2b-3c4d"),
        pod: n("app"),
        container: Some(n("app")),
        tail: Some(20),
        previous: true,
        timestamps: false,
        follow: None,
    }
}

/// The agent's answer to [`logs_request`]: two lines of text.
pub fn logs_response() -> LogsResponse {
    LogsResponse {
        id: t("1a2b-3c4d"),
        result: logs::LogsResult::Text(logs::LogText {
            container: n("app"),
            text: v(b"listening on :8080\nready\n".to_vec()),
            truncated: false,
        }),
    }
}

/// The agent's answer when the pod does not exist.
pub fn logs_error() -> LogsResponse {
    LogsResponse {
        id: t("1a2b-3c4d"),
        result: logs::LogsResult::Error(logs::LogsError {
            reason: logs::LogsErrorReason::NoSuchPod,
            message: t("no pod \"app\" on this node"),
        }),
    }
}

/// `pealet logs --node N app -f` renewing its follow after the chunk [`logs_chunk`].
pub fn logs_follow() -> LogsRequest {
    LogsRequest {
        container: None,
        tail: None,
        previous: false,
        follow: Some(logs::Follow {
            after: Some(logs::Cursor {
                file: 0x0123_4567_89ab_cdef,
                offset: 300,
            }),
        }),
        ..logs_request()
    }
}

/// The agent's second chunk of a follow: one line, then the pod was deleted.
pub fn logs_chunk() -> LogsResponse {
    LogsResponse {
        id: t("1a2b-3c4d"),
        result: logs::LogsResult::Chunk(logs::LogChunk {
            seq: 1,
            container: n("app"),
            text: v(b"bye\n".to_vec()),
            skipped: false,
            cursor: logs::Cursor {
                file: 0x0123_4567_89ab_cdef,
                offset: 340,
            },
            end: Some(logs::FollowEnd::PodGone),
        }),
    }
}

/// Every sample, encoded.
pub fn all_encoded() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("seed pod", encode(&seed_pod())),
        ("full pod", encode(&full_pod())),
        ("running status", encode(&running_status())),
        ("crash-loop status", encode(&crashloop_status())),
        ("node status", encode(&node_status())),
        ("event", encode(&event())),
        ("index", encode(&index())),
        ("logs request", encode(&logs_request())),
        ("logs response", encode(&logs_response())),
        ("logs error", encode(&logs_error())),
        ("logs follow", encode(&logs_follow())),
        ("logs chunk", encode(&logs_chunk())),
    ]
}

/// Every sample uncompressed: the envelope with the compressed bit clear, then postcard.
pub fn all_uncompressed() -> Vec<(&'static str, Vec<u8>)> {
    use pealet::spec::codec::encode_uncompressed as raw;
    vec![
        ("seed pod", raw(&seed_pod())),
        ("full pod", raw(&full_pod())),
        ("running status", raw(&running_status())),
        ("crash-loop status", raw(&crashloop_status())),
        ("node status", raw(&node_status())),
        ("event", raw(&event())),
        ("index", raw(&index())),
        ("logs request", raw(&logs_request())),
        ("logs response", raw(&logs_response())),
        ("logs error", raw(&logs_error())),
        ("logs follow", raw(&logs_follow())),
        ("logs chunk", raw(&logs_chunk())),
    ]
}
