//! From a pod spec and an image to what `pealet init` is told: the pod's volumes
//! ([`prepare_volumes`]: emptyDir on disk or tmpfs, fsGroup) and each container's
//! [`ContainerConfig`] ([`container_config`]), with the hostPath type checks and the
//! subPath escape checks of its mounts.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::MountFlags;

use super::env::{self, Node};
use super::state::PodDirs;
use super::user::{self, UserError};
use crate::images::ImageConfig;
use crate::runtime::caps::{self, CapsError};
use crate::runtime::config::{
    ContainerConfig, Join, MASKED_PATHS, Mount, MountKind, READONLY_PATHS, pack_filter,
};
use crate::runtime::resolve::resolve_beneath;
use crate::runtime::seccomp;
use crate::spec::{
    Container, DEFAULT_TERMINATION_MESSAGE_PATH, HostPathType, Pod, PodSecurityContext,
    SecurityContext, SecurityProfile, StorageMedium, VolumeSource,
};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("create volume directory {path}: {source}")]
    CreateVolume {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mount tmpfs for volume on {path}: {errno}")]
    MountTmpfs { path: PathBuf, errno: Errno },
    #[error("hostPath {path}: {problem}")]
    HostPath { path: PathBuf, problem: String },
    #[error("set fsGroup {gid} on {path}: {source}")]
    FsGroup {
        path: PathBuf,
        gid: u32,
        source: std::io::Error,
    },
    #[error("volumeMount {name:?}: subPath {sub_path:?}: {source}")]
    SubPath {
        name: String,
        sub_path: String,
        source: crate::runtime::resolve::ResolveError,
    },
    #[error("volumeMount {name:?}: no volume of that name")]
    NoSuchVolume { name: String },
    #[error("user: {0}")]
    User(#[from] UserError),
    #[error("capabilities: {0}")]
    Caps(#[from] CapsError),
    #[error("seccomp profile {path}: {message}")]
    Seccomp { path: PathBuf, message: String },
    #[error("seccomp: {0}")]
    SeccompCompile(#[from] seccomp::CompileError),
    #[error("Cannot enforce AppArmor: {0}")]
    AppArmor(String),
}

/// Create every volume of the pod before any container starts. Memory volumes are
/// tmpfs mounts in the calling process's (the shim's private) mount namespace.
pub fn prepare_volumes(pod: &Pod, dirs: &PodDirs) -> Result<(), BuildError> {
    let fs_group = pod.spec.security_context.as_ref().and_then(|s| s.fs_group);
    for volume in pod.spec.volumes.iter() {
        match &volume.source {
            VolumeSource::EmptyDir { medium, size_limit } => {
                let path = match medium {
                    StorageMedium::Default => dirs.disk_volume(&volume.name),
                    StorageMedium::Memory => dirs.memory_volume(&volume.name),
                };
                create_dir(&path)?;
                if *medium == StorageMedium::Memory {
                    mount_tmpfs(&path, *size_limit)?;
                }
                empty_dir_mode(&path, fs_group)?;
            }
            // Checked as each container starts (see `volume_mounts`), so that a
            // mismatch is that container's error and a later fix on the host is seen.
            VolumeSource::HostPath { .. } => {}
        }
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(path).map_err(|source| BuildError::CreateVolume {
        path: path.to_path_buf(),
        source,
    })
}

fn mount_tmpfs(path: &Path, size: Option<u64>) -> Result<(), BuildError> {
    let data = match size {
        Some(size) => format!("mode=0777,size={size}"),
        None => "mode=0777".to_string(),
    };
    let data = std::ffi::CString::new(data).expect("no NUL in a formatted number");
    let flags = MountFlags::NOSUID | MountFlags::NODEV;
    rustix::mount::mount("tmpfs", path, "tmpfs", flags, data.as_c_str()).map_err(|errno| {
        BuildError::MountTmpfs {
            path: path.to_path_buf(),
            errno,
        }
    })
}

/// 0777 as the kubelet makes an emptyDir; with fsGroup, group-owned by it and setgid so
/// that new files inherit the group.
fn empty_dir_mode(path: &Path, fs_group: Option<u32>) -> Result<(), BuildError> {
    let err = |gid, source| BuildError::FsGroup {
        path: path.to_path_buf(),
        gid,
        source,
    };
    let mode = match fs_group {
        None => 0o777,
        Some(gid) => {
            std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| err(gid, e))?;
            0o2777
        }
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| err(fs_group.unwrap_or(0), e))
}

/// hostPath `type` checks, creating what the `...OrCreate` types ask for.
pub fn check_host_path(path: &Path, kind: HostPathType) -> Result<(), BuildError> {
    let problem = |p: &str| BuildError::HostPath {
        path: path.to_path_buf(),
        problem: p.to_string(),
    };
    let create = |r: std::io::Result<()>| r.map_err(|e| problem(&format!("create: {e}")));
    match kind {
        HostPathType::DirectoryOrCreate if !path.exists() => {
            create(std::fs::create_dir_all(path))?;
            create(std::fs::set_permissions(
                path,
                std::fs::Permissions::from_mode(0o755),
            ))?;
        }
        HostPathType::FileOrCreate if !path.exists() => {
            if let Some(parent) = path.parent() {
                create(std::fs::create_dir_all(parent))?;
            }
            create(std::fs::File::create(path).map(drop))?;
        }
        _ => {}
    }
    if kind == HostPathType::Unset {
        return Ok(());
    }
    let meta = std::fs::metadata(path).map_err(|e| problem(&e.to_string()))?;
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let (ok, want) = match kind {
        HostPathType::Unset => (true, ""),
        HostPathType::DirectoryOrCreate | HostPathType::Directory => (t.is_dir(), "a directory"),
        HostPathType::FileOrCreate | HostPathType::File => (t.is_file(), "a file"),
        HostPathType::Socket => (t.is_socket(), "a socket"),
        HostPathType::CharDevice => (t.is_char_device(), "a character device"),
        HostPathType::BlockDevice => (t.is_block_device(), "a block device"),
    };
    if ok {
        Ok(())
    } else {
        Err(problem(&format!("is not {want} (mode {:o})", meta.mode())))
    }
}

/// What the container gets from its pod and the shim.
pub struct PodContext<'a> {
    pub pod: &'a Pod,
    pub dirs: &'a PodDirs,
    pub node: &'a Node,
    /// Namespaces to join (the sandbox's, or the host's for hostNetwork/hostIPC/hostPID).
    pub joins: Vec<Join>,
    /// /dev/shm source and /etc files of the sandbox.
    pub shm: Option<String>,
    pub etc_mounts: Vec<Mount>,
    /// `cgroup.procs` files of the container's cgroup.
    pub cgroup_procs: Vec<String>,
    /// Whether the container's cgroup limits which devices it opens. Without, a
    /// non-privileged container gets no CAP_MKNOD and a `nodev` /dev.
    pub devices_controlled: bool,
    /// Where Localhost seccomp profiles are: `<root>/seccomp`.
    pub seccomp_dir: PathBuf,
    /// RuntimeDefault for containers without a seccompProfile.
    pub seccomp_default: bool,
}

/// The image as the shim uses it: layers top-most first and its config.
pub struct ImageView<'a> {
    pub layers: Vec<PathBuf>,
    pub config: &'a ImageConfig,
}

/// A container instance's config; `instance` holds fresh `upper`, `work` and `rootfs`.
pub fn container_config(
    ctx: &PodContext<'_>,
    container: &Container,
    image: &ImageView<'_>,
    instance: &Path,
) -> Result<ContainerConfig, BuildError> {
    let pod = ctx.pod;
    let psc = pod.spec.security_context.clone().unwrap_or_default();
    let sc = container.security_context.clone().unwrap_or_default();
    let privileged = sc.privileged == Some(true);
    let ids = user::resolve(
        &image.layers,
        &user::Wanted {
            image_user: &image.config.user,
            run_as_user: sc.run_as_user.or(psc.run_as_user),
            run_as_group: sc.run_as_group.or(psc.run_as_group),
            run_as_non_root: sc.run_as_non_root.or(psc.run_as_non_root) == Some(true),
            supplemental: &psc.supplemental_groups,
            fs_group: psc.fs_group,
        },
    )?;
    let caps = sc.capabilities.clone().unwrap_or_default();
    let names = |list: &[crate::spec::bounded::Short]| -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    };
    let (add, drop) = (names(&caps.add), names(&caps.drop));
    let add: Vec<&str> = add.iter().map(String::as_str).collect();
    let drop: Vec<&str> = drop.iter().map(String::as_str).collect();
    let mut capabilities = caps::resolve(privileged, &add, &drop)?;
    let dev_nodev = !privileged && !ctx.devices_controlled;
    if dev_nodev {
        capabilities.remove(rustix::thread::CapabilitySet::MKNOD);
    }
    let vars = env::container_env(pod, container, ctx.node);
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let paths = |list: &[&str]| -> Vec<String> {
        if privileged {
            Vec::new()
        } else {
            list.iter().map(|p| p.to_string()).collect()
        }
    };
    let cwd = match (&container.working_dir, image.config.working_dir.as_str()) {
        (Some(dir), _) => dir.to_string(),
        (None, "") => "/".to_string(),
        (None, dir) => dir.to_string(),
    };
    let seccomp = seccomp_filter(ctx, &psc, &sc, privileged, capabilities)?;
    let app_armor = app_armor_profile(&psc, &sc)?;
    Ok(ContainerConfig {
        seccomp,
        app_armor,
        layers: image.layers.iter().map(|p| s(p)).collect(),
        upper: s(&instance.join("upper")),
        work: s(&instance.join("work")),
        rootfs: s(&instance.join("rootfs")),
        readonly_rootfs: sc.read_only_root_filesystem == Some(true),
        mounts: [
            ctx.etc_mounts.clone(),
            volume_mounts(ctx, container)?,
            vec![termination_mount(
                container,
                &ctx.dirs.termination_log(&container.name),
            )],
        ]
        .concat(),
        shm: ctx.shm.clone(),
        join: ctx.joins.clone(),
        cgroup_procs: ctx.cgroup_procs.clone(),
        hostname: None,
        argv: env::argv(
            container,
            &image.config.entrypoint,
            &image.config.cmd,
            &vars,
        ),
        env: env::merge(&image.config.env, &vars),
        cwd,
        uid: ids.uid,
        gid: ids.gid,
        groups: ids.groups,
        capabilities: capabilities.bits(),
        // Deliberately stricter than Kubernetes' default: set unless the container
        // allows privilege escalation explicitly (or is privileged).
        no_new_privs: !privileged && sc.allow_privilege_escalation != Some(true),
        dev_nodev,
        masked_paths: paths(MASKED_PATHS),
        readonly_paths: paths(READONLY_PATHS),
    })
}

/// The container's seccomp filter, packed for the config frame; empty for none. Its
/// own profile, else the pod's, else RuntimeDefault under `seccomp_default`.
/// Privileged containers run unconfined, as Kubernetes documents.
fn seccomp_filter(
    ctx: &PodContext<'_>,
    psc: &PodSecurityContext,
    sc: &SecurityContext,
    privileged: bool,
    caps: rustix::thread::CapabilitySet,
) -> Result<Vec<u64>, BuildError> {
    let chosen = (sc.seccomp_profile.clone())
        .or_else(|| psc.seccomp_profile.clone())
        .or_else(|| {
            ctx.seccomp_default
                .then_some(SecurityProfile::RuntimeDefault)
        });
    let profile = match chosen {
        _ if privileged => return Ok(Vec::new()),
        None | Some(SecurityProfile::Unconfined) => return Ok(Vec::new()),
        Some(SecurityProfile::RuntimeDefault) => seccomp::runtime_default(caps.bits()),
        Some(SecurityProfile::Localhost(file)) => {
            let path = ctx.seccomp_dir.join(&*file);
            let err = |message: String| BuildError::Seccomp {
                path: path.clone(),
                message,
            };
            let mut text = String::new();
            let file = std::fs::File::open(&path).map_err(|e| err(e.to_string()))?;
            std::io::Read::read_to_string(
                &mut std::io::Read::take(file, seccomp::MAX_PROFILE as u64 + 1),
                &mut text,
            )
            .map_err(|e| err(e.to_string()))?;
            seccomp::localhost(&text).map_err(|e| err(e.to_string()))?
        }
    };
    let filter = seccomp::compile(&profile, seccomp::Arch::native())?;
    Ok(filter.iter().map(pack_filter).collect())
}

/// The AppArmor profile to exec into, or why it cannot be enforced (the kubelet's
/// rule: any profile but Unconfined needs AppArmor on the host). pealet loads no
/// profile of its own: RuntimeDefault is refused, a Localhost one must be loaded.
fn app_armor_profile(
    psc: &PodSecurityContext,
    sc: &SecurityContext,
) -> Result<Option<String>, BuildError> {
    let chosen = (sc.app_armor_profile.clone()).or_else(|| psc.app_armor_profile.clone());
    let name = match chosen {
        None | Some(SecurityProfile::Unconfined) => return Ok(None),
        Some(SecurityProfile::RuntimeDefault) if app_armor_enabled() => {
            return Err(BuildError::AppArmor(
                "pealet loads no default AppArmor profile: name a loaded one with type \
                 Localhost"
                    .into(),
            ));
        }
        Some(SecurityProfile::RuntimeDefault) => String::new(),
        Some(SecurityProfile::Localhost(name)) => name.to_string(),
    };
    if !app_armor_enabled() {
        return Err(BuildError::AppArmor(
            "AppArmor is not enabled on the host".into(),
        ));
    }
    let loaded = std::fs::read_to_string("/sys/kernel/security/apparmor/profiles")
        .unwrap_or_default()
        .lines()
        .any(|l| l.rsplit_once(" (").is_some_and(|(n, _)| n == name));
    if !loaded {
        return Err(BuildError::AppArmor(format!(
            "profile {name:?} is not loaded"
        )));
    }
    Ok(Some(name))
}

fn app_armor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// The instance's termination-log file at the container's terminationMessagePath, as the
/// kubelet mounts it; the shim reads it there once the container has exited.
fn termination_mount(container: &Container, log: &Path) -> Mount {
    let path = container
        .termination_message
        .as_ref()
        .map_or(DEFAULT_TERMINATION_MESSAGE_PATH, |t| t.path.as_str());
    Mount {
        kind: MountKind::Bind,
        source: log.to_string_lossy().into_owned(),
        sub_path: None,
        destination: path.to_string(),
        readonly: false,
    }
}

fn volume_mounts(ctx: &PodContext<'_>, container: &Container) -> Result<Vec<Mount>, BuildError> {
    let mut mounts = Vec::new();
    for vm in container.volume_mounts.iter() {
        let volume = ctx.pod.spec.volumes.iter().find(|v| v.name == vm.name);
        let volume = volume.ok_or_else(|| BuildError::NoSuchVolume {
            name: vm.name.to_string(),
        })?;
        let source = match &volume.source {
            VolumeSource::EmptyDir {
                medium: StorageMedium::Default,
                ..
            } => ctx.dirs.disk_volume(&volume.name),
            VolumeSource::EmptyDir { .. } => ctx.dirs.memory_volume(&volume.name),
            VolumeSource::HostPath { path, kind } => {
                check_host_path(Path::new(&**path), *kind)?;
                PathBuf::from(&**path)
            }
        };
        // Refused here, before the container is created, as the kubelet does; `pealet
        // init` resolves it again when it mounts (and creates what is missing).
        if let Some(sub) = &vm.sub_path {
            resolve_beneath(&source, Path::new(&**sub)).map_err(|e| BuildError::SubPath {
                name: vm.name.to_string(),
                sub_path: sub.to_string(),
                source: e,
            })?;
        }
        mounts.push(Mount {
            kind: MountKind::Bind,
            source: source.to_string_lossy().into_owned(),
            sub_path: vm.sub_path.as_ref().map(|p| p.to_string()),
            destination: vm.mount_path.to_string(),
            readonly: vm.read_only,
        });
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_of(yaml: &str, devices_controlled: bool, seccomp_default: bool) -> ContainerConfig {
        let pod = crate::spec::manifest::read::read_pod(yaml).unwrap().pod;
        let dirs = PodDirs::new(
            Path::new("/nonexistent/root"),
            Path::new("/nonexistent/run"),
            "p",
        );
        let node = Node::default();
        let ctx = PodContext {
            pod: &pod,
            dirs: &dirs,
            node: &node,
            joins: Vec::new(),
            shm: None,
            etc_mounts: Vec::new(),
            cgroup_procs: Vec::new(),
            devices_controlled,
            seccomp_dir: PathBuf::from("/nonexistent/seccomp"),
            seccomp_default,
        };
        let image_config = ImageConfig::default();
        let image = ImageView {
            layers: Vec::new(),
            config: &image_config,
        };
        let container = &pod.spec.containers[0];
        container_config(&ctx, container, &image, Path::new("/nonexistent/i")).unwrap()
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: i}]\n";
    const PRIVILEGED: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: i, securityContext: {privileged: true, seccompProfile: {type: RuntimeDefault}}}]\n";

    #[test]
    fn devices_and_seccomp_of_a_container() {
        let mknod = rustix::thread::CapabilitySet::MKNOD.bits();
        // Device rules in the cgroup: CAP_MKNOD as runc gives it, /dev as usual.
        let c = config_of(POD, true, false);
        assert!(c.capabilities & mknod != 0 && !c.dev_nodev);
        assert!(c.seccomp.is_empty(), "no profile, no node default");
        // No device control: no CAP_MKNOD, /dev nodev.
        let c = config_of(POD, false, true);
        assert!(c.capabilities & mknod == 0 && c.dev_nodev);
        assert!(!c.seccomp.is_empty(), "the node default applies");
        // Privileged: every device and capability, unconfined even when asked.
        let c = config_of(PRIVILEGED, false, true);
        assert!(c.capabilities & mknod != 0 && !c.dev_nodev);
        assert!(c.seccomp.is_empty());
    }

    #[test]
    fn host_path_types_are_checked() {
        let dir = std::env::temp_dir().join(format!("pealet-hostpath-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let made = dir.join("made");
        check_host_path(&made, HostPathType::DirectoryOrCreate).unwrap();
        assert!(made.is_dir());
        check_host_path(&made, HostPathType::Directory).unwrap();
        assert!(check_host_path(&made, HostPathType::File).is_err());
        let file = dir.join("sub/file");
        check_host_path(&file, HostPathType::FileOrCreate).unwrap();
        assert!(file.is_file());
        assert!(check_host_path(&file, HostPathType::Socket).is_err());
        assert!(check_host_path(&dir.join("none"), HostPathType::Directory).is_err());
        check_host_path(&dir.join("none"), HostPathType::Unset).unwrap();
        check_host_path(Path::new("/dev/null"), HostPathType::CharDevice).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
