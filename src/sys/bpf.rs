//! `bpf(2)` for cgroup v2 device programs: load a `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program and attach it to a cgroup. rustix has no wrapper, so these are raw syscalls
//! with the kernel's `union bpf_attr` laid out for the two commands used.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::io::{Errno, Result};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Programs of the cgroup's ancestors run too; several may be attached to one cgroup.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The `BPF_PROG_LOAD` member of `union bpf_attr`, zero-padded: the kernel requires
/// every byte past the fields it knows to be zero.
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    pad: [u64; 8],
}

/// The `BPF_PROG_ATTACH` member of `union bpf_attr`.
#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    pad: [u32; 3],
}

/// Load a device program: `insns` are `struct bpf_insn` in the kernel's layout
/// (8 bytes each). Returns the program's fd.
pub fn load_device_program(insns: &[[u8; 8]]) -> Result<OwnedFd> {
    let license = c"Apache";
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len()).map_err(|_| Errno::TOOBIG)?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        prog_name: *b"pealet_devices\0\0",
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
        pad: [0; 8],
    };
    // SAFETY: `attr` is a fully initialised `bpf_attr` prefix for BPF_PROG_LOAD that
    // lives across the call, and its size is passed; the pointers in it name `insns`
    // (insn_cnt entries of 8 bytes, borrowed for the call) and a NUL-terminated
    // license string with static lifetime. The kernel copies both and keeps no pointer.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if fd < 0 {
        return Err(super::last_errno());
    }
    // SAFETY: BPF_PROG_LOAD returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attach `program` (a device program) to the cgroup whose directory `cgroup` is
/// open. The attachment holds the program: `program` may be closed afterwards.
pub fn attach_device_program(cgroup: BorrowedFd<'_>, program: BorrowedFd<'_>) -> Result<()> {
    let attr = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
        pad: [0; 3],
    };
    // SAFETY: `attr` is a fully initialised `bpf_attr` prefix for BPF_PROG_ATTACH that
    // lives across the call; it holds only integers (fds borrowed for the call).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttach,
            std::mem::size_of::<ProgAttach>(),
        )
    };
    if r < 0 {
        return Err(super::last_errno());
    }
    Ok(())
}
