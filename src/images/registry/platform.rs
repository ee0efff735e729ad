//! The platform to pull: `os/architecture[/variant]` in OCI terms, detected from the
//! running system, and the choice of one manifest from an index.
//!
//! Detection is a pure function of the Rust architecture and `/proc/cpuinfo`'s text, so
//! every board is a table row in the tests. Matching follows containerd: an arm device
//! also runs older arm variants (v8 > v7 > v6 > v5), best first.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {0:?}: expected os/architecture[/variant], e.g. linux/arm64")]
pub struct PlatformError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/arm64`, `linux/arm/v7`; architecture aliases (aarch64, x86_64) normalised.
    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| ok(p)) {
            return Err(PlatformError(s.to_string()));
        }
        Ok(Platform::new(parts[0], parts[1], parts.get(2).copied()))
    }

    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let architecture = match architecture {
            "aarch64" => "arm64",
            "x86_64" | "x86-64" => "amd64",
            "armhf" | "armel" => "arm",
            other => other,
        };
        let variant = match (architecture, variant) {
            ("arm64", None) => Some("v8"),
            (_, v) => v,
        };
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// This machine's platform.
    pub fn detect() -> Platform {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Platform::from_system(std::env::consts::ARCH, &cpuinfo)
    }

    /// The platform of a Rust `arch` (`std::env::consts::ARCH`) with this cpuinfo.
    pub fn from_system(arch: &str, cpuinfo: &str) -> Platform {
        if arch != "arm" {
            let oci = match arch {
                "x86" => "386",
                "powerpc64" => "ppc64le",
                other => other,
            };
            return Platform::new("linux", oci, None);
        }
        let field = |name: &str| {
            cpuinfo.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let model = field("model name").unwrap_or_default();
        let variant = match field("CPU architecture").as_deref() {
            // ARM1176 (Pi 1, Zero) reports 7 but is an ARMv6.
            Some("7") if model.contains("ARMv6") => "v6",
            Some("7") => "v7",
            Some("8") | Some("AArch64") => "v8",
            Some("6") | Some("5TEJ") => "v6",
            Some("5") | Some("5T") | Some("5TE") => "v5",
            _ => "v7",
        };
        Platform::new("linux", "arm", Some(variant))
    }

    /// How well a manifest for `candidate` runs here: `None` when it does not, 0 best.
    pub fn rank(&self, candidate: &Platform) -> Option<u8> {
        if candidate.os != self.os || candidate.architecture != self.architecture {
            return None;
        }
        let theirs = candidate.variant.as_deref();
        match self.architecture.as_str() {
            "arm" => {
                let level = |v: Option<&str>| match v {
                    Some("v5") => Some(5u8),
                    Some("v6") => Some(6),
                    Some("v7") | None => Some(7),
                    Some("v8") => Some(8),
                    _ => None,
                };
                let (mine, theirs) = (level(self.variant.as_deref())?, level(theirs)?);
                (theirs <= mine).then(|| mine - theirs)
            }
            "arm64" => matches!(theirs, None | Some("v8")).then_some(0),
            _ if theirs == self.variant.as_deref() => Some(0),
            "amd64" => matches!(theirs, None | Some("v1")).then_some(1),
            _ => None,
        }
    }

    /// The index of the best candidate, if any runs here.
    pub fn choose(&self, candidates: &[Option<Platform>]) -> Option<usize> {
        candidates
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((self.rank(c.as_ref()?)?, i)))
            .min()
            .map(|(_, i)| i)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PI1: &str = "processor\t: 0\nmodel name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU architecture: 7\n";
    const PI2: &str = "model name\t: ARMv7 Processor rev 5 (v7l)\nCPU architecture: 7\n";
    const PI4_32: &str = "model name\t: ARMv7 Processor rev 3 (v7l)\nCPU architecture: 8\n";

    #[test]
    fn detection_table() {
        let table = [
            ("x86_64", "", "linux/amd64"),
            ("aarch64", "", "linux/arm64/v8"),
            ("arm", PI1, "linux/arm/v6"),
            ("arm", PI2, "linux/arm/v7"),
            ("arm", PI4_32, "linux/arm/v8"),
            ("arm", "", "linux/arm/v7"),
            ("riscv64", "", "linux/riscv64"),
        ];
        for (arch, cpuinfo, want) in table {
            assert_eq!(
                Platform::from_system(arch, cpuinfo).to_string(),
                want,
                "{arch}"
            );
        }
    }

    #[test]
    fn parse_forms() {
        assert_eq!(
            Platform::parse("linux/aarch64").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(
            Platform::parse("linux/arm/v6").unwrap().to_string(),
            "linux/arm/v6"
        );
        for bad in ["linux", "linux/", "linux/arm/v7/x", "linux/a b"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn choice_from_an_index() {
        let p = |s: &str| Some(Platform::parse(s).unwrap());
        let index = [
            p("linux/amd64"),
            p("linux/arm/v6"),
            p("linux/arm/v7"),
            p("linux/arm64/v8"),
            None,
            p("unknown/unknown"),
        ];
        let pick = |me: &str| Platform::parse(me).unwrap().choose(&index);
        assert_eq!(pick("linux/amd64"), Some(0));
        assert_eq!(pick("linux/arm/v6"), Some(1));
        assert_eq!(pick("linux/arm/v7"), Some(2));
        assert_eq!(pick("linux/arm/v8"), Some(2), "a 32-bit v8 runs v7");
        assert_eq!(pick("linux/arm64"), Some(3));
        assert_eq!(pick("linux/riscv64"), None);
        let only_v7 = [p("linux/arm/v7"), p("linux/arm64")];
        assert_eq!(
            Platform::parse("linux/arm/v6").unwrap().choose(&only_v7),
            None
        );
        let plain_arm = [Some(Platform::new("linux", "arm", None))];
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().choose(&plain_arm),
            Some(0)
        );
        let amd = [p("linux/amd64/v3"), p("linux/amd64")];
        assert_eq!(
            Platform::parse("linux/amd64").unwrap().choose(&amd),
            Some(1)
        );
    }
}
