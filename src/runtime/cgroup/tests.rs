//! Unit tests of the shared types: CPU conversions, pod sizing, names and detection.

use super::*;
use crate::spec::bounded;
use crate::spec::pod::{Container, ContainerRestartPolicy, PullPolicy, ResourceList};

fn cpu(request: Option<u64>, limit: Option<u64>) -> Limits {
    Limits {
        cpu_request: request,
        cpu_limit: limit,
        ..Limits::default()
    }
}

#[test]
fn shares_and_weights_as_the_kubelet_and_runc() {
    // (request millicores, cpu.shares, cpu.weight); 1 CPU is weight 39 on every
    // Kubernetes node running cgroup v2 with runc's linear mapping.
    let table = [
        (None, 2, 1),
        (Some(0), 2, 1),
        (Some(1), 2, 1),
        (Some(10), 10, 1),
        (Some(100), 102, 4),
        (Some(250), 256, 10),
        (Some(500), 512, 20),
        (Some(1000), 1024, 39),
        (Some(2000), 2048, 79),
        (Some(4000), 4096, 157),
        (Some(256_000), 262_144, 10_000),
        (Some(u64::MAX), 262_144, 10_000),
    ];
    for (request, shares, weight) in table {
        let l = cpu(request, None);
        assert_eq!(
            (l.cpu_shares(), l.cpu_weight()),
            (shares, weight),
            "{request:?}"
        );
    }
}

#[test]
fn quota_per_period() {
    let table = [
        (None, None),
        (Some(0), None),
        (Some(1), Some(1000)),
        (Some(10), Some(1000)),
        (Some(11), Some(1100)),
        (Some(500), Some(50_000)),
        (Some(1500), Some(150_000)),
    ];
    for (limit, quota) in table {
        assert_eq!(cpu(None, limit).cpu_quota_us(), quota, "{limit:?}");
    }
}

fn resources(cpu: Option<u64>, memory: Option<u64>) -> Resources {
    Resources {
        requests: ResourceList::default(),
        limits: ResourceList {
            cpu,
            memory,
            ephemeral_storage: None,
        },
    }
}

fn container(name: &str, r: Option<Resources>) -> Container {
    let mut c = Container::new(bounded::name(name).unwrap(), "busybox".try_into().unwrap());
    c.image_pull_policy = PullPolicy::IfNotPresent;
    c.resources = r;
    c
}

#[test]
fn container_request_defaults_to_its_limit() {
    let l = Limits::container(Some(&resources(Some(200), Some(1 << 20))));
    assert_eq!(
        l,
        Limits {
            memory: Some(1 << 20),
            cpu_limit: Some(200),
            cpu_request: Some(200),
            pids: None
        }
    );
    assert_eq!(Limits::container(None), Limits::default());
}

#[test]
fn pod_limits_sum_app_containers_and_cover_init_containers() {
    let mut spec = PodSpec::default();
    let empty = Limits::pod(&spec, Some(5));
    assert_eq!(
        empty,
        Limits {
            pids: Some(5),
            ..Limits::default()
        }
    );
    spec.containers
        .push(container("a", Some(resources(Some(100), Some(100)))))
        .unwrap();
    spec.containers
        .push(container("b", Some(resources(Some(200), Some(50)))))
        .unwrap();
    spec.init_containers
        .push(container("i", Some(resources(Some(250), Some(400)))))
        .unwrap();
    let pod = Limits::pod(&spec, Some(DEFAULT_PIDS_MAX));
    assert_eq!(
        pod,
        Limits {
            memory: Some(400),
            cpu_limit: Some(300),
            cpu_request: Some(300),
            pids: Some(1024)
        }
    );
    // A sidecar counts for the app containers and on top of every init container after it.
    let mut sidecar = container("s", Some(resources(Some(10), Some(10))));
    sidecar.restart_policy = Some(ContainerRestartPolicy::Always);
    spec.init_containers.push(sidecar).unwrap();
    let pod = Limits::pod(&spec, None);
    assert_eq!((pod.memory, pod.cpu_limit), (Some(410), Some(310)));
    // One container without a memory limit: the pod has none.
    spec.containers
        .push(container("c", Some(resources(Some(1), None))))
        .unwrap();
    let pod = Limits::pod(&spec, None);
    assert_eq!(
        (pod.memory, pod.cpu_limit, pod.pids),
        (None, Some(311), None)
    );
}

#[test]
fn names_are_single_components() {
    let parent = Path::new("pealet");
    let pod = CgroupPath::pod(parent, "7d3c-uid").unwrap();
    assert_eq!(
        pod.container("app").unwrap().as_path(),
        Path::new("pealet/7d3c-uid/app")
    );
    for bad in ["", ".", "..", "a/b", "/abs", "nul\0"] {
        assert!(CgroupPath::pod(parent, bad).is_err(), "{bad:?}");
        assert!(pod.container(bad).is_err(), "{bad:?}");
    }
    for bad in ["", "/pealet", "../pealet", "a/../b"] {
        let root = files::fake::root("bad-parent");
        assert!(
            matches!(
                open(&root, Path::new(bad)),
                Err(CgroupError::BadName { .. })
            ),
            "{bad:?}"
        );
    }
    let root = files::fake::root("nested-parent");
    assert!(open(&root, Path::new("system.slice/pealet")).is_ok());
}

#[test]
fn errors_name_the_step_and_the_path() {
    let e = CgroupError::Write {
        path: PathBuf::from("/sys/fs/cgroup/pealet/p/memory.max"),
        value: "1048576".into(),
        source: io::Error::from_raw_os_error(16),
    };
    assert_eq!(
        e.to_string(),
        "write 1048576 to /sys/fs/cgroup/pealet/p/memory.max"
    );
}

#[test]
fn each_instance_root_has_its_own_parent() {
    let a = super::parent_for(Path::new("/var/lib/pealet"));
    let b = super::parent_for(Path::new("/srv/pealet-2"));
    assert_ne!(a, b);
    assert_eq!(a, super::parent_for(Path::new("/var/lib/pealet")));
    let name = a.to_string_lossy().into_owned();
    assert!(
        name.starts_with("pealet-") && name.len() == "pealet-".len() + 8,
        "{name}"
    );
    check_parent(&a).unwrap();
}
