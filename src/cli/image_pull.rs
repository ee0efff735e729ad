//! `pealet image pull` and `pealet image prune`: registry pulls with progress, and
//! removal of unused images.

use std::io::Write;
use std::time::{Duration, Instant};

use super::CliError;
use super::image_cmds::{Args, human_size, open};
use crate::images::extract;
use crate::images::registry::{self, Platform, PullOptions};

/// Progress lines at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

/// Moves this process into the network namespace at `path` (a shim's pull child
/// leaves its pod's namespace for the host's). The process has one thread here.
fn enter_netns(path: &std::path::Path) -> Result<(), CliError> {
    let fd = std::fs::File::open(path)
        .map_err(|e| failed(format!("network namespace {}: {e}", path.display())))?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&fd),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(|e| failed(format!("setns {}: {e}", path.display())))
}

pub(super) fn pull(a: &Args) -> Result<(), CliError> {
    let [reference] = a.words.as_slice() else {
        return Err(CliError::Usage("image pull needs exactly one REF".into()));
    };
    let platform = match &a.platform {
        Some(p) => Some(Platform::parse(p).map_err(|e| CliError::Usage(e.to_string()))?),
        None => None,
    };
    if let Some(path) = &a.netns {
        enter_netns(path)?;
    }
    let regs = a.registry.registries().map_err(failed)?;
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
            if a.progress_lines {
                // The compact form the shim reads (`crate::shim::pulls`), flushed
                // at once since stdout is a pipe there.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "progress {} {}", p.done, p.total);
                let _ = out.flush();
            } else {
                let line = format!(
                    "{reference}: {} of {}\n",
                    human_size(p.done),
                    human_size(p.total)
                );
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
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
