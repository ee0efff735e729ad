//! Registry settings as they travel between processes: the agent's config and the
//! flags of `pealet run` become the flags of each pod's shim, which hands them to its
//! `pealet image pull` children. Credentials never travel: only the path of a Docker
//! `config.json` does, read by the process that pulls.

use std::path::PathBuf;

use super::config::Registries;

/// Per-registry settings, by registry name (`127.0.0.1:5000`, `docker.io`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryFlags {
    /// Registries spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// (registry, PEM file) trusted besides the system bundle.
    pub ca_files: Vec<(String, PathBuf)>,
    /// (registry, mirror) tried in order before the registry.
    pub mirrors: Vec<(String, String)>,
    /// A Docker `config.json` whose "auths" hold the credentials.
    pub auth_file: Option<PathBuf>,
}

impl RegistryFlags {
    /// Takes `--flag value` when `flag` (without dashes) is a registry flag.
    pub fn set(&mut self, flag: &str, value: String) -> Result<bool, String> {
        let pair = |v: &str, what: &str| -> Result<(String, String), String> {
            match v.split_once('=') {
                Some((h, x)) if !h.is_empty() && !x.is_empty() => Ok((h.into(), x.into())),
                _ => Err(format!("--{flag} {v:?}: expected HOST={what}")),
            }
        };
        match flag {
            "insecure-registry" => self.insecure.push(value),
            "ca-file" => {
                let (h, f) = pair(&value, "FILE")?;
                self.ca_files.push((h, PathBuf::from(f)));
            }
            "mirror" => self.mirrors.push(pair(&value, "MIRROR")?),
            "auth-file" => self.auth_file = Some(PathBuf::from(value)),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Whether `flag` is one of [`RegistryFlags::set`]'s.
    pub fn takes(flag: &str) -> bool {
        matches!(
            flag,
            "insecure-registry" | "ca-file" | "mirror" | "auth-file"
        )
    }

    /// Adds `more` after these settings; its auth file replaces this one.
    pub fn extend(&mut self, more: RegistryFlags) {
        self.insecure.extend(more.insecure);
        self.ca_files.extend(more.ca_files);
        self.mirrors.extend(more.mirrors);
        if more.auth_file.is_some() {
            self.auth_file = more.auth_file;
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == RegistryFlags::default()
    }

    /// The flags that give these settings to another pealet command.
    pub fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        for h in &self.insecure {
            out.extend(["--insecure-registry".to_string(), h.clone()]);
        }
        for (h, f) in &self.ca_files {
            out.extend(["--ca-file".to_string(), format!("{h}={}", f.display())]);
        }
        for (h, m) in &self.mirrors {
            out.extend(["--mirror".to_string(), format!("{h}={m}")]);
        }
        if let Some(f) = &self.auth_file {
            out.extend(["--auth-file".to_string(), f.display().to_string()]);
        }
        out
    }

    /// The settings a pull uses, reading the auth file.
    pub fn registries(&self) -> Result<Registries, String> {
        let mut regs = Registries::default();
        for h in &self.insecure {
            regs.entry(h).insecure = true;
        }
        for (h, f) in &self.ca_files {
            regs.entry(h).ca_file = Some(f.clone());
        }
        for (h, m) in &self.mirrors {
            regs.entry(h).mirrors.push(m.clone());
        }
        if let Some(path) = &self.auth_file {
            let json =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            regs.add_docker_auths(&json)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(regs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_through_args() {
        let mut f = RegistryFlags::default();
        for (flag, v) in [
            ("insecure-registry", "10.0.0.1:5000"),
            ("ca-file", "reg.example=/etc/ca.pem"),
            ("mirror", "docker.io=http://127.0.0.1:5001"),
            ("mirror", "docker.io=mirror.local"),
            ("auth-file", "/etc/pealet/auth.json"),
        ] {
            assert!(f.set(flag, v.to_string()).unwrap(), "{flag}");
        }
        assert!(!f.set("broker", "x".into()).unwrap());
        assert!(f.set("mirror", "nohost".into()).is_err());
        let mut back = RegistryFlags::default();
        for pair in f.args().chunks(2) {
            assert!(back.set(&pair[0][2..], pair[1].clone()).unwrap());
        }
        assert_eq!(back, f);
        let mut merged = RegistryFlags {
            insecure: vec!["a:1".into()],
            auth_file: Some("/config/auth.json".into()),
            ..RegistryFlags::default()
        };
        merged.extend(back);
        assert_eq!(merged.insecure, ["a:1", "10.0.0.1:5000"]);
        assert_eq!(merged.auth_file, f.auth_file);
        let regs = RegistryFlags {
            auth_file: None,
            ..f
        }
        .registries()
        .unwrap();
        assert!(regs.get("10.0.0.1:5000").insecure);
        assert_eq!(regs.get("docker.io").mirrors.len(), 2);
    }
}
