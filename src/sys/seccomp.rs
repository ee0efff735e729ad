//! `seccomp(2)`: installing a classic BPF filter (`struct sock_filter`) on the calling
//! process; rustix has no wrapper.

use rustix::io::Result;

const SECCOMP_SET_MODE_FILTER: libc::c_long = 1;
/// Synchronise all threads (a no-op for the single-threaded `pealet init`).
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_long = 1;

/// `struct sock_filter`: one classic BPF instruction.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const SockFilter,
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, TSYNC, prog)`. Needs no_new_privs set, or
/// CAP_SYS_ADMIN in the caller's user namespace. It stays for this process and
/// everything it execs or forks.
pub fn set_filter(program: &[SockFilter]) -> Result<()> {
    let fprog = SockFprog {
        len: u16::try_from(program.len()).map_err(|_| rustix::io::Errno::TOOBIG)?,
        filter: program.as_ptr(),
    };
    // SAFETY: `fprog` points at `program`, `len` instructions of the kernel's
    // `struct sock_filter` layout, both alive across the call; the kernel copies the
    // program and keeps no pointer to our memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            SECCOMP_FILTER_FLAG_TSYNC,
            &fprog as *const SockFprog,
        )
    };
    if r != 0 {
        return Err(super::last_errno());
    }
    Ok(())
}
