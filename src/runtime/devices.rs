//! Which device nodes a container may create and open, as runc decides it: every
//! container may `mknod` any node, but open only the default devices (null, zero, full,
//! random, urandom, tty, ptmx and the pty slaves); privileged containers get every
//! device. The rules become `devices.allow` lines on cgroup v1 and an eBPF program of
//! type `BPF_PROG_TYPE_CGROUP_DEVICE` on cgroup v2 ([`program`]). Pure: loading and
//! attaching are in [`crate::sys::bpf`] and the cgroup managers.

/// A device type a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Char,
    Block,
    /// Both.
    All,
}

/// Access bits, as the kernel numbers them for device programs
/// (`BPF_DEVCG_ACC_MKNOD`, `_READ`, `_WRITE`).
pub const MKNOD: u8 = 1;
pub const READ: u8 = 2;
pub const WRITE: u8 = 4;
pub const RWM: u8 = MKNOD | READ | WRITE;

/// One allow rule; `None` for major or minor is `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

const fn c(major: u32, minor: Option<u32>, access: u8) -> Rule {
    Rule {
        kind: Kind::Char,
        major: Some(major),
        minor,
        access,
    }
}

/// runc's default allow list (libcontainer/specconv AllowedDevices without the tun
/// device, which runc no longer grants by default either).
pub const DEFAULT: &[Rule] = &[
    // mknod of any node: opening it is what the rules below decide.
    Rule {
        kind: Kind::Char,
        major: None,
        minor: None,
        access: MKNOD,
    },
    Rule {
        kind: Kind::Block,
        major: None,
        minor: None,
        access: MKNOD,
    },
    c(1, Some(3), RWM), // null
    c(1, Some(5), RWM), // zero
    c(1, Some(7), RWM), // full
    c(1, Some(8), RWM), // random
    c(1, Some(9), RWM), // urandom
    c(5, Some(0), RWM), // tty
    c(5, Some(2), RWM), // ptmx
    c(136, None, RWM),  // pts/*
];

impl Rule {
    /// The rule as a line of cgroup v1 `devices.allow`: `c 1:3 rwm`, `b *:* m`.
    pub fn v1_line(&self) -> String {
        let kind = match self.kind {
            Kind::Char => 'c',
            Kind::Block => 'b',
            Kind::All => 'a',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        let mut access = String::new();
        for (bit, letter) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
            if self.access & bit != 0 {
                access.push(letter);
            }
        }
        format!("{kind} {}:{} {access}", num(self.major), num(self.minor))
    }

    /// Whether the rule allows `access` to a device (pure; what the program decides).
    pub fn allows(&self, kind: Kind, major: u32, minor: u32, access: u8) -> bool {
        (self.kind == Kind::All || self.kind == kind)
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
            && access & !self.access == 0
    }
}

/// One eBPF instruction (`struct bpf_insn`): opcode, registers, offset, immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The kernel's layout (little-endian hosts: the destination register in the low
    /// nibble of the second byte).
    pub fn to_bytes(self) -> [u8; 8] {
        let off = self.off.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        [
            self.code,
            (self.dst & 0xf) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }
}

// Opcodes used (linux/bpf.h, bpf_common.h).
/// `dst = *(u32 *)(src + off)`
pub const LDX_W: u8 = 0x61;
/// `dst &= imm` (32-bit)
pub const AND32_K: u8 = 0x54;
/// `dst >>= imm` (32-bit)
pub const RSH32_K: u8 = 0x74;
/// `dst = src` (32-bit)
pub const MOV32_X: u8 = 0xbc;
/// `dst = imm` (64-bit)
pub const MOV64_K: u8 = 0xb7;
/// `if dst != imm goto pc + off`
pub const JNE_K: u8 = 0x55;
pub const EXIT: u8 = 0x95;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// `BPF_DEVCG_DEV_BLOCK`, `BPF_DEVCG_DEV_CHAR`: the low 16 bits of `access_type`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// The device program for `rules` (runc's layout): load type, access, major and minor
/// from `struct bpf_cgroup_dev_ctx` into r2-r5, then one block per rule that returns 1
/// (allow) when it matches and jumps to the next block otherwise; 0 (deny) at the end.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for rule in rules {
        // Each test is a jump to the end of this block: collected, then patched.
        let mut block: Vec<Insn> = Vec::new();
        match rule.kind {
            Kind::Char => block.push(insn(JNE_K, 2, 0, 0, DEV_CHAR)),
            Kind::Block => block.push(insn(JNE_K, 2, 0, 0, DEV_BLOCK)),
            Kind::All => {}
        }
        if rule.access & RWM != RWM {
            // r1 = access & allowed; anything asked beyond the allowed bits: no match.
            block.push(insn(MOV32_X, 1, 3, 0, 0));
            block.push(insn(AND32_K, 1, 0, 0, i32::from(rule.access)));
            block.push(Insn {
                code: 0x5d, // JNE_X: if r1 != r3
                dst: 1,
                src: 3,
                off: 0,
                imm: 0,
            });
        }
        if let Some(major) = rule.major {
            block.push(insn(JNE_K, 4, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor {
            block.push(insn(JNE_K, 5, 0, 0, minor as i32));
        }
        block.push(insn(MOV64_K, 0, 0, 0, 1));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K || ins.code == 0x5d {
                ins.off = (len - i - 1) as i16;
            }
        }
        prog.extend(block);
    }
    prog.push(insn(MOV64_K, 0, 0, 0, 0));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

/// Runs a device program as the kernel would (only the opcodes [`program`] emits), for
/// tests: 1 allows, 0 denies. `None` for an opcode it does not know.
pub fn run(prog: &[Insn], kind: Kind, major: u32, minor: u32, access: u8) -> Option<u64> {
    let kind = match kind {
        Kind::Char => DEV_CHAR as u32,
        Kind::Block => DEV_BLOCK as u32,
        Kind::All => return None,
    };
    let ctx = [(u32::from(access) << 16) | kind, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    while let Some(i) = prog.get(pc) {
        let (d, s) = (usize::from(i.dst), usize::from(i.src));
        match i.code {
            LDX_W => r[d] = u64::from(*ctx.get(i.off as usize / 4)?),
            AND32_K => r[d] = u64::from(r[d] as u32 & i.imm as u32),
            RSH32_K => r[d] = u64::from((r[d] as u32) >> i.imm),
            MOV32_X => r[d] = u64::from(r[s] as u32),
            MOV64_K => r[d] = i.imm as i64 as u64,
            JNE_K if r[d] != i.imm as i64 as u64 => pc += i.off as usize,
            0x5d if r[d] != r[s] => pc += i.off as usize,
            JNE_K | 0x5d => {}
            EXIT => return Some(r[0]),
            _ => return None,
        }
        pc += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_lines_are_in_kernel_syntax() {
        let lines: Vec<String> = DEFAULT.iter().map(Rule::v1_line).collect();
        assert_eq!(
            lines,
            [
                "c *:* m",
                "b *:* m",
                "c 1:3 rwm",
                "c 1:5 rwm",
                "c 1:7 rwm",
                "c 1:8 rwm",
                "c 1:9 rwm",
                "c 5:0 rwm",
                "c 5:2 rwm",
                "c 136:* rwm"
            ]
        );
    }

    #[test]
    fn the_program_decides_as_the_rules() {
        let prog = program(DEFAULT);
        // (kind, major, minor, access, allowed)
        let cases = [
            (Kind::Char, 1, 3, READ | WRITE, true),     // /dev/null
            (Kind::Char, 1, 9, READ, true),             // /dev/urandom
            (Kind::Char, 136, 4, READ | WRITE, true),   // /dev/pts/4
            (Kind::Char, 5, 2, READ | WRITE, true),     // ptmx
            (Kind::Block, 7, 0, MKNOD, true),           // mknod of a loop device
            (Kind::Block, 7, 0, READ, false),           // but no open
            (Kind::Block, 179, 0, READ | WRITE, false), // the SD card
            (Kind::Char, 1, 11, WRITE, false),          // /dev/kmsg
            (Kind::Char, 5, 1, WRITE, false),           // /dev/console
            (Kind::Char, 10, 232, READ | WRITE, false), // /dev/kvm
            (Kind::Char, 1, 1, READ, false),            // /dev/mem
            (Kind::Char, 1, 3, READ | MKNOD, true),     // null: rwm
            (Kind::Char, 10, 200, READ | WRITE, false), // tun
        ];
        for (kind, major, minor, access, allowed) in cases {
            let by_rules = DEFAULT.iter().any(|r| r.allows(kind, major, minor, access));
            let by_prog = run(&prog, kind, major, minor, access) == Some(1);
            assert_eq!(by_rules, allowed, "rules {kind:?} {major}:{minor} {access}");
            assert_eq!(
                by_prog, allowed,
                "program {kind:?} {major}:{minor} {access}"
            );
        }
    }

    #[test]
    fn instruction_table() {
        let prog = program(&[c(1, Some(3), RWM), DEFAULT[1]]);
        let bytes: Vec<[u8; 8]> = prog.iter().map(|i| i.to_bytes()).collect();
        let want: [[u8; 8]; 18] = [
            [0x61, 0x12, 0, 0, 0, 0, 0, 0],
            [0x54, 0x02, 0, 0, 0xff, 0xff, 0, 0],
            [0x61, 0x13, 0, 0, 0, 0, 0, 0],
            [0x74, 0x03, 0, 0, 16, 0, 0, 0],
            [0x61, 0x14, 4, 0, 0, 0, 0, 0],
            [0x61, 0x15, 8, 0, 0, 0, 0, 0],
            // c 1:3 rwm
            [0x55, 0x02, 4, 0, 2, 0, 0, 0],
            [0x55, 0x04, 3, 0, 1, 0, 0, 0],
            [0x55, 0x05, 2, 0, 3, 0, 0, 0],
            [0xb7, 0x00, 0, 0, 1, 0, 0, 0],
            [0x95, 0, 0, 0, 0, 0, 0, 0],
            // b *:* m
            [0x55, 0x02, 5, 0, 1, 0, 0, 0],
            [0xbc, 0x31, 0, 0, 0, 0, 0, 0],
            [0x54, 0x01, 0, 0, 1, 0, 0, 0],
            [0x5d, 0x31, 2, 0, 0, 0, 0, 0],
            [0xb7, 0x00, 0, 0, 1, 0, 0, 0],
            [0x95, 0, 0, 0, 0, 0, 0, 0],
            [0xb7, 0x00, 0, 0, 0, 0, 0, 0],
        ];
        assert_eq!(&bytes[..18], &want[..]);
        assert_eq!(bytes[18], [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes.len(), 19);
    }
}
