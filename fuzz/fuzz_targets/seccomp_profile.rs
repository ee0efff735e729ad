//! Fuzzes the reader of Localhost seccomp profiles (OCI/Docker JSON from the root's
//! seccomp directory): any text gives a profile or a typed error, never a panic; every
//! profile it accepts compiles for each host architecture into a filter that the
//! interpreter runs to a verdict for every system call number it names.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pealet::runtime::seccomp::{self, Arch};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(profile) = seccomp::localhost(text) else {
        return;
    };
    for host in [Arch::X86_64, Arch::Aarch64, Arch::Arm] {
        let prog = seccomp::compile(&profile, host).expect("an accepted profile compiles");
        for &arch in host.family() {
            for rule in &profile.rules {
                for name in &rule.names {
                    if let Some(nr) = seccomp::number(arch, name) {
                        let verdict = seccomp::evaluate(&prog, arch.audit(), nr, [0; 6]);
                        assert!(verdict.is_some(), "{name} on {arch:?}");
                    }
                }
            }
        }
    }
});
