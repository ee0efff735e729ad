//! `pealet image import | pull | ls | rm | prune`: the local image store from the
//! command line (pull and prune live in `image_pull`).

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use super::CliError;
use super::image_pull;
use crate::images::registry::RegistryFlags;
use crate::images::{self, ImportOptions, Store, extract};

pub const IMAGE_HELP: &str = "\
Usage: pealet image [--root DIR] <subcommand> [options]

Manages the local image store (DIR/blobs, DIR/layers, DIR/images).

Subcommands:
  import PATH [--name REF] [--allow-devices] [--strip-setuid]
            import an OCI image layout directory, an OCI archive, a 'docker save'
            archive, or a plain root filesystem (directory or tar, gzip allowed)
            as a one-layer image. Archives with several images import them all,
            named by their annotations or RepoTags; --name is only valid with
            one image, and required for a root filesystem.
  pull REF [--insecure-registry HOST]... [--ca-file HOST=PEM]... [--auth-file FILE]
           [--mirror HOST=MIRROR]... [--platform os/arch[/variant]]
            pull an image from its registry (HTTPS; plain HTTP for registries on
            loopback addresses and those given with --insecure-registry), showing
            progress, then print its digest. --auth-file reads credentials from a
            Docker config.json (its auths); --mirror HOST=MIRROR tries MIRROR
            (host[:port] or URL) first for images of HOST. Interrupted downloads
            resume on the next pull.
  ls        list images: reference, manifest digest, size, layers, last used
  rm REF... remove images; layers still used by another image are kept
  prune [--keep REF]...
            remove every image except those given with --keep (this command does
            not know which images pods use), and files no image references

Options:
  --root DIR        the store's root directory (default /var/lib/pealet)
  --allow-devices   create device nodes found in layers (refused by default)
  --strip-setuid    clear setuid and setgid bits of files in layers

References are normalised as Docker does: 'busybox' is
docker.io/library/busybox:latest.
Exit status: 0 on success, 1 when a subcommand fails, 2 on a usage error.
";

/// Options of every image subcommand.
pub(super) struct Args {
    pub root: PathBuf,
    sub: Option<String>,
    pub words: Vec<String>,
    name: Option<String>,
    pub allow_devices: bool,
    pub strip_setuid: bool,
    pub registry: RegistryFlags,
    /// A network namespace to pull from (`pealet shim` is in its pod's).
    pub netns: Option<PathBuf>,
    pub platform: Option<String>,
    pub keep: Vec<String>,
    /// Hidden: progress as `progress DONE TOTAL` lines on stdout, for the shim.
    pub progress_lines: bool,
}

fn parse(mut args: lexopt::Parser) -> Result<Args, CliError> {
    let mut a = Args {
        root: super::globals().root.clone(),
        sub: None,
        words: Vec::new(),
        name: None,
        allow_devices: false,
        strip_setuid: false,
        registry: RegistryFlags::default(),
        netns: None,
        platform: None,
        keep: Vec::new(),
        progress_lines: false,
    };
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => return Err(CliError::Help),
            Long("root") => a.root = PathBuf::from(args.value()?),
            Long("name") => a.name = Some(args.value()?.string()?),
            Long("allow-devices") => a.allow_devices = true,
            Long("strip-setuid") => a.strip_setuid = true,
            Long(flag) if RegistryFlags::takes(flag) => {
                let flag = flag.to_owned();
                let value = args.value()?.string()?;
                a.registry.set(&flag, value).map_err(CliError::Usage)?;
            }
            Long("netns") => a.netns = Some(PathBuf::from(args.value()?)),
            Long("platform") => a.platform = Some(args.value()?.string()?),
            Long("keep") => a.keep.push(args.value()?.string()?),
            Long("progress-lines") => a.progress_lines = true,
            Value(v) if a.sub.is_none() => a.sub = Some(v.string()?),
            Value(v) => a.words.push(string(v)?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(a)
}

fn string(v: OsString) -> Result<String, CliError> {
    v.into_string()
        .map_err(|v| CliError::Usage(format!("argument {v:?} is not UTF-8")))
}

pub fn image(args: lexopt::Parser) -> Result<(), CliError> {
    let a = parse(args)?;
    let sub = a.sub.clone().ok_or_else(|| {
        CliError::Usage("image needs a subcommand: import, pull, ls, rm or prune".into())
    })?;
    let pull_flags =
        !a.registry.is_empty() || a.platform.is_some() || a.netns.is_some() || a.progress_lines;
    if pull_flags && sub != "pull" {
        return Err(CliError::Usage(
            "--insecure-registry, --ca-file, --mirror, --auth-file and --platform are only valid with 'image pull'"
                .into(),
        ));
    }
    if !a.keep.is_empty() && sub != "prune" {
        return Err(CliError::Usage(
            "--keep is only valid with 'image prune'".into(),
        ));
    }
    let only = |flags: &[(&str, bool)]| -> Result<(), CliError> {
        match flags.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(CliError::Usage(format!(
                "{flag} is only valid with 'image import'"
            ))),
            None => Ok(()),
        }
    };
    match sub.as_str() {
        "import" => import(&a),
        "pull" | "prune" => {
            only(&[("--name", a.name.is_some())])?;
            if sub == "pull" {
                image_pull::pull(&a)
            } else {
                image_pull::prune(&a)
            }
        }
        "ls" => {
            only(&[
                ("--name", a.name.is_some()),
                ("--allow-devices", a.allow_devices),
                ("--strip-setuid", a.strip_setuid),
            ])?;
            if !a.words.is_empty() {
                return Err(CliError::Usage("image ls takes no arguments".into()));
            }
            ls(&a)
        }
        "rm" => {
            only(&[
                ("--name", a.name.is_some()),
                ("--allow-devices", a.allow_devices),
                ("--strip-setuid", a.strip_setuid),
            ])?;
            rm(&a)
        }
        other => Err(CliError::Usage(format!(
            "unknown image subcommand {other:?}: use import, pull, ls, rm or prune"
        ))),
    }
}

pub(super) fn open(a: &Args) -> Result<Store, CliError> {
    Store::open(&a.root).map_err(|e| CliError::Failed(e.to_string()))
}

fn import(a: &Args) -> Result<(), CliError> {
    let [path] = a.words.as_slice() else {
        return Err(CliError::Usage(
            "image import needs exactly one PATH".into(),
        ));
    };
    let store = open(a)?;
    let opts = ImportOptions {
        name: a.name.clone(),
        extract: extract::Options {
            allow_devices: a.allow_devices,
            strip_setuid: a.strip_setuid,
            preserve_owner: true,
        },
    };
    let imported = images::import(&store, path.as_ref(), &opts)
        .map_err(|e| CliError::Failed(format!("cannot import {path}: {e}")))?;
    for img in imported {
        let new = img.layers.iter().filter(|(_, new)| *new).count();
        for r in &img.references {
            println!(
                "imported {r} ({}, {} layers, {new} unpacked, {} already stored)",
                img.manifest.short(),
                img.layers.len(),
                img.layers.len() - new
            );
        }
    }
    Ok(())
}

fn ls(a: &Args) -> Result<(), CliError> {
    let store = open(a)?;
    let list = store.list().map_err(|e| CliError::Failed(e.to_string()))?;
    let now = images::store::now();
    let rows: Vec<[String; 5]> = list
        .iter()
        .map(|r| {
            [
                r.reference.clone(),
                r.manifest.short(),
                human_size(r.size()),
                r.layers.len().to_string(),
                ago(now, r.last_used),
            ]
        })
        .collect();
    let header = ["REF", "DIGEST", "SIZE", "LAYERS", "LAST USED"].map(String::from);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(())
}

fn rm(a: &Args) -> Result<(), CliError> {
    if a.words.is_empty() {
        return Err(CliError::Usage("image rm needs at least one REF".into()));
    }
    let store = open(a)?;
    let mut failed = Vec::new();
    for r in &a.words {
        match store.remove(r) {
            Ok(removed) => println!(
                "removed {r} ({} layers deleted, {} still used by other images)",
                removed.layers_removed, removed.layers_kept
            ),
            Err(e) => failed.push(format!("pealet: cannot remove {r}: {e}")),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Invalid(failed))
    }
}

/// Decimal units with one digit after the point, as `docker images` shows them.
pub(super) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes}B");
    }
    let mut scale = 1000u64;
    let mut unit = 0;
    while bytes >= scale * 1000 && unit < UNITS.len() - 1 {
        scale *= 1000;
        unit += 1;
    }
    let tenths = (bytes * 10 + scale / 2) / scale;
    format!("{}.{}{}", tenths / 10, tenths % 10, UNITS[unit])
}

fn ago(now: u64, then: u64) -> String {
    if then == 0 {
        return "never".into();
    }
    let s = now.saturating_sub(then);
    match s {
        0..60 => "just now".into(),
        60..3600 => format!("{} minutes ago", s / 60),
        3600..86400 => format!("{} hours ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_500_000), "1.5MB");
        assert_eq!(human_size(2_049_000), "2.0MB");
        assert_eq!(human_size(999_999), "1000.0kB");
        assert_eq!(ago(100, 0), "never");
        assert_eq!(ago(1000, 990), "just now");
        assert_eq!(ago(10_000, 10_000 - 7200), "2 hours ago");
    }
}
