//! The pod sandbox: new network, IPC, UTS and mount namespaces with loopback up and the
//! pod's hostname, the per-pod /etc files and one /dev/shm tmpfs. No containers here.
//!
//! Holding the namespaces: the process that calls [`enter`] (the pod's shim,
//! single-threaded and started by fork+exec) moves itself into them and stays there for
//! the pod's lifetime, so it is the holder; containers join them by the paths
//! `/proc/<holder pid>/ns/{net,ipc,uts}` (see [`Sandbox::joins`]). Probes run in the
//! shim, so they see the pod's network without any setns. The holder also gets its own
//! mount namespace (made rslave of the host): the shm tmpfs lives only there and in the
//! containers' copies, so it disappears with the holder and never leaks on the host.
//! So does the small tmpfs on the sandbox directory that holds the files containers
//! may write to (/etc/hosts and the others, the termination logs): its size bounds them.
//! With hostNetwork (hostIPC) the holder keeps the host's network and UTS (IPC)
//! namespaces instead, so the probes it runs reach what the containers reach.
//! Pod IPs, bridges and veth pairs come later, in their own module.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::{MountFlags, MountPropagationFlags};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::thread::UnshareFlags;

use crate::runtime::config::{Join, Mount, MountKind, Namespace};
use crate::sys;

/// What the pod's sandbox is made of.
#[derive(Debug, Clone, Default)]
pub struct SandboxSpec {
    /// Pod name, or spec.hostname when set.
    pub hostname: String,
    /// The pod's IP, when it has one besides loopback.
    pub pod_ip: Option<String>,
    /// hostAliases: (ip, hostnames).
    pub host_aliases: Vec<(String, Vec<String>)>,
    /// Size of the pod's /dev/shm tmpfs in bytes (64 MiB like Docker when none).
    pub shm_size: Option<u64>,
    /// hostNetwork: keep the host's network and UTS namespaces (no loopback set-up, no
    /// hostname change), so that the shim's probes see what the containers see.
    pub host_network: bool,
    /// hostIPC: keep the host's IPC namespace.
    pub host_ipc: bool,
    /// Namespaced sysctls to set: (path below /proc/sys, value), checked by the caller
    /// (see [`crate::runtime::sysctl`]).
    pub sysctls: Vec<(String, String)>,
    /// Put the sandbox directory's files on a tmpfs of [`FILES_SIZE`] bytes in the
    /// holder's mount namespace (what the shim does). Only processes that start from
    /// there see them: off for a holder whose containers another process starts.
    pub files_tmpfs: bool,
}

/// A created sandbox: where its files are and who holds the namespaces.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub dir: PathBuf,
    pub holder: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("unshare(net|ipc|uts|mnt): {0}")]
    Unshare(Errno),
    #[error("make / rslave: mount: {0}")]
    MakeRootSlave(Errno),
    #[error("socket(AF_INET) for loopback: {0}")]
    Socket(Errno),
    #[error("ioctl(SIOCSIFFLAGS) lo up: {0}")]
    LoopbackUp(Errno),
    #[error("sethostname {name:?}: {errno}")]
    SetHostname { name: String, errno: Errno },
    #[error("write {path}: {source}")]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mount tmpfs on {path}: {errno}")]
    MountShm { path: PathBuf, errno: Errno },
    #[error("sysctl {name}={value}: {source}")]
    Sysctl {
        name: String,
        value: String,
        source: std::io::Error,
    },
}

/// The sandbox recipe. Call it once, from the single-threaded holder process.
pub fn enter(dir: &Path, spec: &SandboxSpec) -> Result<Sandbox, SandboxError> {
    unshare_namespaces(spec)?;
    make_root_rslave()?;
    if !spec.host_network {
        loopback_up()?;
        set_hostname(&spec.hostname)?;
    }
    // /proc/sys/net and the IPC sysctls are those of the writer's namespaces: ours now.
    set_sysctls(&spec.sysctls)?;
    if spec.files_tmpfs {
        mount_files_tmpfs(dir)?;
    }
    write_pod_files(dir, spec)?;
    mount_shm(&dir.join("shm"), spec.shm_size)?;
    Ok(Sandbox {
        dir: dir.to_path_buf(),
        holder: std::process::id(),
    })
}

/// Bytes of the tmpfs that holds the files containers may write to (/etc/hosts,
/// /etc/hostname, /etc/resolv.conf and the termination logs, bound into them): a
/// container that fills one fills this, never the host's /run.
pub const FILES_SIZE: u64 = 2 << 20;

/// The sandbox directory becomes a small tmpfs of this (private) mount namespace.
fn mount_files_tmpfs(dir: &Path) -> Result<(), SandboxError> {
    let err = |errno| SandboxError::MountShm {
        path: dir.to_path_buf(),
        errno,
    };
    std::fs::create_dir_all(dir).map_err(|source| SandboxError::WriteFile {
        path: dir.to_path_buf(),
        source,
    })?;
    let data = format!("mode=0755,size={FILES_SIZE}");
    let data = std::ffi::CString::new(data).expect("no NUL in a formatted number");
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    rustix::mount::mount("tmpfs", dir, "tmpfs", flags, data.as_c_str()).map_err(err)
}

fn set_sysctls(sysctls: &[(String, String)]) -> Result<(), SandboxError> {
    for (name, value) in sysctls {
        let path = Path::new("/proc/sys").join(name);
        std::fs::write(&path, value).map_err(|source| SandboxError::Sysctl {
            name: name.replace('/', "."),
            value: value.clone(),
            source,
        })?;
    }
    Ok(())
}

impl Sandbox {
    /// The namespaces a container of this pod joins.
    pub fn joins(&self) -> Vec<Join> {
        [
            (Namespace::Net, "net"),
            (Namespace::Ipc, "ipc"),
            (Namespace::Uts, "uts"),
        ]
        .into_iter()
        .map(|(kind, name)| Join {
            kind,
            path: format!("/proc/{}/ns/{name}", self.holder),
        })
        .collect()
    }

    /// The pod's shm tmpfs, for `ContainerConfig::shm`.
    pub fn shm(&self) -> String {
        self.dir.join("shm").to_string_lossy().into_owned()
    }

    /// Bind mounts of /etc/hosts, /etc/hostname and /etc/resolv.conf for a container.
    pub fn etc_mounts(&self) -> Vec<Mount> {
        ["hosts", "hostname", "resolv.conf"]
            .into_iter()
            .map(|f| Mount {
                kind: MountKind::Bind,
                source: self.dir.join(f).to_string_lossy().into_owned(),
                sub_path: None,
                destination: format!("/etc/{f}"),
                readonly: false,
            })
            .collect()
    }
}

fn unshare_namespaces(spec: &SandboxSpec) -> Result<(), SandboxError> {
    let mut flags = UnshareFlags::NEWNS;
    if !spec.host_network {
        flags |= UnshareFlags::NEWNET | UnshareFlags::NEWUTS;
    }
    if !spec.host_ipc {
        flags |= UnshareFlags::NEWIPC;
    }
    sys::unshare(flags).map_err(SandboxError::Unshare)
}

/// Mounts made from now on stay in this namespace; host mounts still propagate in.
fn make_root_rslave() -> Result<(), SandboxError> {
    let flags = MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC;
    rustix::mount::mount_change("/", flags).map_err(SandboxError::MakeRootSlave)
}

/// A new network namespace has only `lo`, and it is down.
fn loopback_up() -> Result<(), SandboxError> {
    let socket = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(SandboxError::Socket)?;
    sys::interface_up(std::os::fd::AsFd::as_fd(&socket), "lo").map_err(SandboxError::LoopbackUp)
}

fn set_hostname(name: &str) -> Result<(), SandboxError> {
    rustix::system::sethostname(name.as_bytes()).map_err(|errno| SandboxError::SetHostname {
        name: name.to_string(),
        errno,
    })
}

/// /etc/hosts as the kubelet writes it, /etc/hostname, and the host's /etc/resolv.conf.
pub fn write_pod_files(dir: &Path, spec: &SandboxSpec) -> Result<(), SandboxError> {
    let write = |name: &str, text: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| SandboxError::WriteFile { path, source })
    };
    for sub in ["shm", "termination"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|source| SandboxError::WriteFile {
            path: dir.join(sub),
            source,
        })?;
    }
    write("hosts", hosts_file(spec).as_bytes())?;
    write("hostname", format!("{}\n", spec.hostname).as_bytes())?;
    let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
    write("resolv.conf", &resolv)
}

/// The kubelet's managed hosts file.
pub fn hosts_file(spec: &SandboxSpec) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         fe00::0\tip6-mcastprefix\n\
         fe00::1\tip6-allnodes\n\
         fe00::2\tip6-allrouters\n",
    );
    if let Some(ip) = &spec.pod_ip {
        let _ = writeln!(s, "{ip}\t{}", spec.hostname);
    }
    if !spec.host_aliases.is_empty() {
        s.push_str("\n# Entries added by HostAliases.\n");
        for (ip, names) in &spec.host_aliases {
            let _ = writeln!(s, "{ip}\t{}", names.join("\t"));
        }
    }
    s
}

fn mount_shm(path: &Path, size: Option<u64>) -> Result<(), SandboxError> {
    let data = format!("mode=1777,size={}", size.unwrap_or(64 << 20));
    let data = std::ffi::CString::new(data).expect("no NUL in a formatted number");
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    rustix::mount::mount("shm", path, "tmpfs", flags, data.as_c_str()).map_err(|errno| {
        SandboxError::MountShm {
            path: path.to_path_buf(),
            errno,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_has_localhost_pod_and_aliases() {
        let spec = SandboxSpec {
            hostname: "web".into(),
            pod_ip: Some("10.0.0.5".into()),
            host_aliases: vec![("10.1.2.3".into(), vec!["foo.local".into(), "bar".into()])],
            ..SandboxSpec::default()
        };
        let h = hosts_file(&spec);
        assert!(h.contains("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.0.0.5\tweb\n"));
        assert!(h.ends_with("10.1.2.3\tfoo.local\tbar\n"));
    }

    #[test]
    fn pod_files_are_written() {
        let dir = std::env::temp_dir().join(format!("pealet-sandbox-{}", std::process::id()));
        let spec = SandboxSpec {
            hostname: "web".into(),
            ..SandboxSpec::default()
        };
        write_pod_files(&dir, &spec).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("hostname")).unwrap(),
            "web\n"
        );
        assert!(dir.join("hosts").is_file() && dir.join("resolv.conf").is_file());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
