//! `pealet image pull` and `pealet image prune`: registry pulls with progress, and
//! removal of unused images.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::CliError;
use super::image_cmds::{Args, human_size, open};
use crate::images::extract;
use crate::images::registry::{self, Platform, PullOptions, Registries};

/// Progress lines at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

fn registries(a: &Args) -> Result<Registries, CliError> {
    let mut regs = Registries::default();
    for host in &a.insecure {
        regs.entry(host).insecure = true;
    }
    for spec in &a.ca_files {
        let (host, path) = spec
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--ca-file {spec:?}: expected HOST=FILE")))?;
        regs.entry(host).ca_file = Some(PathBuf::from(path));
    }
    if let Some(path) = &a.auth_file {
        let json = std::fs::read(path)
            .map_err(|e| failed(format!("cannot read {}: {e}", path.display())))?;
        regs.add_docker_auths(&json)
            .map_err(|e| failed(format!("{}: {e}", path.display())))?;
    }
    Ok(regs)
}

pub(super) fn pull(a: &Args) -> Result<(), CliError> {
    let [reference] = a.words.as_slice() else {
        return Err(CliError::Usage("image pull needs exactly one REF".into()));
    };
    let platform = match &a.platform {
        Some(p) => Some(Platform::parse(p).map_err(|e| CliError::Usage(e.to_string()))?),
        None => None,
    };
    let regs = registries(a)?;
    let store = open(a)?;
    let opts = PullOptions {
        platform,
        extract: extract::Options {
            allow_devices: a.allow_devices,
            strip_setuid: a.strip_setuid,
            preserve_owner: true,
        },
        ..PullOptions::default()
    };
    let start = Instant::now();
    let mut last = start;
    let mut progress = |p: registry::Progress| {
        let now = Instant::now();
        if now.duration_since(last) >= PROGRESS_EVERY && p.done < p.total {
            last = now;
            let line = format!(
                "{reference}: {} of {}\n",
                human_size(p.done),
                human_size(p.total)
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    };
    let pulled = registry::pull(&store, &regs, reference, &opts, &mut progress)
        .map_err(|e| failed(format!("cannot pull {reference}: {e}")))?;
    let how = if pulled.shared {
        "pulled by another pull meanwhile".to_string()
    } else {
        format!(
            "{} of {} layers downloaded, {} in {:.1}s",
            pulled.layers_fetched,
            pulled.layers,
            human_size(pulled.bytes_fetched),
            start.elapsed().as_secs_f64()
        )
    };
    println!("pulled {} ({how})", pulled.reference);
    println!("digest: {}", pulled.digest);
    Ok(())
}

pub(super) fn prune(a: &Args) -> Result<(), CliError> {
    if !a.words.is_empty() {
        return Err(CliError::Usage(
            "image prune takes no arguments; use --keep REF".into(),
        ));
    }
    let store = open(a)?;
    let report = registry::prune(&store, &a.keep).map_err(failed)?;
    for r in &report.removed {
        println!("removed {r}");
    }
    println!(
        "{} images removed, {} freed, {} unreferenced files deleted",
        report.removed.len(),
        human_size(report.bytes_freed),
        report.leftovers_removed
    );
    Ok(())
}
