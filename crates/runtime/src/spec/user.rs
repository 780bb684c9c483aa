//! `User` resolution against the container's own `/etc/passwd` and `/etc/group`, as Docker does it.
//!
//! Accepted forms: `name`, `uid`, `name:group`, `uid:gid`, `name:gid`, `uid:group`. A numeric user or
//! group that has no entry is used as is (uid with gid 0 and home `/`); a name that has no entry is an
//! error. Supplementary groups come from `/etc/group` membership, and only when the group was not
//! given explicitly (an explicit group replaces the whole group set).
//!
//! The files are opened with `openat2(RESOLVE_IN_ROOT)`, so a symlinked `/etc/passwd` in an image
//! can never make berth read a host file.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use super::SpecError;

/// The identity the container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, in `/etc/group` order, without the primary gid.
    pub additional_gids: Vec<u32>,
    /// The home directory from passwd, `/` when the user has no entry.
    pub home: String,
    /// The passwd name when the user matched an entry.
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parses passwd lines (`name:x:uid:gid:gecos:home:shell`); malformed lines are skipped, as libc does.
pub(crate) fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

/// Parses group lines (`name:x:gid:member,member`).
pub(crate) fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Reads `rel` (relative to the container root, e.g. `etc/passwd`) with every path component
/// resolved inside `rootfs`. A missing file is `Ok(None)`.
pub(crate) fn read_in_root(rootfs: &Path, rel: &str) -> Result<Option<String>, SpecError> {
    let io_err = |source: std::io::Error| SpecError::ReadRootfsFile {
        path: rootfs.join(rel),
        source,
    };
    let root = match File::open(rootfs) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
        .mode(Mode::empty())
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = match nix::fcntl::openat2(root.as_raw_fd(), rel, how) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ENOTDIR) => return Ok(None),
        Err(e) => return Err(io_err(e.into())),
    };
    // SAFETY: openat2 returned a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut text = String::new();
    File::from(fd).read_to_string(&mut text).map_err(io_err)?;
    Ok(Some(text))
}

/// Resolves Docker's `User` string (empty = root) against the rootfs's passwd and group files.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ResolvedUser, SpecError> {
    let passwd = read_in_root(rootfs, "etc/passwd")?
        .map(|t| parse_passwd(&t))
        .unwrap_or_default();
    let group = read_in_root(rootfs, "etc/group")?
        .map(|t| parse_group(&t))
        .unwrap_or_default();
    resolve_user_in(&passwd, &group, user)
}

pub(crate) fn resolve_user_in(
    passwd: &[PasswdEntry],
    groups: &[GroupEntry],
    spec: &str,
) -> Result<ResolvedUser, SpecError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };

    // A name, or a number that matches a passwd entry, picks that entry; a number without one
    // stands for itself.
    let numeric = parse_id(user_part);
    let entry = passwd.iter().find(|e| match numeric {
        Some(uid) => e.uid == uid,
        None => e.name == user_part,
    });
    let mut out = match (entry, numeric) {
        (Some(e), _) => ResolvedUser {
            uid: e.uid,
            gid: e.gid,
            additional_gids: Vec::new(),
            home: if e.home.is_empty() {
                "/".into()
            } else {
                e.home.clone()
            },
            name: Some(e.name.clone()),
        },
        (None, Some(uid)) => ResolvedUser {
            uid,
            gid: 0,
            additional_gids: Vec::new(),
            home: "/".into(),
            name: None,
        },
        (None, None) => {
            return Err(SpecError::UserNotFound {
                user: user_part.to_string(),
            })
        }
    };

    match group_part.filter(|g| !g.is_empty()) {
        Some(g) => {
            let gid = parse_id(g);
            let found = groups.iter().find(|e| match gid {
                Some(gid) => e.gid == gid,
                None => e.name == g,
            });
            out.gid = match (found, gid) {
                (Some(e), _) => e.gid,
                (None, Some(gid)) => gid,
                (None, None) => {
                    return Err(SpecError::GroupNotFound {
                        group: g.to_string(),
                    })
                }
            };
        }
        None => {
            if let Some(name) = &out.name {
                for e in groups {
                    if e.members.iter().any(|m| m == name)
                        && e.gid != out.gid
                        && !out.additional_gids.contains(&e.gid)
                    {
                        out.additional_gids.push(e.gid);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        # comment\n\
        www:x:33:33:www:/var/www:/bin/false\n\
        app:x:1000:1000::/home/app:/bin/sh\n\
        broken line\n";
    const GROUP: &str = "root:x:0:\n\
        daemon:x:1:\n\
        www:x:33:\n\
        audio:x:29:app,www\n\
        video:x:44:app\n\
        app:x:1000:\n\
        staff:x:50:\n";

    fn resolve(spec: &str) -> Result<ResolvedUser, SpecError> {
        resolve_user_in(&parse_passwd(PASSWD), &parse_group(GROUP), spec)
    }

    #[test]
    fn empty_user_is_root_with_root_home() {
        let u = resolve("").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
    }

    #[test]
    fn name_resolves_uid_gid_home_and_supplementary_groups() {
        let u = resolve("app").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.home, "/home/app");
        assert_eq!(u.additional_gids, vec![29, 44]);
    }

    #[test]
    fn numeric_uid_with_entry_uses_its_gid_and_groups() {
        let u = resolve("33").unwrap();
        assert_eq!((u.uid, u.gid), (33, 33));
        assert_eq!(u.additional_gids, vec![29]);
        assert_eq!(u.home, "/var/www");
    }

    #[test]
    fn numeric_uid_without_entry_is_used_as_is() {
        let u = resolve("4242").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        assert!(u.additional_gids.is_empty());
    }

    #[test]
    fn uid_gid_pair_needs_no_entries() {
        let u = resolve("4242:4343").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 4343));
    }

    #[test]
    fn name_group_pair_uses_group_and_drops_supplementary_groups() {
        let u = resolve("app:staff").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        assert!(
            u.additional_gids.is_empty(),
            "an explicit group replaces the group set"
        );
        let u = resolve("www:44").unwrap();
        assert_eq!((u.uid, u.gid), (33, 44));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(matches!(
            resolve("nobody-here"),
            Err(SpecError::UserNotFound { .. })
        ));
        assert!(matches!(
            resolve("app:nogroup"),
            Err(SpecError::GroupNotFound { .. })
        ));
    }

    #[test]
    fn reads_files_inside_the_rootfs_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        // An absolute symlink must resolve inside the rootfs, never to the host's /etc/passwd.
        std::fs::write(
            dir.path().join("etc/real-passwd"),
            "zed:x:7:8::/z:/bin/sh\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/real-passwd", dir.path().join("etc/passwd")).unwrap();
        let u = resolve_user(dir.path(), "zed").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (7, 8, "/z"));
        // No passwd at all: numeric users still work, names do not.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(resolve_user(empty.path(), "5").unwrap().uid, 5);
        assert!(resolve_user(empty.path(), "root").is_err());
    }
}
