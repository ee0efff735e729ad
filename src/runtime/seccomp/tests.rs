//! Tests of the seccomp compiler: verdicts per system call and architecture through
//! the interpreter, the default policy against Docker's, Localhost profiles read and refused.

use super::*;
use crate::runtime::caps;

const ALLOW: u32 = 0x7fff_0000;
const EPERM_RET: u32 = 0x0005_0001;
const ENOSYS_RET: u32 = 0x0005_0026;
const KILL: u32 = 0x8000_0000;

fn nr(arch: Arch, name: &str) -> u32 {
    number(arch, name).unwrap_or_else(|| panic!("{name} on {arch:?}"))
}

/// The verdict the profile means, computed from its rules directly.
fn expected(profile: &Profile, arch: Arch, call: u32, args: [u64; 6]) -> u32 {
    let map = verdicts(profile, arch);
    let max = map.last().map(|(n, _)| *n);
    match map.iter().find(|(n, _)| *n == call).map(|(_, v)| v) {
        Some(v) => {
            for (conds, action) in &v.conditional {
                if conds.iter().all(|c| c.holds(args[usize::from(c.index)])) {
                    return action.ret();
                }
            }
            v.otherwise.ret()
        }
        None if profile.default != Action::Allow && max.is_some_and(|m| call > m) => ENOSYS_RET,
        None => profile.default.ret(),
    }
}

fn default_profile() -> (Profile, Vec<Insn>) {
    let p = runtime_default(caps::DEFAULT.bits());
    let prog = compile(&p, Arch::X86_64).unwrap();
    (p, prog)
}

#[test]
fn every_default_name_is_a_known_system_call() {
    let capability_names = BY_CAPABILITY.iter().flat_map(|(_, l)| l.split_whitespace());
    for name in DEFAULT_ALLOW.split_whitespace().chain(capability_names) {
        assert!(table::find(name).is_some(), "{name} is not in the table");
    }
    let names: Vec<&str> = (0..table::OFFSETS.len()).map(table::name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "the table is sorted for binary search");
    assert_eq!(names.join(" ") + " ", table::NAMES);
    assert_eq!(table::find("_llseek"), Some(0));
    assert_eq!(table::find("writev"), Some(names.len() - 1));
    assert_eq!(table::find("accep"), None);
}

#[test]
fn runtime_default_on_x86_64_denies_what_docker_denies() {
    let (_, prog) = default_profile();
    let x64 = Arch::X86_64.audit();
    let run = |call: u32, a0: u64| evaluate(&prog, x64, call, [a0, 0, 0, 0, 0, 0]).unwrap();
    let n = |name| nr(Arch::X86_64, name);
    // (system call, first argument, verdict)
    let cases = [
        ("read", 0, ALLOW),
        ("write", 0, ALLOW),
        ("execve", 0, ALLOW),
        ("ptrace", 0, ALLOW),
        ("chroot", 0, ALLOW), // CAP_SYS_CHROOT is a default capability
        ("unshare", 0x1000_0000, EPERM_RET),
        ("setns", 0, EPERM_RET),
        ("mount", 0, EPERM_RET),
        ("umount2", 0, EPERM_RET),
        ("pivot_root", 0, EPERM_RET),
        ("add_key", 0, EPERM_RET),
        ("keyctl", 0, EPERM_RET),
        ("request_key", 0, EPERM_RET),
        ("bpf", 0, EPERM_RET),
        ("perf_event_open", 0, EPERM_RET),
        ("kexec_load", 0, EPERM_RET),
        ("init_module", 0, EPERM_RET),
        ("open_by_handle_at", 0, EPERM_RET),
        ("userfaultfd", 0, EPERM_RET),
        ("io_uring_setup", 0, EPERM_RET),
        ("reboot", 0, EPERM_RET),
        ("swapon", 0, EPERM_RET),
        ("clock_settime", 0, EPERM_RET),
        ("kcmp", 0, EPERM_RET),
        ("clone", 17, ALLOW),              // fork: SIGCHLD
        ("clone", 0x3d0f00, ALLOW),        // pthread_create's flags
        ("clone", 0x1000_0011, EPERM_RET), // CLONE_NEWUSER
        ("clone", 0x2000_0011, EPERM_RET), // CLONE_NEWPID
        ("clone", 0x0002_0011, EPERM_RET), // CLONE_NEWNS
        ("clone3", 0, ENOSYS_RET),
        ("personality", 0, ALLOW),
        ("personality", 0xffff_ffff, ALLOW),
        ("personality", 0x0040_0000, EPERM_RET), // READ_IMPLIES_EXEC
        ("socket", 2, ALLOW),
        ("socket", 40, EPERM_RET),         // AF_VSOCK
        ("socket", 40 | (1 << 32), ALLOW), // only the whole 64-bit value counts
    ];
    for (name, a0, want) in cases {
        assert_eq!(run(n(name), a0), want, "{name}({a0:#x})");
    }
    // An unassigned number below the largest: the default; past every known one: ENOSYS.
    assert_eq!(run(400, 0), EPERM_RET);
    assert_eq!(run(1000, 0), ENOSYS_RET);
    // Another architecture's process: killed.
    let arm = Arch::Arm.audit();
    assert_eq!(evaluate(&prog, arm, 0, [0; 6]), Some(KILL));
}

#[test]
fn x32_and_i386_are_filtered_on_x86_64() {
    let (_, prog) = default_profile();
    let x64 = Arch::X86_64.audit();
    let i386 = Arch::I386.audit();
    for (arch, audit) in [(Arch::X32, x64), (Arch::I386, i386)] {
        let run = |name| evaluate(&prog, audit, nr(arch, name), [17, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(run("read"), ALLOW, "{arch:?}");
        assert_eq!(run("clone"), ALLOW, "{arch:?}");
        assert_eq!(run("unshare"), EPERM_RET, "{arch:?}");
        assert_eq!(run("keyctl"), EPERM_RET, "{arch:?}");
    }
    let x32_ptrace = nr(Arch::X32, "ptrace");
    assert_eq!(x32_ptrace, 0x4000_0000 | 521, "x32's own number");
    assert_eq!(nr(Arch::I386, "socketcall"), 102);
    assert_eq!(
        evaluate(&prog, i386, 102, [0; 6]),
        Some(ALLOW),
        "socketcall"
    );
}

#[test]
fn aarch64_and_arm_numbers() {
    let p = runtime_default(caps::DEFAULT.bits());
    let prog = compile(&p, Arch::Aarch64).unwrap();
    let a64 = Arch::Aarch64.audit();
    let arm = Arch::Arm.audit();
    assert_eq!(nr(Arch::Aarch64, "unshare"), 97);
    assert_eq!(nr(Arch::Arm, "unshare"), 337);
    assert_eq!(nr(Arch::Arm, "set_tls"), 0xf0005);
    let run = |audit, call| evaluate(&prog, audit, call, [0; 6]).unwrap();
    assert_eq!(run(a64, 97), EPERM_RET);
    assert_eq!(run(a64, nr(Arch::Aarch64, "keyctl")), EPERM_RET);
    assert_eq!(run(a64, nr(Arch::Aarch64, "read")), ALLOW);
    assert_eq!(run(arm, 337), EPERM_RET);
    assert_eq!(run(arm, 0xf0005), ALLOW, "set_tls");
    assert_eq!(run(arm, 0xf0002), ALLOW, "cacheflush");
    assert_eq!(run(arm, nr(Arch::Arm, "read")), ALLOW);
    assert_eq!(run(Arch::X86_64.audit(), 0), KILL);
    // An arm pealet filters aarch64 too: its kernel may be a 64-bit one.
    let prog = compile(&p, Arch::Arm).unwrap();
    assert_eq!(evaluate(&prog, arm, 337, [0; 6]), Some(EPERM_RET));
    assert_eq!(evaluate(&prog, arm, 3, [0; 6]), Some(ALLOW));
    assert_eq!(evaluate(&prog, a64, 97, [0; 6]), Some(EPERM_RET));
}

#[test]
fn every_system_call_on_every_arch_gets_the_verdict_the_profile_means() {
    let profiles = [
        runtime_default(caps::DEFAULT.bits()),
        runtime_default(caps::all().bits()),
        localhost(DENY_MKDIR).unwrap(),
    ];
    for profile in &profiles {
        for host in [Arch::X86_64, Arch::Aarch64] {
            let prog = compile(profile, host).unwrap();
            for &arch in host.family() {
                let filtered = arch == host
                    || (profile.arches.as_ref()).is_none_or(|listed| listed.contains(&arch));
                for name in (0..table::OFFSETS.len()).map(table::name) {
                    let Some(call) = number(arch, name) else {
                        continue;
                    };
                    for a0 in [0, 17, 40, 0x1000_0000, 0xffff_ffff] {
                        let args = [a0, 0, 0, 0, 0, 0];
                        let got = evaluate(&prog, arch.audit(), call, args);
                        let want = if filtered {
                            expected(profile, arch, call, args)
                        } else {
                            KILL
                        };
                        assert_eq!(got, Some(want), "{arch:?} {name}({a0:#x})");
                    }
                }
            }
        }
    }
}

#[test]
fn sys_admin_allows_namespaces() {
    let caps = caps::DEFAULT.bits() | (1 << cap::SYS_ADMIN);
    let prog = compile(&runtime_default(caps), Arch::X86_64).unwrap();
    let x64 = Arch::X86_64.audit();
    let n = |name| nr(Arch::X86_64, name);
    assert_eq!(evaluate(&prog, x64, n("unshare"), [0; 6]), Some(ALLOW));
    let newuser = [0x1000_0011, 0, 0, 0, 0, 0];
    assert_eq!(evaluate(&prog, x64, n("clone"), newuser), Some(ALLOW));
    assert_eq!(evaluate(&prog, x64, n("clone3"), [0; 6]), Some(ALLOW));
    assert_eq!(evaluate(&prog, x64, n("keyctl"), [0; 6]), Some(EPERM_RET));
}

#[test]
fn filter_is_small() {
    let (_, prog) = default_profile();
    // A tree, not a list: a few hundred instructions for three architectures.
    assert!(prog.len() < 1000, "{} instructions", prog.len());
}

const DENY_MKDIR: &str = r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_MIPS"],
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
    {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
     "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
    {"names": ["ioctl"], "action": "SCMP_ACT_KILL_PROCESS",
     "args": [{"index": 1, "value": 4294967295, "valueTwo": 21505, "op": "SCMP_CMP_MASKED_EQ"}],
     "comment": "TCGETS"},
    {"names": ["some_future_call"], "action": "SCMP_ACT_ALLOW"}
  ]
}"#;

#[test]
fn localhost_profiles_are_read_and_enforced() {
    let p = localhost(DENY_MKDIR).unwrap();
    assert_eq!(p.default, Action::Allow);
    assert_eq!(p.arches, Some(vec![Arch::X86_64, Arch::I386, Arch::X32]));
    assert_eq!(p.rules[0].action, Action::Errno(13));
    assert_eq!(
        p.rules[2].args,
        [ArgCond {
            index: 1,
            op: Op::MaskedEq(0xffff_ffff),
            value: 21505
        }]
    );
    let prog = compile(&p, Arch::X86_64).unwrap();
    let x64 = Arch::X86_64.audit();
    let n = |name| nr(Arch::X86_64, name);
    let eval = |name, args| evaluate(&prog, x64, n(name), args).unwrap();
    assert_eq!(eval("mkdir", [0; 6]), 0x0005_000d);
    assert_eq!(eval("read", [0; 6]), ALLOW);
    assert_eq!(eval("personality", [8, 0, 0, 0, 0, 0]), EPERM_RET);
    assert_eq!(eval("personality", [0, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(eval("ioctl", [1, 0x5401, 0, 0, 0, 0]), KILL);
    assert_eq!(eval("ioctl", [1, 0x1_0000_5401, 0, 0, 0, 0]), KILL);
    assert_eq!(eval("ioctl", [1, 0x5402, 0, 0, 0, 0]), ALLOW);
    // Default allow: nothing past the largest number is refused.
    assert_eq!(evaluate(&prog, x64, 1000, [0; 6]), Some(ALLOW));
    // Docker's archMap form.
    let p = localhost(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {}}]}"#,
    )
    .unwrap();
    assert_eq!(p.arches, Some(vec![Arch::Aarch64, Arch::Arm]));
}

#[test]
fn localhost_profiles_pealet_cannot_honour_are_refused() {
    let bad = [
        (r#"{"syscalls": []}"#, "defaultAction: is required"),
        (
            r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#,
            "defaultAction: action \"SCMP_ACT_NOTIFY\" is not supported",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GT"}]}]}"#,
            "syscalls[0].args[0].op: SCMP_CMP_GT is not supported (SCMP_CMP_EQ, _NE and _MASKED_EQ are)",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}"#,
            "syscalls[0].includes: conditions on capabilities or kernels are not supported",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["frobnicate"], "action": "SCMP_ACT_ERRNO"}]}"#,
            "syscalls[0].names: unknown system call \"frobnicate\"",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}"#,
            "flags: is not supported",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscall": []}"#,
            "syscall: unknown field",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]}"#,
            "syscalls[0].action: is required",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}"#,
            "defaultErrnoRet: must be an errno (0-4095)",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
            "syscalls[0].args[0].index: must be 0-5",
        ),
    ];
    for (text, want) in bad {
        assert_eq!(localhost(text).unwrap_err().to_string(), want, "{text}");
    }
    assert!(matches!(localhost("[1, 2"), Err(ProfileError::Syntax(_))));
    assert!(matches!(localhost("[]"), Err(ProfileError::Syntax(_))));
    let big = " ".repeat(MAX_PROFILE + 1);
    assert!(matches!(localhost(&big), Err(ProfileError::TooLarge(_))));
}

#[test]
fn instruction_table_of_a_small_profile() {
    let p = Profile {
        default: Action::Allow,
        arches: None,
        rules: vec![Rule {
            names: vec!["unshare".into()],
            action: Action::Errno(EPERM),
            args: Vec::new(),
        }],
    };
    let prog = compile(&p, Arch::Arm).unwrap();
    let got: Vec<(u16, u8, u8, u32)> = prog.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
    assert_eq!(
        got,
        [
            (0x20, 0, 0, 4),           // ld arch
            (0x15, 0, 1, 0xc000_00b7), // aarch64?
            (0x05, 0, 0, 3),           //   ja its block
            (0x15, 0, 1, 0x4000_0028), // arm?
            (0x05, 0, 0, 7),           //   ja its block
            (0x06, 0, 0, 0x8000_0000), // kill
            (0x20, 0, 0, 0),           // aarch64: ld nr
            (0x35, 1, 0, 97),
            (0x06, 0, 0, 0x7fff_0000),
            (0x35, 1, 0, 98),
            (0x06, 0, 0, 0x0005_0001),
            (0x06, 0, 0, 0x7fff_0000),
            (0x20, 0, 0, 0),           // arm: ld nr
            (0x35, 1, 0, 337),         // nr >= unshare?
            (0x06, 0, 0, 0x7fff_0000), //   no: allow
            (0x35, 1, 0, 338),         // nr >= unshare + 1?
            (0x06, 0, 0, 0x0005_0001), //   no: EPERM
            (0x06, 0, 0, 0x7fff_0000), // allow
        ]
    );
}
