#!/usr/bin/env python3
"""Writes src/runtime/seccomp/table.rs: system call numbers per architecture, from the
libc crate's SYS_* constants (gnu x86_64, x32, x86, aarch64, arm) in the cargo registry,
plus what libc lacks: the unified numbers the kernel added later (424 and up are equal on
every architecture), the 32-bit time64 calls (403-423), and ARM's private calls.

Usage: scripts/gen-syscall-table.py [LIBC_SOURCE_DIR]"""
import glob, re, sys

libc = sys.argv[1] if len(sys.argv) > 1 else sorted(glob.glob(
    '/root/.cargo/registry/src/*/libc-0.2.*'))[-1]
L = libc + '/src/unix/linux_like/linux/gnu/'
files = {'x86_64': 'b64/x86_64/not_x32.rs', 'x32': 'b64/x86_64/x32.rs',
         'i386': 'b32/x86/mod.rs', 'aarch64': 'b64/aarch64/mod.rs', 'arm': 'b32/arm/mod.rs'}
order = ['x86_64', 'x32', 'i386', 'aarch64', 'arm']
tabs = {}
for arch, f in files.items():
    text = open(L + f).read()
    tabs[arch] = {m.group(1): int(m.group(3)) for m in re.finditer(
        r'pub const SYS_(\w+): c_long = (__X32_SYSCALL_BIT \+ )?(\d+);', text)}
newer = {'cachestat': 451, 'fchmodat2': 452, 'map_shadow_stack': 453, 'futex_wake': 454,
         'futex_wait': 455, 'futex_requeue': 456, 'statmount': 457, 'listmount': 458,
         'lsm_get_self_attr': 459, 'lsm_set_self_attr': 460, 'lsm_list_modules': 461,
         'mseal': 462, 'setxattrat': 463, 'getxattrat': 464, 'listxattrat': 465,
         'removexattrat': 466, 'open_tree_attr': 467, 'file_getattr': 468,
         'file_setattr': 469}
for arch in tabs:
    for name, n in newer.items():
        if name == 'map_shadow_stack' and arch not in ('x86_64', 'x32'):
            continue
        tabs[arch].setdefault(name, n)
time64 = {'clock_gettime64': 403, 'clock_settime64': 404, 'clock_adjtime64': 405,
          'clock_getres_time64': 406, 'clock_nanosleep_time64': 407, 'timer_gettime64': 408,
          'timer_settime64': 409, 'timerfd_gettime64': 410, 'timerfd_settime64': 411,
          'utimensat_time64': 412, 'pselect6_time64': 413, 'ppoll_time64': 414,
          'io_pgetevents_time64': 416, 'recvmmsg_time64': 417, 'mq_timedsend_time64': 418,
          'mq_timedreceive_time64': 419, 'semtimedop_time64': 420,
          'rt_sigtimedwait_time64': 421, 'futex_time64': 422,
          'sched_rr_get_interval_time64': 423}
for arch in ('i386', 'arm'):
    for name, n in time64.items():
        tabs[arch].setdefault(name, n)
io_pgetevents = {'x86_64': 333, 'x32': 333, 'i386': 385, 'aarch64': 292, 'arm': 399}
for arch, n in io_pgetevents.items():
    tabs[arch].setdefault('io_pgetevents', n)
tabs['arm'].setdefault('sync_file_range2', 341)
tabs['x86_64'].setdefault('uretprobe', 335)
arm_private = {'breakpoint': 1, 'cacheflush': 2, 'usr26': 3, 'usr32': 4, 'set_tls': 5,
               'get_tls': 6}
NONE = 0xffff
rows = []
for name in sorted(set().union(*tabs.values()) | set(arm_private)):
    vals = []
    for arch in order:
        v = tabs[arch].get(name)
        if arch == 'arm' and name in arm_private:
            v = 0xf000 + arm_private[name]
        vals.append(NONE if v is None else v)
    assert all(v <= 0xffff for v in vals), (name, vals)
    rows.append((name, vals))
names = " ".join(n for n, _ in rows) + " "
offsets, at = [], 0
for n, _ in rows:
    offsets.append(at)
    at += len(n) + 1
assert at < 0xffff
out = [
    "//! System call numbers per architecture, written by scripts/gen-syscall-table.py from",
    "//! the `libc` crate's tables (`SYS_*` of gnu x86_64, x32, x86, aarch64 and arm) plus what",
    "//! they lack: the unified numbers added later (424 and up are the same on every",
    "//! architecture) and the 32-bit time64 calls. Stored compactly (the binary's size",
    "//! matters): the names, sorted, in one string, each followed by a space, with their",
    "//! offsets; numbers in columns x86_64, x32 (without `__X32_SYSCALL_BIT`), i386,",
    "//! aarch64, arm, [`NONE`] where the architecture lacks the call. ARM's private calls",
    "//! (`__ARM_NR_BASE` 0xf0000 + k) are stored as `ARM_PRIVATE + k`.",
    "",
    "/// No such system call on that architecture.",
    "pub const NONE: u16 = 0xffff;",
    "/// ARM's private calls: `0xf000 + k` here is `0xf0000 + k` for the kernel.",
    "pub const ARM_PRIVATE: u16 = 0xf000;",
    "",
    "/// Every name, sorted, each followed by one space.",
    "pub const NAMES: &str = concat!(",
]
line = ""
for n, _ in rows:
    if len(line) + len(n) + 1 > 80:
        out.append(f'    "{line}",')
        line = ""
    line += n + " "
out.append(f'    "{line}",')
out.append(");")
out.append("")
out.append("/// Where each name starts in [`NAMES`].")
out.append("#[rustfmt::skip]")
out.append(f"pub const OFFSETS: [u16; {len(rows)}] = [")
for i in range(0, len(offsets), 12):
    out.append("    " + ", ".join(str(o) for o in offsets[i:i+12]) + ",")
out.append("];")
out.append("")
out.append("/// The numbers of each name, in the order of [`NAMES`].")
out.append("#[rustfmt::skip]")
out.append(f"pub const NUMBERS: [[u16; 5]; {len(rows)}] = [")
for n, v in rows:
    out.append(f'    [{", ".join(str(x) for x in v)}], // {n}')
out.append("];")
out.append("")
out.append("""/// The `i`th name.
pub fn name(i: usize) -> &'static str {
    let start = usize::from(OFFSETS[i]);
    let rest = &NAMES[start..];
    &rest[..rest.find(' ').unwrap_or(rest.len())]
}

/// Bit `i` set for each name of the space-separated `list`: evaluated at compile time
/// (`const`), so that the list's text stays out of the binary; an unknown name stops
/// the build.
pub const fn name_set(list: &str) -> [u64; SET_WORDS] {
    let list = list.as_bytes();
    let names = NAMES.as_bytes();
    let mut set = [0u64; SET_WORDS];
    let mut start = 0;
    while start < list.len() {
        if list[start] == b' ' {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < list.len() && list[end] != b' ' {
            end += 1;
        }
        let mut i = 0;
        let found = loop {
            if i == OFFSETS.len() {
                panic!("unknown system call in a name set");
            }
            let at = OFFSETS[i] as usize;
            let mut k = 0;
            while start + k < end && names[at + k] == list[start + k] {
                k += 1;
            }
            if start + k == end && names[at + k] == b' ' {
                break i;
            }
            i += 1;
        };
        set[found / 64] |= 1 << (found % 64);
        start = end;
    }
    set
}

/// Words of a [`name_set`].
pub const SET_WORDS: usize = OFFSETS.len().div_ceil(64);

/// The index of `name`, if it is a known system call.
pub fn find(wanted: &str) -> Option<usize> {
    let (mut lo, mut hi) = (0, OFFSETS.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        match name(mid).cmp(wanted) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}""")
open('src/runtime/seccomp/table.rs', 'w').write("\n".join(out) + "\n")
