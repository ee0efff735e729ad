//! Who a container runs as: the image's `User` (`name`, `uid`, `uid:gid`, `name:group`)
//! or the securityContext's runAsUser/runAsGroup, names looked up in the image's own
//! /etc/passwd and /etc/group, plus supplementary groups (the user's groups in
//! /etc/group, supplementalGroups, fsGroup). Lookups read the image's layers, top-most
//! first, with every path resolved inside its layer.

use std::path::{Path, PathBuf};

use crate::runtime::resolve::resolve_in_root;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user {name:?} not found in the image's /etc/passwd")]
    NoSuchUser { name: String },
    #[error("group {name:?} not found in the image's /etc/group")]
    NoSuchGroup { name: String },
    #[error("container has runAsNonRoot and would run as root (uid 0)")]
    RunsAsRoot,
}

/// The ids a container's process gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// What decides the ids, collected from the image and both security contexts.
#[derive(Debug, Clone, Default)]
pub struct Wanted<'a> {
    pub image_user: &'a str,
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub run_as_non_root: bool,
    pub supplemental: &'a [u32],
    pub fs_group: Option<u32>,
}

/// The ids, with `layers` the image's layer directories, top-most first.
pub fn resolve(layers: &[PathBuf], want: &Wanted<'_>) -> Result<Ids, UserError> {
    let passwd = read_image_file(layers, "etc/passwd");
    let group = read_image_file(layers, "etc/group");
    ids(&passwd, &group, want)
}

/// The same on file contents (pure).
pub fn ids(passwd: &str, group: &str, want: &Wanted<'_>) -> Result<Ids, UserError> {
    let (user_part, group_part) = match want.image_user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (want.image_user, None),
    };
    let entry = |pred: &dyn Fn(&[&str]) -> bool| {
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 4 && pred(f))
    };
    // The user: runAsUser wins over the image's User.
    let by_uid = |uid: u32| entry(&|f| f[2].parse() == Ok(uid));
    let (uid, user) = match (want.run_as_user, user_part) {
        (Some(uid), _) => (uid, by_uid(uid)),
        (None, "") => (0, by_uid(0)),
        (None, u) => match u.parse::<u32>() {
            Ok(uid) => (uid, by_uid(uid)),
            Err(_) => {
                let f = entry(&|f| f[0] == u).ok_or_else(|| UserError::NoSuchUser {
                    name: u.to_string(),
                })?;
                (f[2].parse().unwrap_or(0), Some(f))
            }
        },
    };
    if want.run_as_non_root && uid == 0 {
        return Err(UserError::RunsAsRoot);
    }
    let primary = user.as_ref().and_then(|f| f[3].parse().ok()).unwrap_or(0);
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    let gid = match (want.run_as_group, group_part) {
        (Some(gid), _) => gid,
        (None, None | Some("")) => primary,
        (None, Some(g)) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| UserError::NoSuchGroup {
                    name: g.to_string(),
                })?,
        },
    };
    let mut supplementary: Vec<u32> = Vec::new();
    if let Some(name) = user.as_ref().map(|f| f[0]) {
        let member = groups.iter().filter(|f| f[3].split(',').any(|m| m == name));
        supplementary.extend(member.filter_map(|f| f[2].parse::<u32>().ok()));
    }
    supplementary.extend(want.supplemental.iter().copied());
    supplementary.extend(want.fs_group);
    // As containerd: the primary group is among the supplementary ones.
    supplementary.push(gid);
    supplementary.sort_unstable();
    supplementary.dedup();
    Ok(Ids {
        uid,
        gid,
        groups: supplementary,
    })
}

/// A small text file of the image (empty when no layer has it).
fn read_image_file(layers: &[PathBuf], path: &str) -> String {
    for layer in layers {
        let Ok(resolved) = resolve_in_root(layer, Path::new(path)) else {
            continue;
        };
        if let Ok(meta) = std::fs::metadata(&resolved) {
            if meta.is_file() && meta.len() <= 1024 * 1024 {
                return std::fs::read_to_string(&resolved).unwrap_or_default();
            }
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\napp:x:1000:\nvideo:x:44:app,other\nstaff:x:50:\n";

    fn want(user: &str) -> Wanted<'_> {
        Wanted {
            image_user: user,
            ..Wanted::default()
        }
    }

    #[test]
    fn names_and_numbers_as_containerd_resolves_them() {
        let ids = |w: &Wanted<'_>| super::ids(PASSWD, GROUP, w).map(|i| (i.uid, i.gid, i.groups));
        assert_eq!(ids(&want("")).unwrap(), (0, 0, vec![0]));
        assert_eq!(ids(&want("app")).unwrap(), (1000, 1000, vec![44, 1000]));
        assert_eq!(ids(&want("1000")).unwrap(), (1000, 1000, vec![44, 1000]));
        assert_eq!(ids(&want("app:staff")).unwrap(), (1000, 50, vec![44, 50]));
        assert_eq!(ids(&want("4242:7")).unwrap(), (4242, 7, vec![7]));
        assert!(matches!(
            ids(&want("nobody")),
            Err(UserError::NoSuchUser { .. })
        ));
        assert!(matches!(
            ids(&want("app:nogroup")),
            Err(UserError::NoSuchGroup { .. })
        ));
        let w = Wanted {
            run_as_user: Some(1000),
            run_as_group: Some(3000),
            supplemental: &[5, 44],
            fs_group: Some(2000),
            ..want("root")
        };
        assert_eq!(ids(&w).unwrap(), (1000, 3000, vec![5, 44, 2000, 3000]));
        let w = Wanted {
            run_as_non_root: true,
            ..want("")
        };
        assert!(matches!(ids(&w), Err(UserError::RunsAsRoot)));
    }
}
