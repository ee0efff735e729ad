//! The only module allowed `unsafe`: thin wrappers for the few calls rustix marks
//! unsafe or does not offer (fork, unshare, an fd kept across exec, SIOCSIFFLAGS,
//! signal dispositions, bpf(2) for device programs, seccomp(2)).
//!
//! Every wrapper is small, documents why it is sound, and returns `rustix::io::Result`
//! so callers handle errno the same way as for every safe rustix call.

#![allow(unsafe_code)]

pub mod bpf;
pub mod seccomp;

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::io::{Errno, Result};
use rustix::process::Pid;
use rustix::thread::UnshareFlags;

/// Which side of a [`fork`] we are on.
pub enum Forked {
    /// The parent, with the child's pid.
    Parent(Pid),
    /// The new child process.
    Child,
}

/// `fork()`.
///
/// Only call this from a single-threaded process (`pealet init`, the shim): the child
/// then goes on running Rust code, which is only sound when no other thread could
/// have held a lock at the time of the fork (STYLE.md 3).
pub fn fork() -> Result<Forked> {
    // SAFETY: fork has no memory-safety preconditions of its own; the soundness of
    // running Rust code in the child rests on the caller being single-threaded, which
    // is this function's documented contract. libc's fork runs its atfork handlers so
    // that libc's own state stays consistent in the child.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(last_errno()),
        0 => Ok(Forked::Child),
        // A positive pid from fork is never zero.
        pid => Ok(Forked::Parent(Pid::from_raw(pid).ok_or(Errno::INVAL)?)),
    }
}

/// `unshare(flags)`, without `CLONE_FILES`.
///
/// Namespaces are per thread: call it from a single-threaded process, or the other
/// threads stay where they were.
pub fn unshare(flags: UnshareFlags) -> Result<()> {
    if flags.contains(UnshareFlags::FILES) {
        return Err(Errno::INVAL);
    }
    // SAFETY: the only unsound case rustix warns about is CLONE_FILES (threads seeing
    // fds of a different table); it is refused above.
    unsafe { rustix::thread::unshare_unsafe(flags) }
}

/// Make `fd` appear as `target` in the program `cmd` executes, without close-on-exec.
///
/// The hook runs between fork and exec of a possibly multithreaded parent, so it makes
/// one async-signal-safe call (`dup2`) and neither allocates nor logs. `fd` must stay
/// open until the command is spawned.
pub fn keep_fd_across_exec(cmd: &mut Command, fd: BorrowedFd<'_>, target: RawFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: the closure calls only dup2 (async-signal-safe) on integers it owns by
    // copy; it touches no lock and no allocator. When raw == target, dup2 would leave
    // close-on-exec set, so fcntl clears it instead, also async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let r = if raw == target {
                libc::fcntl(raw, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, target)
            };
            if r == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Set `IFF_UP` on the interface `name` (e.g. "lo") through `SIOCSIFFLAGS` on `socket`,
/// an `AF_INET` datagram socket of the network namespace to change.
pub fn interface_up(socket: BorrowedFd<'_>, name: &str) -> Result<()> {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() || name.as_bytes().contains(&0) {
        return Err(Errno::INVAL);
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name and writes the flags union
    // member of the ifreq we own, which lives for the whole call.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) } == -1 {
        return Err(last_errno());
    }
    // SAFETY: SIOCGIFFLAGS succeeded, so ifru_flags is the initialised union member.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; SIOCSIFFLAGS only reads the ifreq.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) } == -1 {
        return Err(last_errno());
    }
    Ok(())
}

fn last_errno() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO)
}

/// Take ownership of a file descriptor this process inherited by number.
///
/// Call it once per number, for a descriptor nothing else in the process uses (such as
/// the one `pealet init` gets from its parent through [`keep_fd_across_exec`]).
pub fn take_inherited_fd(fd: RawFd) -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_GETFD only reads descriptor flags; it fails with EBADF on a closed fd.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(Errno::BADF);
    }
    // SAFETY: the descriptor is open (checked above), and by this function's contract
    // nothing else in the process owns it, so the OwnedFd is its only owner.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Start the program `cmd` executes in a new session (`setsid`), so that it has no
/// controlling terminal and no signal sent to the caller's process group reaches it.
///
/// Like [`keep_fd_across_exec`], the hook makes one async-signal-safe call.
pub fn new_session(cmd: &mut Command) {
    // SAFETY: the closure calls only setsid (async-signal-safe), takes no lock and
    // does not allocate; it runs in the child between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Block `signals` for this thread and return a `signalfd` that reads them, close-on-exec
/// and non-blocking. Read one 128-byte `signalfd_siginfo` per signal; its first four bytes
/// are the signal number ([`signal_number`]).
///
/// Call it from a single-threaded process (other threads keep the signals unblocked).
/// `std::process::Command` clears the signal mask in its children, so nothing it starts
/// inherits the blocked signals.
pub fn signal_fd(signals: &[i32]) -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: sigset_t is plain old data; sigemptyset initialises it before any use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t for both calls.
    unsafe {
        libc::sigemptyset(&mut set);
        for &signal in signals {
            if libc::sigaddset(&mut set, signal) == -1 {
                return Err(Errno::INVAL);
            }
        }
    }
    // SAFETY: `set` is initialised; the old mask is not requested (null).
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
        return Err(Errno::INVAL);
    }
    // SAFETY: -1 asks for a new descriptor; `set` is initialised and only read.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if fd == -1 {
        return Err(last_errno());
    }
    // SAFETY: signalfd returned a new descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Unblock every signal of this thread. A program exec'd from here keeps the signal mask,
/// and the shim blocks SIGTERM and SIGINT for its signalfd: `pealet init` and `pealet
/// enter` call this first, so a container's PID 1 can handle SIGTERM.
pub fn unblock_all_signals() -> Result<()> {
    // SAFETY: sigset_t is plain old data; sigemptyset initialises it before any use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    // SAFETY: `set` is initialised; the old mask is not requested (null).
    if unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) } != 0 {
        return Err(Errno::INVAL);
    }
    Ok(())
}

/// Give SIGPIPE back its default action, ending the process, as the commands whose
/// output goes to a reader need: `pealet ps | head` then stops as Unix tools do (killed
/// by SIGPIPE, status 141 in a shell) instead of failing on EPIPE. Rust ignores SIGPIPE
/// before `main`; the long-running processes (agent, shim, init, reap, sandbox, enter)
/// keep it ignored, so a closed peer stays an error they handle. Sockets are written
/// with `MSG_NOSIGNAL` (std's TCP, `runtime::config::send`) and never raise it.
///
/// Programs started through `std::process::Command` get the default action whatever
/// this process has (std resets it in the child), so containers see what runc gives them.
pub fn default_sigpipe() {
    // SAFETY: signal() with SIG_DFL installs no handler, so no code runs in signal
    // context; SIGPIPE is a valid signal number; the previous disposition is not used.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// The size of one record read from a [`signal_fd`].
pub const SIGINFO_SIZE: usize = std::mem::size_of::<libc::signalfd_siginfo>();

/// The signal number of one `signalfd_siginfo` record (its first field, `ssi_signo`).
pub fn signal_number(record: &[u8]) -> Option<i32> {
    let bytes: [u8; 4] = record.get(..4)?.try_into().ok()?;
    Some(u32::from_ne_bytes(bytes) as i32)
}

/// Give back what an idle process does not need: the pages of this program's file that
/// set-up touched (`madvise(MADV_DONTNEED)` on each mapping of the executable that is
/// read-only and holds no anonymous page), and with glibc the free memory of the heap
/// (`malloc_trim`).
///
/// The file's pages come back from the page cache on their next use (a minor fault);
/// until then they are unmapped page cache, which the kernel reclaims first, instead of
/// pages counted as this process's private memory. A mapping with anonymous pages (the
/// relocated read-only data) is never touched: those pages exist nowhere else.
///
/// The mappings are found once per process (reading /proc/self/smaps costs more than
/// the release itself): they neither move nor change after start-up.
pub fn release_idle_memory() {
    static MAPPINGS: std::sync::OnceLock<Vec<(usize, usize)>> = std::sync::OnceLock::new();
    for &(start, len) in MAPPINGS.get_or_init(clean_program_mappings) {
        // SAFETY: [start, start + len) is a whole private, non-writable mapping of this
        // program's file whose pages are all the file's own (no anonymous copy, checked in
        // /proc/self/smaps when first called; a non-writable mapping cannot gain one
        // without an mprotect, and this process makes none). No Rust object lives in it,
        // so dropping its page table entries loses nothing: the next access reads the
        // same bytes.
        unsafe {
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
        }
    }
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One mapping of /proc/self/smaps, as far as [`clean_program_mappings`] needs it.
struct Mapping<'a> {
    start: usize,
    end: usize,
    perms: &'a [u8],
    offset: u64,
    file: &'a str,
    anonymous_kb: Option<u64>,
}

/// (start, length) of the mappings of the file that holds this function's code that
/// are safe to drop: not writable, with `Anonymous: 0 kB`, and either executable or at
/// file offset 0. The last rule keeps the relocated read-only data (RELRO, never at
/// offset 0) out even where smaps is emulated (qemu-user) and its counts mean nothing.
fn clean_program_mappings() -> Vec<(usize, usize)> {
    let here = clean_program_mappings as fn() -> Vec<(usize, usize)> as usize;
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return Vec::new();
    };
    let mut maps: Vec<Mapping<'_>> = Vec::new();
    for line in smaps.lines() {
        if let Some(kb) = line.strip_prefix("Anonymous:") {
            if let Some(last) = maps.last_mut() {
                last.anonymous_kb = kb.trim().trim_end_matches("kB").trim().parse().ok();
            }
            continue;
        }
        // A mapping's header: "start-end perms offset dev inode [path]".
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms), Some(offset)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let parsed = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
            u64::from_str_radix(offset, 16),
        );
        let (Ok(start), Ok(end), Ok(offset)) = parsed else {
            continue;
        };
        maps.push(Mapping {
            start,
            end,
            perms: perms.as_bytes(),
            offset,
            file: fields.nth(2).unwrap_or(""),
            anonymous_kb: None,
        });
    }
    let Some(program) = maps
        .iter()
        .find(|m| (m.start..m.end).contains(&here))
        .map(|m| m.file)
        .filter(|f| f.starts_with('/'))
    else {
        return Vec::new();
    };
    maps.iter()
        .filter(|m| m.file == program && m.anonymous_kb == Some(0))
        .filter(|m| m.perms.get(1) == Some(&b'-'))
        .filter(|m| m.perms.get(2) == Some(&b'x') || m.offset == 0)
        .map(|m| (m.start, m.end - m.start))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_text_is_released_and_runs_on() {
        let maps = clean_program_mappings();
        let here = program_text_is_released_and_runs_on as fn() as usize;
        // Under qemu-user (scripts/arm-test.sh says so) /proc/self/smaps is qemu's
        // rendering, not the kernel's, and does not show the code's mapping as clean, so
        // nothing is released there. The release must still leave the program working,
        // which the rest of the test checks.
        if std::env::var_os("PEALET_TEST_EMULATED").is_none() {
            assert!(
                maps.iter().any(|(s, l)| (*s..s + l).contains(&here)),
                "the test's own code is in a clean mapping: {maps:x?}"
            );
        }
        release_idle_memory();
        // Code, read-only data and relocated data still work afterwards.
        let words: Vec<String> = ["still", "here"].iter().map(|s| s.to_string()).collect();
        assert_eq!(format!("{words:?}"), "[\"still\", \"here\"]");
    }
}
