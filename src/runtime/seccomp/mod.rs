//! Seccomp profiles and the classic BPF filters they compile to, without I/O.
//!
//! A [`Profile`] is what the OCI/Docker seccomp JSON format says: a default action, and
//! rules naming system calls with an action and optional argument conditions.
//! [`runtime_default`] is the policy of the default profile Docker and containerd ship
//! (an allow list; what it leaves out fails with EPERM, `clone` of new namespaces and
//! the keyring calls included), with the capability-dependent parts resolved for the
//! container's capability set. [`localhost`] reads a profile file's text. [`compile`]
//! turns a profile into the filter for the host's architectures:
//!
//! - the architecture is checked first; a process of another architecture (which the
//!   numbers would mean something else for) is killed. An x86_64 host filters x86_64,
//!   x32 (numbers with `__X32_SYSCALL_BIT`) and i386; an aarch64 host aarch64 and arm;
//! - per architecture, a balanced decision tree over number ranges (a few comparisons
//!   per system call, whatever the profile's size), whose leaves return the action or
//!   check the arguments;
//! - numbers above the largest the profile names for that architecture return ENOSYS
//!   unless the default action allows (as runc does), so that a C library tries its
//!   fallback for a system call newer than the profile.

pub mod table;

use crate::spec::manifest::node::{Node, Value};

/// What happens to a system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Allow,
    Errno(u16),
    KillProcess,
    KillThread,
    Trap,
    Log,
}

impl Action {
    /// The `SECCOMP_RET_*` value.
    pub fn ret(self) -> u32 {
        match self {
            Action::KillProcess => 0x8000_0000,
            Action::KillThread => 0,
            Action::Trap => 0x0003_0000,
            Action::Errno(e) => 0x0005_0000 | u32::from(e),
            Action::Log => 0x7ffc_0000,
            Action::Allow => 0x7fff_0000,
        }
    }
}

pub const EPERM: u16 = 1;
pub const ENOSYS: u16 = 38;

/// A comparison of one argument (64 bits); several in one rule must all hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArgCond {
    pub index: u8,
    pub op: Op,
    pub value: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Eq,
    Ne,
    /// `arg & mask == value`
    MaskedEq(u64),
}

impl ArgCond {
    /// Whether `arg` satisfies the condition (what the filter decides).
    pub fn holds(&self, arg: u64) -> bool {
        match self.op {
            Op::Eq => arg == self.value,
            Op::Ne => arg != self.value,
            Op::MaskedEq(mask) => arg & mask == self.value,
        }
    }
}

/// One rule: these system calls get `action` when every condition holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub names: Vec<String>,
    pub action: Action,
    pub args: Vec<ArgCond>,
}

/// An architecture the filter knows system call numbers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    X32,
    I386,
    Aarch64,
    Arm,
}

impl Arch {
    /// The column of [`table::SYSCALLS`].
    fn column(self) -> usize {
        self as usize
    }

    /// `AUDIT_ARCH_*` as in `seccomp_data.arch` (x32 shares x86_64's).
    pub fn audit(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => 0xc000_003e,
            Arch::I386 => 0x4000_0003,
            Arch::Aarch64 => 0xc000_00b7,
            Arch::Arm => 0x4000_0028,
        }
    }

    /// The number the kernel sees for a table entry.
    fn number(self, stored: u16) -> u32 {
        match self {
            Arch::X32 => 0x4000_0000 | u32::from(stored),
            Arch::Arm if stored >= table::ARM_PRIVATE => {
                0xf_0000 + u32::from(stored - table::ARM_PRIVATE)
            }
            _ => u32::from(stored),
        }
    }

    /// The architectures a host of `self` may run programs of: its own and the compat
    /// ones (an arm pealet may run on an aarch64 kernel, as 32-bit Raspberry Pi OS does).
    pub fn family(self) -> &'static [Arch] {
        match self {
            Arch::X86_64 | Arch::X32 | Arch::I386 => &[Arch::X86_64, Arch::X32, Arch::I386],
            Arch::Aarch64 | Arch::Arm => &[Arch::Aarch64, Arch::Arm],
        }
    }

    /// The architecture this program was built for.
    pub fn native() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else if cfg!(target_arch = "arm") {
            Arch::Arm
        } else if cfg!(target_arch = "x86") {
            Arch::I386
        } else {
            Arch::X86_64
        }
    }

    /// The profile format's name (`SCMP_ARCH_X86_64`).
    fn from_scmp(name: &str) -> Option<Arch> {
        Some(match name {
            "SCMP_ARCH_X86_64" => Arch::X86_64,
            "SCMP_ARCH_X32" => Arch::X32,
            "SCMP_ARCH_X86" => Arch::I386,
            "SCMP_ARCH_AARCH64" => Arch::Aarch64,
            "SCMP_ARCH_ARM" => Arch::Arm,
            _ => return None,
        })
    }
}

/// The number of system call `name` on `arch`, if it has one.
pub fn number(arch: Arch, name: &str) -> Option<u32> {
    let i = table::find(name)?;
    let stored = table::NUMBERS[i][arch.column()];
    (stored != table::NONE).then(|| arch.number(stored))
}

/// A seccomp profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub default: Action,
    /// Architectures besides the native one's family that the profile lists; `None`:
    /// the native family (what the default profiles do).
    pub arches: Option<Vec<Arch>>,
    pub rules: Vec<Rule>,
}

/// Capability numbers the default profile looks at.
mod cap {
    pub const DAC_READ_SEARCH: u32 = 2;
    pub const SYS_MODULE: u32 = 16;
    pub const SYS_RAWIO: u32 = 17;
    pub const SYS_CHROOT: u32 = 18;
    pub const SYS_PTRACE: u32 = 19;
    pub const SYS_PACCT: u32 = 20;
    pub const SYS_ADMIN: u32 = 21;
    pub const SYS_BOOT: u32 = 22;
    pub const SYS_NICE: u32 = 23;
    pub const SYS_TIME: u32 = 25;
    pub const SYS_TTY_CONFIG: u32 = 26;
    pub const SYSLOG: u32 = 34;
    pub const PERFMON: u32 = 38;
    pub const BPF: u32 = 39;
}

/// System calls the default profile allows to every container.
/// (Space-separated; in the binary only as the set of [`DEFAULT_ALLOW_SET`].)
const DEFAULT_ALLOW: &str = concat!(
    "accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir ",
    "chmod chown chown32 clock_adjtime clock_adjtime64 clock_getres ",
    "clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep ",
    "clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 ",
    "dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait ",
    "epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit ",
    "exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark ",
    "fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 ",
    "fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 ",
    "fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue ",
    "futex_time64 futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents ",
    "getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups ",
    "getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority ",
    "getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list ",
    "getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday ",
    "getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init ",
    "inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents ",
    "io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc ",
    "kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown ",
    "lchown32 lgetxattr link linkat listen listmount listxattr listxattrat ",
    "llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise ",
    "map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat ",
    "mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify ",
    "mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 ",
    "mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall ",
    "munmap nanosleep newfstatat _newselect open openat openat2 pause pidfd_open ",
    "pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ",
    "ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease ",
    "process_vm_readv process_vm_writev pselect6 pselect6_time64 ptrace pwrite64 ",
    "pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom ",
    "recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat ",
    "rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending ",
    "rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait ",
    "rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr ",
    "sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler ",
    "sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity ",
    "sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select ",
    "semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 ",
    "sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 ",
    "setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 ",
    "setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit ",
    "set_robust_list setsid setsockopt set_thread_area set_tid_address setuid ",
    "setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack ",
    "signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat ",
    "stat64 statfs statfs64 statmount statx symlink symlinkat sync sync_file_range ",
    "syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun ",
    "timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create ",
    "timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill ",
    "truncate truncate64 ugetrlimit umask uname unlink unlinkat uretprobe utime ",
    "utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write ",
    "writev arch_prctl modify_ldt arm_fadvise64_64 arm_sync_file_range ",
    "sync_file_range2 breakpoint cacheflush set_tls ",
);

/// System calls the default profile allows only with a capability.
const DEFAULT_ALLOW_SET: [u64; table::SET_WORDS] = table::name_set(DEFAULT_ALLOW);

const BY_CAPABILITY: &[(u32, &str)] = &[
    (cap::DAC_READ_SEARCH, "open_by_handle_at"),
    (
        cap::SYS_ADMIN,
        concat!(
            "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick ",
            "lookup_dcookie mount mount_setattr move_mount name_to_handle_at ",
            "open_tree perf_event_open quotactl quotactl_fd setdomainname ",
            "sethostname setns syslog umount umount2 unshare",
        ),
    ),
    (cap::SYS_BOOT, "reboot"),
    (cap::SYS_CHROOT, "chroot"),
    (cap::SYS_MODULE, "delete_module init_module finit_module"),
    (cap::SYS_PACCT, "acct"),
    (cap::SYS_PTRACE, "kcmp pidfd_getfd process_madvise"),
    (cap::SYS_RAWIO, "iopl ioperm"),
    (
        cap::SYS_TIME,
        "settimeofday stime clock_settime clock_settime64",
    ),
    (cap::SYS_TTY_CONFIG, "vhangup"),
    (
        cap::SYS_NICE,
        "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    ),
    (cap::SYSLOG, "syslog"),
    (cap::BPF, "bpf"),
    (cap::PERFMON, "perf_event_open"),
];

/// [`BY_CAPABILITY`] as name sets, computed at compile time.
const BY_CAPABILITY_SETS: [(u32, [u64; table::SET_WORDS]); BY_CAPABILITY.len()] = {
    let mut out = [(0, [0; table::SET_WORDS]); BY_CAPABILITY.len()];
    let mut i = 0;
    while i < BY_CAPABILITY.len() {
        out[i] = (BY_CAPABILITY[i].0, table::name_set(BY_CAPABILITY[i].1));
        i += 1;
    }
    out
};

/// `CLONE_NEWNS | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWCGROUP`.
const CLONE_NAMESPACES: u64 = 0x7e02_0000;

/// The default profile's policy for a container with capability bits `caps`.
pub fn runtime_default(caps: u64) -> Profile {
    let has = |c: u32| caps & (1u64 << c) != 0;
    let names = |set: &[u64; table::SET_WORDS]| -> Vec<String> {
        (0..table::OFFSETS.len())
            .filter(|i| set[i / 64] & (1 << (i % 64)) != 0)
            .map(|i| table::name(i).to_string())
            .collect()
    };
    let allow = |names: Vec<String>| Rule {
        names,
        action: Action::Allow,
        args: Vec::new(),
    };
    let mut rules = vec![allow(names(&DEFAULT_ALLOW_SET))];
    for (c, set) in &BY_CAPABILITY_SETS {
        if has(*c) {
            rules.push(allow(names(set)));
        }
    }
    // personality: only the values programs use (Linux, its 32-bit and layout flags).
    for value in [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff] {
        rules.push(Rule {
            names: vec!["personality".into()],
            action: Action::Allow,
            args: vec![ArgCond {
                index: 0,
                op: Op::Eq,
                value,
            }],
        });
    }
    // socket: every family but AF_VSOCK (40).
    rules.push(Rule {
        names: vec!["socket".into()],
        action: Action::Allow,
        args: vec![ArgCond {
            index: 0,
            op: Op::Ne,
            value: 40,
        }],
    });
    if !has(cap::SYS_ADMIN) {
        // clone without namespace flags; clone3 cannot be filtered by its flags (they
        // are behind a pointer): ENOSYS makes the C library fall back to clone.
        rules.push(Rule {
            names: vec!["clone".into()],
            action: Action::Allow,
            args: vec![ArgCond {
                index: 0,
                op: Op::MaskedEq(CLONE_NAMESPACES),
                value: 0,
            }],
        });
        rules.push(Rule {
            names: vec!["clone3".into()],
            action: Action::Errno(ENOSYS),
            args: Vec::new(),
        });
    }
    Profile {
        default: Action::Errno(EPERM),
        arches: None,
        rules,
    }
}

/// What a profile file cannot be, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("not JSON: {0}")]
    Syntax(String),
    #[error("{field}: {problem}")]
    Field { field: String, problem: String },
    #[error("profile of {0} bytes is larger than the limit {MAX_PROFILE}")]
    TooLarge(usize),
}

/// The largest profile file read.
pub const MAX_PROFILE: usize = 256 * 1024;

fn field(field: impl Into<String>, problem: impl Into<String>) -> ProfileError {
    ProfileError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

/// A profile in the OCI/Docker seccomp JSON format: `defaultAction`,
/// `defaultErrnoRet`, `architectures` (or Docker's `archMap`), `syscalls` with `names`,
/// `action`, `errnoRet` and `args` (`index`, `value`, `valueTwo`, `op` of
/// SCMP_CMP_EQ, _NE or _MASKED_EQ). Refused rather than weakened: other comparisons,
/// `includes`/`excludes`, `flags`, notify listeners, unknown actions, and a rule that
/// would restrict a system call pealet has no number for.
pub fn localhost(text: &str) -> Result<Profile, ProfileError> {
    if text.len() > MAX_PROFILE {
        return Err(ProfileError::TooLarge(text.len()));
    }
    let docs = crate::spec::manifest::yaml::parse(text)
        .map_err(|e| ProfileError::Syntax(e.to_string()))?;
    let [doc] = docs.as_slice() else {
        return Err(ProfileError::Syntax("expected one JSON object".into()));
    };
    let Value::Map(entries) = &doc.value else {
        return Err(ProfileError::Syntax("expected a JSON object".into()));
    };
    let default_errno = match doc.get("defaultErrnoRet") {
        Some(n) => Some(errno(n, "defaultErrnoRet")?),
        None => None,
    };
    let default = match doc.get("defaultAction") {
        Some(a) => action(a, default_errno, "defaultAction")?,
        None => return Err(field("defaultAction", "is required")),
    };
    let mut profile = Profile {
        default,
        arches: None,
        rules: Vec::new(),
    };
    for (key, value) in entries {
        match key.as_str() {
            "defaultAction" | "defaultErrnoRet" => {}
            "architectures" => profile.arches = Some(arches(value, "architectures")?),
            "archMap" => {
                let mut all = Vec::new();
                for (i, m) in list(value, "archMap")?.iter().enumerate() {
                    let p = format!("archMap[{i}]");
                    if let Some(a) = m.get("architecture") {
                        all.extend(arches(&Node::new(Value::Seq(vec![a.clone()])), &p)?);
                    }
                    if let Some(subs) = m.get("subArchitectures") {
                        all.extend(arches(subs, &format!("{p}.subArchitectures"))?);
                    }
                }
                profile.arches = Some(all);
            }
            "syscalls" => {
                for (i, s) in list(value, "syscalls")?.iter().enumerate() {
                    profile.rules.push(rule(s, &format!("syscalls[{i}]"))?);
                }
            }
            "flags" if matches!(&value.value, Value::Seq(v) if v.is_empty()) => {}
            "listenerPath" | "listenerMetadata" if is_empty(value) => {}
            "flags" | "listenerPath" | "listenerMetadata" => {
                return Err(field(key.as_str(), "is not supported"));
            }
            other => return Err(field(other, "unknown field")),
        }
    }
    // A restriction pealet cannot place would leave the call allowed: refuse it.
    for (i, r) in profile.rules.iter().enumerate() {
        let restricts = r.action != Action::Allow && r.action != profile.default;
        if !restricts {
            continue;
        }
        for name in &r.names {
            if table::find(name).is_none() {
                return Err(field(
                    format!("syscalls[{i}].names"),
                    format!("unknown system call {name:?}"),
                ));
            }
        }
    }
    Ok(profile)
}

fn is_empty(n: &Node) -> bool {
    match &n.value {
        Value::Null => true,
        Value::Str(s) => s.is_empty(),
        Value::Seq(v) => v.is_empty(),
        Value::Map(m) => m.is_empty(),
        _ => false,
    }
}

fn list<'a>(n: &'a Node, path: &str) -> Result<&'a [Node], ProfileError> {
    match &n.value {
        Value::Seq(v) => Ok(v),
        Value::Null => Ok(&[]),
        _ => Err(field(
            path,
            format!("must be a list, not {}", n.kind_name()),
        )),
    }
}

fn string<'a>(n: &'a Node, path: &str) -> Result<&'a str, ProfileError> {
    match &n.value {
        Value::Str(s) => Ok(s),
        _ => Err(field(
            path,
            format!("must be a string, not {}", n.kind_name()),
        )),
    }
}

fn unsigned(n: &Node, path: &str) -> Result<u64, ProfileError> {
    let parsed = match &n.value {
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::Float(f) => f.parse::<u64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| field(path, "must be an unsigned 64-bit integer"))
}

fn errno(n: &Node, path: &str) -> Result<u16, ProfileError> {
    let v = unsigned(n, path)?;
    u16::try_from(v)
        .ok()
        .filter(|v| *v <= 4095)
        .ok_or_else(|| field(path, "must be an errno (0-4095)"))
}

fn action(n: &Node, errno_ret: Option<u16>, path: &str) -> Result<Action, ProfileError> {
    Ok(match string(n, path)? {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno_ret.unwrap_or(EPERM)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        other => return Err(field(path, format!("action {other:?} is not supported"))),
    })
}

fn arches(n: &Node, path: &str) -> Result<Vec<Arch>, ProfileError> {
    let mut out = Vec::new();
    for (i, a) in list(n, path)?.iter().enumerate() {
        // Architectures of other hosts (MIPS, s390x ...) do not apply here.
        if let Some(arch) = Arch::from_scmp(string(a, &format!("{path}[{i}]"))?) {
            out.push(arch);
        }
    }
    Ok(out)
}

fn rule(n: &Node, path: &str) -> Result<Rule, ProfileError> {
    let Value::Map(entries) = &n.value else {
        return Err(field(path, "must be an object"));
    };
    let errno_ret = match n.get("errnoRet") {
        Some(e) => Some(errno(e, &format!("{path}.errnoRet"))?),
        None => None,
    };
    let mut rule = Rule {
        names: Vec::new(),
        action: Action::Allow,
        args: Vec::new(),
    };
    let mut has_action = false;
    for (key, value) in entries {
        let p = format!("{path}.{key}");
        match key.as_str() {
            "names" => {
                for (i, name) in list(value, &p)?.iter().enumerate() {
                    rule.names
                        .push(string(name, &format!("{p}[{i}]"))?.to_string());
                }
            }
            "name" => rule.names.push(string(value, &p)?.to_string()),
            "action" => {
                rule.action = action(value, errno_ret, &p)?;
                has_action = true;
            }
            "errnoRet" | "comment" => {}
            "args" => {
                for (i, a) in list(value, &p)?.iter().enumerate() {
                    rule.args.push(arg(a, &format!("{p}[{i}]"))?);
                }
            }
            "includes" | "excludes" if is_empty(value) => {}
            "includes" | "excludes" => {
                return Err(field(
                    p,
                    "conditions on capabilities or kernels are not supported",
                ));
            }
            _ => return Err(field(p, "unknown field")),
        }
    }
    if !has_action {
        return Err(field(format!("{path}.action"), "is required"));
    }
    if rule.args.len() > 6 {
        return Err(field(format!("{path}.args"), "at most 6 arguments"));
    }
    Ok(rule)
}

fn arg(n: &Node, path: &str) -> Result<ArgCond, ProfileError> {
    let get = |k: &str| {
        n.get(k)
            .ok_or_else(|| field(format!("{path}.{k}"), "is required"))
    };
    let index = unsigned(get("index")?, &format!("{path}.index"))?;
    let index = u8::try_from(index)
        .ok()
        .filter(|i| *i < 6)
        .ok_or_else(|| field(format!("{path}.index"), "must be 0-5"))?;
    let value = unsigned(get("value")?, &format!("{path}.value"))?;
    let op = match string(get("op")?, &format!("{path}.op"))? {
        "SCMP_CMP_EQ" => Op::Eq,
        "SCMP_CMP_NE" => Op::Ne,
        "SCMP_CMP_MASKED_EQ" => {
            let two = n
                .get("valueTwo")
                .map(|v| unsigned(v, &format!("{path}.valueTwo")))
                .transpose()?
                .unwrap_or(0);
            return Ok(ArgCond {
                index,
                op: Op::MaskedEq(value),
                value: two,
            });
        }
        other => {
            return Err(field(
                format!("{path}.op"),
                format!("{other} is not supported (SCMP_CMP_EQ, _NE and _MASKED_EQ are)"),
            ));
        }
    };
    Ok(ArgCond { index, op, value })
}

/// One classic BPF instruction, as `struct sock_filter`.
pub type Insn = crate::sys::seccomp::SockFilter;

// Classic BPF opcodes.
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JA: u16 = 0x05;
const AND_K: u16 = 0x54;
const RET_K: u16 = 0x06;

/// `seccomp_data` offsets.
const NR: u32 = 0;
const ARCH: u32 = 4;
fn arg_low(i: u8) -> u32 {
    16 + 8 * u32::from(i)
}

/// The verdict for one system call number: conditional rules in order, then the action.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Verdict {
    conditional: Vec<(Vec<ArgCond>, Action)>,
    otherwise: Action,
}

impl Verdict {
    fn plain(action: Action) -> Verdict {
        Verdict {
            conditional: Vec::new(),
            otherwise: action,
        }
    }
}

/// Why a profile did not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("the filter has {0} instructions; the kernel takes at most 4096")]
    TooLong(usize),
    #[error("a jump of {0} instructions does not fit classic BPF")]
    FarJump(usize),
}

/// Per architecture: number → verdict for the numbers the profile names, sorted.
fn verdicts(profile: &Profile, arch: Arch) -> Vec<(u32, Verdict)> {
    // (number, rule index): sorted, each number's rules stay in the profile's order.
    let mut hits: Vec<(u32, usize)> = Vec::new();
    for (r, rule) in profile.rules.iter().enumerate() {
        hits.extend(
            rule.names
                .iter()
                .filter_map(|n| Some((number(arch, n)?, r))),
        );
    }
    hits.sort_unstable();
    let mut out: Vec<(u32, Verdict)> = Vec::new();
    for (nr, r) in hits {
        if out.last().is_none_or(|(n, _)| *n != nr) {
            out.push((nr, Verdict::plain(profile.default)));
        }
        let Some((_, v)) = out.last_mut() else {
            continue;
        };
        let rule = &profile.rules[r];
        if rule.args.is_empty() {
            v.otherwise = rule.action;
        } else {
            v.conditional.push((rule.args.clone(), rule.action));
        }
    }
    out
}

/// Sorted, non-overlapping ranges `[start, next start)` covering `base..`, each with
/// one verdict; past the last named number, ENOSYS (or the default when it allows).
fn ranges(profile: &Profile, arch: Arch, base: u32) -> Vec<(u32, Verdict)> {
    fn add(out: &mut Vec<(u32, Verdict)>, start: u32, v: Verdict) {
        if out.last().is_none_or(|(_, last)| *last != v) {
            out.push((start, v));
        }
    }
    let default = Verdict::plain(profile.default);
    let map = verdicts(profile, arch);
    let beyond = if profile.default == Action::Allow || map.is_empty() {
        default.clone()
    } else {
        Verdict::plain(Action::Errno(ENOSYS))
    };
    let mut out = Vec::new();
    let mut next = base;
    for (nr, v) in map {
        if nr > next {
            add(&mut out, next, default.clone());
        }
        add(&mut out, nr, v);
        next = nr + 1;
    }
    add(&mut out, next, beyond);
    out
}

/// A tiny assembler: instructions with symbolic forward targets.
#[derive(Debug, Clone, Copy)]
enum Asm {
    Insn(Insn),
    /// Conditional jump: `code`, `k`, true target, false target (labels).
    Jump(u16, u32, usize, usize),
    /// Unconditional jump to a label.
    Ja(usize),
    Label(usize),
}

struct Emitter {
    code: Vec<Asm>,
    labels: usize,
}

impl Emitter {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels
    }
    fn insn(&mut self, code: u16, k: u32) {
        self.code.push(Asm::Insn(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }
    fn ret(&mut self, action: Action) {
        self.insn(RET_K, action.ret());
    }

    /// A decision tree over `ranges` (the number is in the accumulator).
    fn tree(&mut self, ranges: &[(u32, Verdict)]) {
        if let [(_, verdict)] = ranges {
            self.leaf(verdict);
            return;
        }
        let mid = ranges.len() / 2;
        let right = self.label();
        let left = self.label();
        self.code.push(Asm::Jump(JGE_K, ranges[mid].0, right, left));
        self.code.push(Asm::Label(left));
        self.tree(&ranges[..mid]);
        self.code.push(Asm::Label(right));
        self.tree(&ranges[mid..]);
    }

    /// Check the arguments of each conditional rule in turn, then the action.
    fn leaf(&mut self, verdict: &Verdict) {
        for (args, action) in &verdict.conditional {
            let next = self.label();
            for a in args {
                let low = a.value as u32;
                let high = (a.value >> 32) as u32;
                let (mask_low, mask_high) = match a.op {
                    Op::MaskedEq(m) => (m as u32, (m >> 32) as u32),
                    _ => (u32::MAX, u32::MAX),
                };
                let ok = self.label();
                match a.op {
                    // Both halves equal: the condition holds.
                    Op::Eq | Op::MaskedEq(_) => {
                        for (off, mask, want) in [
                            (arg_low(a.index) + 4, mask_high, high),
                            (arg_low(a.index), mask_low, low),
                        ] {
                            self.insn(LD_W_ABS, off);
                            if mask != u32::MAX {
                                self.insn(AND_K, mask);
                            }
                            let same = self.label();
                            self.code.push(Asm::Jump(JEQ_K, want, same, next));
                            self.code.push(Asm::Label(same));
                        }
                        self.code.push(Asm::Ja(ok));
                    }
                    // Either half differs: it holds.
                    Op::Ne => {
                        self.insn(LD_W_ABS, arg_low(a.index) + 4);
                        let low_check = self.label();
                        self.code.push(Asm::Jump(JEQ_K, high, low_check, ok));
                        self.code.push(Asm::Label(low_check));
                        self.insn(LD_W_ABS, arg_low(a.index));
                        self.code.push(Asm::Jump(JEQ_K, low, next, ok));
                    }
                }
                self.code.push(Asm::Label(ok));
            }
            self.ret(*action);
            self.code.push(Asm::Label(next));
        }
        self.ret(verdict.otherwise);
    }

    /// Resolve labels into offsets.
    fn finish(self) -> Result<Vec<Insn>, CompileError> {
        let mut at = vec![0usize; self.labels + 1];
        let mut pc = 0;
        for a in &self.code {
            match a {
                Asm::Label(l) => at[*l] = pc,
                _ => pc += 1,
            }
        }
        if pc > 4096 {
            return Err(CompileError::TooLong(pc));
        }
        let mut out = Vec::with_capacity(pc);
        for a in &self.code {
            let here = out.len();
            let rel = |l: usize| at[l] - here - 1;
            match *a {
                Asm::Label(_) => {}
                Asm::Insn(i) => out.push(i),
                Asm::Ja(l) => out.push(Insn {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: rel(l) as u32,
                }),
                Asm::Jump(code, k, t, f) => {
                    let (jt, jf) = (rel(t), rel(f));
                    let jt8 = u8::try_from(jt).map_err(|_| CompileError::FarJump(jt))?;
                    let jf8 = u8::try_from(jf).map_err(|_| CompileError::FarJump(jf))?;
                    out.push(Insn {
                        code,
                        jt: jt8,
                        jf: jf8,
                        k,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The filter for `profile` on a host of architecture `native`.
pub fn compile(profile: &Profile, native: Arch) -> Result<Vec<Insn>, CompileError> {
    let family = native.family();
    let mut arches: Vec<Arch> = vec![native];
    match &profile.arches {
        None => arches.extend(family.iter().copied()),
        Some(listed) => arches.extend(listed.iter().filter(|a| family.contains(a))),
    }
    arches.sort();
    arches.dedup();
    let mut e = Emitter {
        code: Vec::new(),
        labels: 0,
    };
    e.insn(LD_W_ABS, ARCH);
    let mut blocks = Vec::new();
    // x32 shares x86_64's audit arch: one block for both.
    let mut audits: Vec<u32> = arches.iter().map(|a| a.audit()).collect();
    audits.dedup();
    for audit in audits {
        // The block may be far: a conditional jump over a `ja` to it.
        let block = e.label();
        let next = e.label();
        let near = e.label();
        e.code.push(Asm::Jump(JEQ_K, audit, near, next));
        e.code.push(Asm::Label(near));
        e.code.push(Asm::Ja(block));
        e.code.push(Asm::Label(next));
        blocks.push((audit, block));
    }
    e.ret(Action::KillProcess);
    for (audit, block) in blocks {
        e.code.push(Asm::Label(block));
        e.insn(LD_W_ABS, NR);
        if audit == Arch::X86_64.audit() {
            let has = |a: Arch| arches.contains(&a);
            let x32 = e.label();
            let native64 = e.label();
            e.code.push(Asm::Jump(JGE_K, 0x4000_0000, x32, native64));
            e.code.push(Asm::Label(native64));
            if has(Arch::X86_64) {
                e.tree(&ranges(profile, Arch::X86_64, 0));
            } else {
                e.ret(Action::KillProcess);
            }
            e.code.push(Asm::Label(x32));
            if has(Arch::X32) {
                e.tree(&ranges(profile, Arch::X32, 0x4000_0000));
            } else {
                e.ret(Action::KillProcess);
            }
        } else {
            let arch = arches
                .iter()
                .copied()
                .find(|a| a.audit() == audit)
                .unwrap_or(native);
            e.tree(&ranges(profile, arch, 0));
        }
    }
    e.finish()
}

/// Runs a filter as the kernel would, for tests and checks: the `SECCOMP_RET_*` value
/// for system call `nr` with `args` on `arch` (its audit value). `None` for an
/// instruction the compiler never emits or a program that runs off its end.
pub fn evaluate(prog: &[Insn], audit: u32, nr: u32, args: [u64; 6]) -> Option<u32> {
    let word = |off: u32| -> Option<u32> {
        match off {
            0 => Some(nr),
            4 => Some(audit),
            16..=63 if off % 4 == 0 => {
                let a = args[((off - 16) / 8) as usize];
                Some(if off % 8 == 0 {
                    a as u32
                } else {
                    (a >> 32) as u32
                })
            }
            _ => None,
        }
    };
    let mut acc = 0u32;
    let mut pc = 0usize;
    loop {
        let i = prog.get(pc)?;
        pc += 1;
        match i.code {
            LD_W_ABS => acc = word(i.k)?,
            AND_K => acc &= i.k,
            JA => pc += i.k as usize,
            JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
            JGE_K => pc += usize::from(if acc >= i.k { i.jt } else { i.jf }),
            RET_K => return Some(i.k),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests;
