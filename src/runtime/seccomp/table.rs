//! System call numbers per architecture, written by scripts/gen-syscall-table.py from
//! the `libc` crate's tables (`SYS_*` of gnu x86_64, x32, x86, aarch64 and arm) plus what
//! they lack: the unified numbers added later (424 and up are the same on every
//! architecture) and the 32-bit time64 calls. Stored compactly (the binary's size
//! matters): the names, sorted, in one string, each followed by a space, with their
//! offsets; numbers in columns x86_64, x32 (without `__X32_SYSCALL_BIT`), i386,
//! aarch64, arm, [`NONE`] where the architecture lacks the call. ARM's private calls
//! (`__ARM_NR_BASE` 0xf0000 + k) are stored as `ARM_PRIVATE + k`.

/// No such system call on that architecture.
pub const NONE: u16 = 0xffff;
/// ARM's private calls: `0xf000 + k` here is `0xf0000 + k` for the kernel.
pub const ARM_PRIVATE: u16 = 0xf000;

/// Every name, sorted, each followed by one space.
pub const NAMES: &str = concat!(
    "_llseek _newselect _sysctl accept accept4 access acct add_key adjtimex ",
    "afs_syscall alarm arch_prctl arm_fadvise64_64 arm_sync_file_range bdflush bind ",
    "bpf break breakpoint brk cacheflush cachestat capget capset chdir chmod chown ",
    "chown32 chroot clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 ",
    "clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 ",
    "clock_settime clock_settime64 clone clone3 close close_range connect ",
    "copy_file_range creat delete_module dup dup2 dup3 epoll_create epoll_create1 ",
    "epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old ",
    "eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 ",
    "fadvise64_64 fallocate fanotify_init fanotify_mark fchdir fchmod fchmodat ",
    "fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr ",
    "file_getattr file_setattr finit_module flistxattr flock fork fremovexattr ",
    "fsconfig fsetxattr fsmount fsopen fspick fstat fstat64 fstatat64 fstatfs ",
    "fstatfs64 fsync ftime ftruncate ftruncate64 futex futex_requeue futex_time64 ",
    "futex_wait futex_waitv futex_wake futimesat get_mempolicy get_robust_list ",
    "get_thread_area get_tls getcpu getcwd getdents getdents64 getegid getegid32 ",
    "geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername ",
    "getpgid getpgrp getpid getpmsg getppid getpriority getrandom getresgid ",
    "getresgid32 getresuid getresuid32 getrlimit getrusage getsid getsockname ",
    "getsockopt gettid gettimeofday getuid getuid32 getxattr getxattrat gtty idle ",
    "init_module inotify_add_watch inotify_init inotify_init1 inotify_rm_watch ",
    "io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup ",
    "io_submit io_uring_enter io_uring_register io_uring_setup ioctl ioperm iopl ",
    "ioprio_get ioprio_set ipc kcmp kexec_file_load kexec_load keyctl kill ",
    "landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown ",
    "lchown32 lgetxattr link linkat listen listmount listxattr listxattrat ",
    "llistxattr lock lookup_dcookie lremovexattr lseek lsetxattr lsm_get_self_attr ",
    "lsm_list_modules lsm_set_self_attr lstat lstat64 madvise map_shadow_stack mbind ",
    "membarrier memfd_create memfd_secret migrate_pages mincore mkdir mkdirat mknod ",
    "mknodat mlock mlock2 mlockall mmap mmap2 modify_ldt mount mount_setattr ",
    "move_mount move_pages mprotect mpx mq_getsetattr mq_notify mq_open ",
    "mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 ",
    "mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall ",
    "munmap name_to_handle_at nanosleep newfstatat nfsservctl nice oldfstat oldlstat ",
    "oldolduname oldstat olduname open open_by_handle_at open_tree open_tree_attr ",
    "openat openat2 pause pciconfig_iobase pciconfig_read pciconfig_write ",
    "perf_event_open personality pidfd_getfd pidfd_open pidfd_send_signal pipe pipe2 ",
    "pivot_root pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl ",
    "pread64 preadv preadv2 prlimit64 process_madvise process_mrelease ",
    "process_vm_readv process_vm_writev prof profil pselect6 pselect6_time64 ptrace ",
    "putpmsg pwrite64 pwritev pwritev2 quotactl quotactl_fd read readahead readdir ",
    "readlink readlinkat readv reboot recv recvfrom recvmmsg recvmmsg_time64 recvmsg ",
    "remap_file_pages removexattr removexattrat rename renameat renameat2 ",
    "request_key restart_syscall rmdir rseq rt_sigaction rt_sigpending ",
    "rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait ",
    "rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max ",
    "sched_get_priority_min sched_getaffinity sched_getattr sched_getparam ",
    "sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 ",
    "sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield ",
    "seccomp security select semctl semget semop semtimedop semtimedop_time64 send ",
    "sendfile sendfile64 sendmmsg sendmsg sendto set_mempolicy ",
    "set_mempolicy_home_node set_robust_list set_thread_area set_tid_address set_tls ",
    "setdomainname setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups ",
    "setgroups32 sethostname setitimer setns setpgid setpriority setregid setregid32 ",
    "setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit ",
    "setsid setsockopt settimeofday setuid setuid32 setxattr setxattrat sgetmask ",
    "shmat shmctl shmdt shmget shutdown sigaction sigaltstack signal signalfd ",
    "signalfd4 sigpending sigprocmask sigreturn sigsuspend socket socketcall ",
    "socketpair splice ssetmask stat stat64 statfs statfs64 statmount statx stime ",
    "stty swapoff swapon symlink symlinkat sync sync_file_range sync_file_range2 ",
    "syncfs sysfs sysinfo syslog tee tgkill time timer_create timer_delete ",
    "timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 ",
    "timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime ",
    "timerfd_settime64 times tkill truncate truncate64 tuxcall ugetrlimit ulimit ",
    "umask umount umount2 uname unlink unlinkat unshare uretprobe uselib userfaultfd ",
    "usr26 usr32 ustat utime utimensat utimensat_time64 utimes vfork vhangup vm86 ",
    "vm86old vmsplice vserver wait4 waitid waitpid write writev ",
);

/// Where each name starts in [`NAMES`].
#[rustfmt::skip]
pub const OFFSETS: [u16; 480] = [
    0, 8, 19, 27, 34, 42, 49, 54, 62, 71, 83, 89,
    100, 117, 137, 145, 150, 154, 160, 171, 175, 186, 196, 203,
    210, 216, 222, 228, 236, 243, 257, 273, 286, 306, 320, 336,
    352, 375, 389, 405, 411, 418, 424, 436, 444, 460, 466, 480,
    484, 489, 494, 507, 521, 531, 545, 557, 570, 581, 596, 604,
    613, 620, 629, 634, 645, 655, 666, 676, 689, 699, 713, 727,
    734, 741, 750, 760, 767, 776, 785, 791, 799, 809, 819, 832,
    845, 858, 869, 875, 880, 893, 902, 912, 920, 927, 934, 940,
    948, 958, 966, 976, 982, 988, 998, 1010, 1016, 1030, 1043, 1054,
    1066, 1077, 1087, 1101, 1117, 1133, 1141, 1148, 1155, 1164, 1175, 1183,
    1193, 1201, 1211, 1218, 1227, 1237, 1249, 1259, 1271, 1279, 1287, 1294,
    1302, 1310, 1322, 1332, 1342, 1354, 1364, 1376, 1386, 1396, 1403, 1415,
    1426, 1433, 1446, 1453, 1462, 1471, 1482, 1487, 1492, 1504, 1522, 1535,
    1549, 1566, 1576, 1587, 1600, 1614, 1635, 1644, 1654, 1669, 1687, 1702,
    1708, 1715, 1720, 1731, 1742, 1746, 1751, 1767, 1778, 1785, 1790, 1808,
    1832, 1855, 1862, 1871, 1881, 1886, 1893, 1900, 1910, 1920, 1932, 1943,
    1948, 1963, 1976, 1982, 1992, 2010, 2027, 2045, 2051, 2059, 2067, 2084,
    2090, 2101, 2114, 2127, 2141, 2149, 2155, 2163, 2169, 2177, 2183, 2190,
    2199, 2204, 2210, 2221, 2227, 2241, 2252, 2263, 2272, 2276, 2290, 2300,
    2308, 2324, 2347, 2360, 2380, 2390, 2397, 2403, 2410, 2417, 2424, 2431,
    2437, 2445, 2456, 2463, 2481, 2491, 2502, 2513, 2518, 2527, 2536, 2548,
    2556, 2565, 2570, 2588, 2598, 2613, 2620, 2628, 2634, 2651, 2666, 2682,
    2698, 2710, 2722, 2733, 2751, 2756, 2762, 2773, 2784, 2794, 2808, 2813,
    2819, 2832, 2838, 2846, 2853, 2861, 2871, 2887, 2904, 2921, 2939, 2944,
    2951, 2960, 2976, 2983, 2991, 3000, 3008, 3017, 3026, 3038, 3043, 3053,
    3061, 3070, 3081, 3087, 3094, 3099, 3108, 3117, 3133, 3141, 3158, 3170,
    3184, 3191, 3200, 3210, 3222, 3238, 3244, 3249, 3262, 3276, 3291, 3307,
    3320, 3334, 3350, 3373, 3391, 3414, 3437, 3455, 3469, 3484, 3503, 3525,
    3554, 3572, 3586, 3601, 3620, 3632, 3640, 3649, 3656, 3663, 3670, 3676,
    3687, 3705, 3710, 3719, 3730, 3739, 3747, 3754, 3768, 3792, 3808, 3824,
    3840, 3848, 3862, 3871, 3882, 3891, 3902, 3909, 3918, 3928, 3940, 3952,
    3962, 3968, 3976, 3988, 3997, 4008, 4018, 4030, 4040, 4052, 4061, 4072,
    4082, 4089, 4100, 4113, 4120, 4129, 4138, 4149, 4158, 4164, 4171, 4177,
    4184, 4193, 4203, 4215, 4222, 4231, 4241, 4252, 4264, 4274, 4285, 4292,
    4303, 4314, 4321, 4330, 4335, 4342, 4349, 4358, 4368, 4374, 4380, 4385,
    4393, 4400, 4408, 4418, 4423, 4439, 4456, 4463, 4469, 4477, 4484, 4488,
    4495, 4500, 4513, 4526, 4543, 4557, 4573, 4587, 4603, 4618, 4634, 4652,
    4668, 4686, 4692, 4698, 4707, 4718, 4726, 4737, 4744, 4750, 4757, 4765,
    4771, 4778, 4787, 4795, 4805, 4812, 4824, 4830, 4836, 4842, 4848, 4858,
    4875, 4882, 4888, 4896, 4901, 4909, 4918, 4926, 4932, 4939, 4947, 4953,
];

/// The numbers of each name, in the order of [`NAMES`].
#[rustfmt::skip]
pub const NUMBERS: [[u16; 5]; 480] = [
    [65535, 65535, 140, 65535, 140], // _llseek
    [65535, 65535, 142, 65535, 142], // _newselect
    [156, 65535, 149, 65535, 149], // _sysctl
    [43, 43, 65535, 202, 285], // accept
    [288, 288, 364, 242, 366], // accept4
    [21, 21, 33, 65535, 33], // access
    [163, 163, 51, 89, 51], // acct
    [248, 248, 286, 217, 309], // add_key
    [159, 159, 124, 171, 124], // adjtimex
    [183, 183, 137, 65535, 65535], // afs_syscall
    [37, 37, 27, 65535, 65535], // alarm
    [158, 158, 65535, 65535, 65535], // arch_prctl
    [65535, 65535, 65535, 65535, 270], // arm_fadvise64_64
    [65535, 65535, 65535, 65535, 341], // arm_sync_file_range
    [65535, 65535, 134, 65535, 134], // bdflush
    [49, 49, 361, 200, 282], // bind
    [321, 321, 357, 280, 386], // bpf
    [65535, 65535, 17, 65535, 65535], // break
    [65535, 65535, 65535, 65535, 61441], // breakpoint
    [12, 12, 45, 214, 45], // brk
    [65535, 65535, 65535, 65535, 61442], // cacheflush
    [451, 451, 451, 451, 451], // cachestat
    [125, 125, 184, 90, 184], // capget
    [126, 126, 185, 91, 185], // capset
    [80, 80, 12, 49, 12], // chdir
    [90, 90, 15, 65535, 15], // chmod
    [92, 92, 182, 65535, 182], // chown
    [65535, 65535, 212, 65535, 212], // chown32
    [161, 161, 61, 51, 61], // chroot
    [305, 305, 343, 266, 372], // clock_adjtime
    [65535, 65535, 405, 65535, 405], // clock_adjtime64
    [229, 229, 266, 114, 264], // clock_getres
    [65535, 65535, 406, 65535, 406], // clock_getres_time64
    [228, 228, 265, 113, 263], // clock_gettime
    [65535, 65535, 403, 65535, 403], // clock_gettime64
    [230, 230, 267, 115, 265], // clock_nanosleep
    [65535, 65535, 407, 65535, 407], // clock_nanosleep_time64
    [227, 227, 264, 112, 262], // clock_settime
    [65535, 65535, 404, 65535, 404], // clock_settime64
    [56, 56, 120, 220, 120], // clone
    [435, 435, 435, 435, 435], // clone3
    [3, 3, 6, 57, 6], // close
    [436, 436, 436, 436, 436], // close_range
    [42, 42, 362, 203, 283], // connect
    [326, 326, 377, 285, 391], // copy_file_range
    [85, 85, 8, 65535, 8], // creat
    [176, 176, 129, 106, 129], // delete_module
    [32, 32, 41, 23, 41], // dup
    [33, 33, 63, 65535, 63], // dup2
    [292, 292, 330, 24, 358], // dup3
    [213, 213, 254, 65535, 250], // epoll_create
    [291, 291, 329, 20, 357], // epoll_create1
    [233, 233, 255, 21, 251], // epoll_ctl
    [214, 65535, 65535, 65535, 65535], // epoll_ctl_old
    [281, 281, 319, 22, 346], // epoll_pwait
    [441, 441, 441, 441, 441], // epoll_pwait2
    [232, 232, 256, 65535, 252], // epoll_wait
    [215, 65535, 65535, 65535, 65535], // epoll_wait_old
    [284, 284, 323, 65535, 351], // eventfd
    [290, 290, 328, 19, 356], // eventfd2
    [59, 520, 11, 221, 11], // execve
    [322, 545, 358, 281, 387], // execveat
    [60, 60, 1, 93, 1], // exit
    [231, 231, 252, 94, 248], // exit_group
    [269, 269, 307, 48, 334], // faccessat
    [439, 439, 439, 439, 439], // faccessat2
    [221, 221, 250, 223, 65535], // fadvise64
    [65535, 65535, 272, 65535, 65535], // fadvise64_64
    [285, 285, 324, 47, 352], // fallocate
    [300, 300, 338, 262, 367], // fanotify_init
    [301, 301, 339, 263, 368], // fanotify_mark
    [81, 81, 133, 50, 133], // fchdir
    [91, 91, 94, 52, 94], // fchmod
    [268, 268, 306, 53, 333], // fchmodat
    [452, 452, 452, 452, 452], // fchmodat2
    [93, 93, 95, 55, 95], // fchown
    [65535, 65535, 207, 65535, 207], // fchown32
    [260, 260, 298, 54, 325], // fchownat
    [72, 72, 55, 25, 55], // fcntl
    [65535, 65535, 221, 65535, 221], // fcntl64
    [75, 75, 148, 83, 148], // fdatasync
    [193, 193, 231, 10, 231], // fgetxattr
    [468, 468, 468, 468, 468], // file_getattr
    [469, 469, 469, 469, 469], // file_setattr
    [313, 313, 350, 273, 379], // finit_module
    [196, 196, 234, 13, 234], // flistxattr
    [73, 73, 143, 32, 143], // flock
    [57, 57, 2, 65535, 2], // fork
    [199, 199, 237, 16, 237], // fremovexattr
    [431, 431, 431, 431, 431], // fsconfig
    [190, 190, 228, 7, 228], // fsetxattr
    [432, 432, 432, 432, 432], // fsmount
    [430, 430, 430, 430, 430], // fsopen
    [433, 433, 433, 433, 433], // fspick
    [5, 5, 108, 80, 108], // fstat
    [65535, 65535, 197, 65535, 197], // fstat64
    [65535, 65535, 300, 65535, 327], // fstatat64
    [138, 138, 100, 44, 100], // fstatfs
    [65535, 65535, 269, 65535, 267], // fstatfs64
    [74, 74, 118, 82, 118], // fsync
    [65535, 65535, 35, 65535, 65535], // ftime
    [77, 77, 93, 46, 93], // ftruncate
    [65535, 65535, 194, 65535, 194], // ftruncate64
    [202, 202, 240, 98, 240], // futex
    [456, 456, 456, 456, 456], // futex_requeue
    [65535, 65535, 422, 65535, 422], // futex_time64
    [455, 455, 455, 455, 455], // futex_wait
    [449, 449, 449, 449, 449], // futex_waitv
    [454, 454, 454, 454, 454], // futex_wake
    [261, 261, 299, 65535, 326], // futimesat
    [239, 239, 275, 236, 320], // get_mempolicy
    [274, 531, 312, 100, 339], // get_robust_list
    [211, 65535, 244, 65535, 65535], // get_thread_area
    [65535, 65535, 65535, 65535, 61446], // get_tls
    [309, 309, 318, 168, 345], // getcpu
    [79, 79, 183, 17, 183], // getcwd
    [78, 78, 141, 65535, 141], // getdents
    [217, 217, 220, 61, 217], // getdents64
    [108, 108, 50, 177, 50], // getegid
    [65535, 65535, 202, 65535, 202], // getegid32
    [107, 107, 49, 175, 49], // geteuid
    [65535, 65535, 201, 65535, 201], // geteuid32
    [104, 104, 47, 176, 47], // getgid
    [65535, 65535, 200, 65535, 200], // getgid32
    [115, 115, 80, 158, 80], // getgroups
    [65535, 65535, 205, 65535, 205], // getgroups32
    [36, 36, 105, 102, 105], // getitimer
    [52, 52, 368, 205, 287], // getpeername
    [121, 121, 132, 155, 132], // getpgid
    [111, 111, 65, 65535, 65], // getpgrp
    [39, 39, 20, 172, 20], // getpid
    [181, 181, 188, 65535, 65535], // getpmsg
    [110, 110, 64, 173, 64], // getppid
    [140, 140, 96, 141, 96], // getpriority
    [318, 318, 355, 278, 384], // getrandom
    [120, 120, 171, 150, 171], // getresgid
    [65535, 65535, 211, 65535, 211], // getresgid32
    [118, 118, 165, 148, 165], // getresuid
    [65535, 65535, 209, 65535, 209], // getresuid32
    [97, 97, 76, 65535, 65535], // getrlimit
    [98, 98, 77, 165, 77], // getrusage
    [124, 124, 147, 156, 147], // getsid
    [51, 51, 367, 204, 286], // getsockname
    [55, 542, 365, 209, 295], // getsockopt
    [186, 186, 224, 178, 224], // gettid
    [96, 96, 78, 169, 78], // gettimeofday
    [102, 102, 24, 174, 24], // getuid
    [65535, 65535, 199, 65535, 199], // getuid32
    [191, 191, 229, 8, 229], // getxattr
    [464, 464, 464, 464, 464], // getxattrat
    [65535, 65535, 32, 65535, 65535], // gtty
    [65535, 65535, 112, 65535, 65535], // idle
    [175, 175, 128, 105, 128], // init_module
    [254, 254, 292, 27, 317], // inotify_add_watch
    [253, 253, 291, 65535, 316], // inotify_init
    [294, 294, 332, 26, 360], // inotify_init1
    [255, 255, 293, 28, 318], // inotify_rm_watch
    [210, 210, 249, 3, 247], // io_cancel
    [207, 207, 246, 1, 244], // io_destroy
    [208, 208, 247, 4, 245], // io_getevents
    [333, 333, 385, 292, 399], // io_pgetevents
    [65535, 65535, 416, 65535, 416], // io_pgetevents_time64
    [206, 543, 245, 0, 243], // io_setup
    [209, 544, 248, 2, 246], // io_submit
    [426, 426, 426, 426, 426], // io_uring_enter
    [427, 427, 427, 427, 427], // io_uring_register
    [425, 425, 425, 425, 425], // io_uring_setup
    [16, 514, 54, 29, 54], // ioctl
    [173, 173, 101, 65535, 65535], // ioperm
    [172, 172, 110, 65535, 65535], // iopl
    [252, 252, 290, 31, 315], // ioprio_get
    [251, 251, 289, 30, 314], // ioprio_set
    [65535, 65535, 117, 65535, 65535], // ipc
    [312, 312, 349, 272, 378], // kcmp
    [320, 320, 65535, 294, 401], // kexec_file_load
    [246, 528, 283, 104, 347], // kexec_load
    [250, 250, 288, 219, 311], // keyctl
    [62, 62, 37, 129, 37], // kill
    [445, 445, 445, 445, 445], // landlock_add_rule
    [444, 444, 444, 444, 444], // landlock_create_ruleset
    [446, 446, 446, 446, 446], // landlock_restrict_self
    [94, 94, 16, 65535, 16], // lchown
    [65535, 65535, 198, 65535, 198], // lchown32
    [192, 192, 230, 9, 230], // lgetxattr
    [86, 86, 9, 65535, 9], // link
    [265, 265, 303, 37, 330], // linkat
    [50, 50, 363, 201, 284], // listen
    [458, 458, 458, 458, 458], // listmount
    [194, 194, 232, 11, 232], // listxattr
    [465, 465, 465, 465, 465], // listxattrat
    [195, 195, 233, 12, 233], // llistxattr
    [65535, 65535, 53, 65535, 65535], // lock
    [212, 212, 253, 18, 249], // lookup_dcookie
    [198, 198, 236, 15, 236], // lremovexattr
    [8, 8, 19, 62, 19], // lseek
    [189, 189, 227, 6, 227], // lsetxattr
    [459, 459, 459, 459, 459], // lsm_get_self_attr
    [461, 461, 461, 461, 461], // lsm_list_modules
    [460, 460, 460, 460, 460], // lsm_set_self_attr
    [6, 6, 107, 65535, 107], // lstat
    [65535, 65535, 196, 65535, 196], // lstat64
    [28, 28, 219, 233, 220], // madvise
    [453, 453, 65535, 65535, 65535], // map_shadow_stack
    [237, 237, 274, 235, 319], // mbind
    [324, 324, 375, 283, 389], // membarrier
    [319, 319, 356, 279, 385], // memfd_create
    [447, 447, 447, 447, 447], // memfd_secret
    [256, 256, 294, 238, 65535], // migrate_pages
    [27, 27, 218, 232, 219], // mincore
    [83, 83, 39, 65535, 39], // mkdir
    [258, 258, 296, 34, 323], // mkdirat
    [133, 133, 14, 65535, 14], // mknod
    [259, 259, 297, 33, 324], // mknodat
    [149, 149, 150, 228, 150], // mlock
    [325, 325, 376, 284, 390], // mlock2
    [151, 151, 152, 230, 152], // mlockall
    [9, 9, 90, 222, 65535], // mmap
    [65535, 65535, 192, 65535, 192], // mmap2
    [154, 154, 123, 65535, 65535], // modify_ldt
    [165, 165, 21, 40, 21], // mount
    [442, 442, 442, 442, 442], // mount_setattr
    [429, 429, 429, 429, 429], // move_mount
    [279, 533, 317, 239, 344], // move_pages
    [10, 10, 125, 226, 125], // mprotect
    [65535, 65535, 56, 65535, 65535], // mpx
    [245, 245, 282, 185, 279], // mq_getsetattr
    [244, 527, 281, 184, 278], // mq_notify
    [240, 240, 277, 180, 274], // mq_open
    [243, 243, 280, 183, 277], // mq_timedreceive
    [65535, 65535, 419, 65535, 419], // mq_timedreceive_time64
    [242, 242, 279, 182, 276], // mq_timedsend
    [65535, 65535, 418, 65535, 418], // mq_timedsend_time64
    [241, 241, 278, 181, 275], // mq_unlink
    [25, 25, 163, 216, 163], // mremap
    [462, 462, 462, 462, 462], // mseal
    [71, 71, 65535, 187, 304], // msgctl
    [68, 68, 65535, 186, 303], // msgget
    [70, 70, 65535, 188, 302], // msgrcv
    [69, 69, 65535, 189, 301], // msgsnd
    [26, 26, 144, 227, 144], // msync
    [150, 150, 151, 229, 151], // munlock
    [152, 152, 153, 231, 153], // munlockall
    [11, 11, 91, 215, 91], // munmap
    [303, 303, 341, 264, 370], // name_to_handle_at
    [35, 35, 162, 101, 162], // nanosleep
    [262, 262, 65535, 79, 65535], // newfstatat
    [180, 65535, 169, 42, 169], // nfsservctl
    [65535, 65535, 34, 65535, 34], // nice
    [65535, 65535, 28, 65535, 65535], // oldfstat
    [65535, 65535, 84, 65535, 65535], // oldlstat
    [65535, 65535, 59, 65535, 65535], // oldolduname
    [65535, 65535, 18, 65535, 65535], // oldstat
    [65535, 65535, 109, 65535, 65535], // olduname
    [2, 2, 5, 65535, 5], // open
    [304, 304, 342, 265, 371], // open_by_handle_at
    [428, 428, 428, 428, 428], // open_tree
    [467, 467, 467, 467, 467], // open_tree_attr
    [257, 257, 295, 56, 322], // openat
    [437, 437, 437, 437, 437], // openat2
    [34, 34, 29, 65535, 29], // pause
    [65535, 65535, 65535, 65535, 271], // pciconfig_iobase
    [65535, 65535, 65535, 65535, 272], // pciconfig_read
    [65535, 65535, 65535, 65535, 273], // pciconfig_write
    [298, 298, 336, 241, 364], // perf_event_open
    [135, 135, 136, 92, 136], // personality
    [438, 438, 438, 438, 438], // pidfd_getfd
    [434, 434, 434, 434, 434], // pidfd_open
    [424, 424, 424, 424, 424], // pidfd_send_signal
    [22, 22, 42, 65535, 42], // pipe
    [293, 293, 331, 59, 359], // pipe2
    [155, 155, 217, 41, 218], // pivot_root
    [330, 330, 381, 289, 395], // pkey_alloc
    [331, 331, 382, 290, 396], // pkey_free
    [329, 329, 380, 288, 394], // pkey_mprotect
    [7, 7, 168, 65535, 168], // poll
    [271, 271, 309, 73, 336], // ppoll
    [65535, 65535, 414, 65535, 414], // ppoll_time64
    [157, 157, 172, 167, 172], // prctl
    [17, 17, 180, 67, 180], // pread64
    [295, 534, 333, 69, 361], // preadv
    [327, 546, 378, 286, 392], // preadv2
    [302, 302, 340, 261, 369], // prlimit64
    [440, 440, 440, 440, 440], // process_madvise
    [448, 448, 448, 448, 448], // process_mrelease
    [310, 539, 347, 270, 376], // process_vm_readv
    [311, 540, 348, 271, 377], // process_vm_writev
    [65535, 65535, 44, 65535, 65535], // prof
    [65535, 65535, 98, 65535, 65535], // profil
    [270, 270, 308, 72, 335], // pselect6
    [65535, 65535, 413, 65535, 413], // pselect6_time64
    [101, 521, 26, 117, 26], // ptrace
    [182, 182, 189, 65535, 65535], // putpmsg
    [18, 18, 181, 68, 181], // pwrite64
    [296, 535, 334, 70, 362], // pwritev
    [328, 547, 379, 287, 393], // pwritev2
    [179, 179, 131, 60, 131], // quotactl
    [443, 443, 443, 443, 443], // quotactl_fd
    [0, 0, 3, 63, 3], // read
    [187, 187, 225, 213, 225], // readahead
    [65535, 65535, 89, 65535, 65535], // readdir
    [89, 89, 85, 65535, 85], // readlink
    [267, 267, 305, 78, 332], // readlinkat
    [19, 515, 145, 65, 145], // readv
    [169, 169, 88, 142, 88], // reboot
    [65535, 65535, 65535, 65535, 291], // recv
    [45, 517, 371, 207, 292], // recvfrom
    [299, 537, 337, 243, 365], // recvmmsg
    [65535, 65535, 417, 65535, 417], // recvmmsg_time64
    [47, 519, 372, 212, 297], // recvmsg
    [216, 216, 257, 234, 253], // remap_file_pages
    [197, 197, 235, 14, 235], // removexattr
    [466, 466, 466, 466, 466], // removexattrat
    [82, 82, 38, 65535, 38], // rename
    [264, 264, 302, 65535, 329], // renameat
    [316, 316, 353, 276, 382], // renameat2
    [249, 249, 287, 218, 310], // request_key
    [219, 219, 0, 128, 0], // restart_syscall
    [84, 84, 40, 65535, 40], // rmdir
    [334, 334, 386, 293, 398], // rseq
    [13, 512, 174, 134, 174], // rt_sigaction
    [127, 522, 176, 136, 176], // rt_sigpending
    [14, 14, 175, 135, 175], // rt_sigprocmask
    [129, 524, 178, 138, 178], // rt_sigqueueinfo
    [15, 513, 173, 139, 173], // rt_sigreturn
    [130, 130, 179, 133, 179], // rt_sigsuspend
    [128, 523, 177, 137, 177], // rt_sigtimedwait
    [65535, 65535, 421, 65535, 421], // rt_sigtimedwait_time64
    [297, 536, 335, 240, 363], // rt_tgsigqueueinfo
    [146, 146, 159, 125, 159], // sched_get_priority_max
    [147, 147, 160, 126, 160], // sched_get_priority_min
    [204, 204, 242, 123, 242], // sched_getaffinity
    [315, 315, 352, 275, 381], // sched_getattr
    [143, 143, 155, 121, 155], // sched_getparam
    [145, 145, 157, 120, 157], // sched_getscheduler
    [148, 148, 161, 127, 161], // sched_rr_get_interval
    [65535, 65535, 423, 65535, 423], // sched_rr_get_interval_time64
    [203, 203, 241, 122, 241], // sched_setaffinity
    [314, 314, 351, 274, 380], // sched_setattr
    [142, 142, 154, 118, 154], // sched_setparam
    [144, 144, 156, 119, 156], // sched_setscheduler
    [24, 24, 158, 124, 158], // sched_yield
    [317, 317, 354, 277, 383], // seccomp
    [185, 185, 65535, 65535, 65535], // security
    [23, 23, 82, 65535, 65535], // select
    [66, 66, 65535, 191, 300], // semctl
    [64, 64, 65535, 190, 299], // semget
    [65, 65, 65535, 193, 298], // semop
    [220, 220, 65535, 192, 312], // semtimedop
    [65535, 65535, 420, 65535, 420], // semtimedop_time64
    [65535, 65535, 65535, 65535, 289], // send
    [40, 40, 187, 71, 187], // sendfile
    [65535, 65535, 239, 65535, 239], // sendfile64
    [307, 538, 345, 269, 374], // sendmmsg
    [46, 518, 370, 211, 296], // sendmsg
    [44, 44, 369, 206, 290], // sendto
    [238, 238, 276, 237, 321], // set_mempolicy
    [450, 450, 450, 450, 450], // set_mempolicy_home_node
    [273, 530, 311, 99, 338], // set_robust_list
    [205, 65535, 243, 65535, 65535], // set_thread_area
    [218, 218, 258, 96, 256], // set_tid_address
    [65535, 65535, 65535, 65535, 61445], // set_tls
    [171, 171, 121, 162, 121], // setdomainname
    [123, 123, 139, 152, 139], // setfsgid
    [65535, 65535, 216, 65535, 216], // setfsgid32
    [122, 122, 138, 151, 138], // setfsuid
    [65535, 65535, 215, 65535, 215], // setfsuid32
    [106, 106, 46, 144, 46], // setgid
    [65535, 65535, 214, 65535, 214], // setgid32
    [116, 116, 81, 159, 81], // setgroups
    [65535, 65535, 206, 65535, 206], // setgroups32
    [170, 170, 74, 161, 74], // sethostname
    [38, 38, 104, 103, 104], // setitimer
    [308, 308, 346, 268, 375], // setns
    [109, 109, 57, 154, 57], // setpgid
    [141, 141, 97, 140, 97], // setpriority
    [114, 114, 71, 143, 71], // setregid
    [65535, 65535, 204, 65535, 204], // setregid32
    [119, 119, 170, 149, 170], // setresgid
    [65535, 65535, 210, 65535, 210], // setresgid32
    [117, 117, 164, 147, 164], // setresuid
    [65535, 65535, 208, 65535, 208], // setresuid32
    [113, 113, 70, 145, 70], // setreuid
    [65535, 65535, 203, 65535, 203], // setreuid32
    [160, 160, 75, 65535, 75], // setrlimit
    [112, 112, 66, 157, 66], // setsid
    [54, 541, 366, 208, 294], // setsockopt
    [164, 164, 79, 170, 79], // settimeofday
    [105, 105, 23, 146, 23], // setuid
    [65535, 65535, 213, 65535, 213], // setuid32
    [188, 188, 226, 5, 226], // setxattr
    [463, 463, 463, 463, 463], // setxattrat
    [65535, 65535, 68, 65535, 65535], // sgetmask
    [30, 30, 65535, 196, 305], // shmat
    [31, 31, 65535, 195, 308], // shmctl
    [67, 67, 65535, 197, 306], // shmdt
    [29, 29, 65535, 194, 307], // shmget
    [48, 48, 373, 210, 293], // shutdown
    [65535, 65535, 67, 65535, 67], // sigaction
    [131, 525, 186, 132, 186], // sigaltstack
    [65535, 65535, 48, 65535, 65535], // signal
    [282, 282, 321, 65535, 349], // signalfd
    [289, 289, 327, 74, 355], // signalfd4
    [65535, 65535, 73, 65535, 73], // sigpending
    [65535, 65535, 126, 65535, 126], // sigprocmask
    [65535, 65535, 119, 65535, 119], // sigreturn
    [65535, 65535, 72, 65535, 72], // sigsuspend
    [41, 41, 359, 198, 281], // socket
    [65535, 65535, 102, 65535, 65535], // socketcall
    [53, 53, 360, 199, 288], // socketpair
    [275, 275, 313, 76, 340], // splice
    [65535, 65535, 69, 65535, 65535], // ssetmask
    [4, 4, 106, 65535, 106], // stat
    [65535, 65535, 195, 65535, 195], // stat64
    [137, 137, 99, 43, 99], // statfs
    [65535, 65535, 268, 65535, 266], // statfs64
    [457, 457, 457, 457, 457], // statmount
    [332, 332, 383, 291, 397], // statx
    [65535, 65535, 25, 65535, 65535], // stime
    [65535, 65535, 31, 65535, 65535], // stty
    [168, 168, 115, 225, 115], // swapoff
    [167, 167, 87, 224, 87], // swapon
    [88, 88, 83, 65535, 83], // symlink
    [266, 266, 304, 36, 331], // symlinkat
    [162, 162, 36, 81, 36], // sync
    [277, 277, 314, 65535, 65535], // sync_file_range
    [65535, 65535, 65535, 65535, 341], // sync_file_range2
    [306, 306, 344, 267, 373], // syncfs
    [139, 139, 135, 65535, 135], // sysfs
    [99, 99, 116, 179, 116], // sysinfo
    [103, 103, 103, 116, 103], // syslog
    [276, 276, 315, 77, 342], // tee
    [234, 234, 270, 131, 268], // tgkill
    [201, 201, 13, 65535, 65535], // time
    [222, 526, 259, 107, 257], // timer_create
    [226, 226, 263, 111, 261], // timer_delete
    [225, 225, 262, 109, 260], // timer_getoverrun
    [224, 224, 261, 108, 259], // timer_gettime
    [65535, 65535, 408, 65535, 408], // timer_gettime64
    [223, 223, 260, 110, 258], // timer_settime
    [65535, 65535, 409, 65535, 409], // timer_settime64
    [283, 283, 322, 85, 350], // timerfd_create
    [287, 287, 326, 87, 354], // timerfd_gettime
    [65535, 65535, 410, 65535, 410], // timerfd_gettime64
    [286, 286, 325, 86, 353], // timerfd_settime
    [65535, 65535, 411, 65535, 411], // timerfd_settime64
    [100, 100, 43, 153, 43], // times
    [200, 200, 238, 130, 238], // tkill
    [76, 76, 92, 45, 92], // truncate
    [65535, 65535, 193, 65535, 193], // truncate64
    [184, 184, 65535, 65535, 65535], // tuxcall
    [65535, 65535, 191, 65535, 191], // ugetrlimit
    [65535, 65535, 58, 65535, 65535], // ulimit
    [95, 95, 60, 166, 60], // umask
    [65535, 65535, 22, 65535, 65535], // umount
    [166, 166, 52, 39, 52], // umount2
    [63, 63, 122, 160, 122], // uname
    [87, 87, 10, 65535, 10], // unlink
    [263, 263, 301, 35, 328], // unlinkat
    [272, 272, 310, 97, 337], // unshare
    [335, 65535, 65535, 65535, 65535], // uretprobe
    [134, 65535, 86, 65535, 86], // uselib
    [323, 323, 374, 282, 388], // userfaultfd
    [65535, 65535, 65535, 65535, 61443], // usr26
    [65535, 65535, 65535, 65535, 61444], // usr32
    [136, 136, 62, 65535, 62], // ustat
    [132, 132, 30, 65535, 65535], // utime
    [280, 280, 320, 88, 348], // utimensat
    [65535, 65535, 412, 65535, 412], // utimensat_time64
    [235, 235, 271, 65535, 269], // utimes
    [58, 58, 190, 65535, 190], // vfork
    [153, 153, 111, 58, 111], // vhangup
    [65535, 65535, 166, 65535, 65535], // vm86
    [65535, 65535, 113, 65535, 65535], // vm86old
    [278, 532, 316, 75, 343], // vmsplice
    [236, 65535, 273, 65535, 313], // vserver
    [61, 61, 114, 260, 114], // wait4
    [247, 529, 284, 95, 280], // waitid
    [65535, 65535, 7, 65535, 65535], // waitpid
    [1, 1, 4, 64, 4], // write
    [20, 516, 146, 66, 146], // writev
];

/// The `i`th name.
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
}
