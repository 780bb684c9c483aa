//! Go's `path/filepath` functions on Unix paths (`Clean`, `Base`, `Dir`, `Split`), so `cp`
//! resolves and names paths exactly as the docker CLI does — including its rules for a
//! trailing `/` or `/.`.

/// `filepath.Clean`: the shortest lexically equivalent path.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// `filepath.Base`: the last element (`"."` for empty, `"/"` for the root).
pub fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_string();
    }
    match trimmed.rfind('/') {
        Some(i) => trimmed[i + 1..].to_string(),
        None => trimmed.to_string(),
    }
}

/// `filepath.Dir`: everything but the last element, cleaned.
pub fn dir(path: &str) -> String {
    let i = path.rfind('/').map_or(0, |i| i + 1);
    clean(&path[..i])
}

/// `filepath.Split`: (directory with its trailing slash, file).
pub fn split(path: &str) -> (String, String) {
    let i = path.rfind('/').map_or(0, |i| i + 1);
    (path[..i].to_string(), path[i..].to_string())
}

/// `filepath.Join` of two elements.
pub fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        return clean(b);
    }
    if b.is_empty() {
        return clean(a);
    }
    clean(&format!("{a}/{b}"))
}

pub fn has_trailing_separator(path: &str) -> bool {
    path.ends_with('/')
}

/// Whether the path names "the current directory" of something (`dir/.`).
pub fn specifies_current_dir(path: &str) -> bool {
    base(path) == "."
}

/// Docker's `PreserveTrailingDotOrSeparator`.
pub fn preserve_trailing_dot_or_separator(cleaned: &str, original: &str) -> String {
    let mut out = cleaned.to_string();
    if !specifies_current_dir(&out) && specifies_current_dir(original) {
        if !has_trailing_separator(&out) {
            out.push('/');
        }
        out.push('.');
    }
    if !has_trailing_separator(&out) && has_trailing_separator(original) {
        out.push('/');
    }
    out
}

/// Docker's `SplitPathDirEntry`: (parent, base), keeping a trailing `/.`.
pub fn split_path_dir_entry(path: &str) -> (String, String) {
    let mut cleaned = clean(path);
    if specifies_current_dir(path) {
        cleaned.push_str("/.");
    }
    (dir(&cleaned), base(&cleaned))
}

/// Docker's `GetRebaseName`.
pub fn get_rebase_name(path: &str, resolved: &str) -> (String, String) {
    let mut resolved = resolved.to_string();
    if specifies_current_dir(path) && !specifies_current_dir(&resolved) {
        resolved.push_str("/.");
    }
    if has_trailing_separator(path) && !has_trailing_separator(&resolved) {
        resolved.push('/');
    }
    let rebase = if base(path) != base(&resolved) {
        base(path)
    } else {
        String::new()
    };
    (resolved, rebase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_go() {
        assert_eq!(clean("/a/./b/../c/"), "/a/c");
        assert_eq!(clean("a/../.."), "..");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("/.."), "/");
        assert_eq!(base("/a/b/"), "b");
        assert_eq!(base("/"), "/");
        assert_eq!(base("/a/."), ".");
        assert_eq!(dir("/a/b"), "/a");
        assert_eq!(dir("b"), ".");
        assert_eq!(dir("/b"), "/");
        assert_eq!(split("/a/b"), ("/a/".to_string(), "b".to_string()));
        assert_eq!(split("/a/b/"), ("/a/b/".to_string(), String::new()));
    }

    #[test]
    fn docker_copy_rules() {
        assert_eq!(
            preserve_trailing_dot_or_separator("/tmp/x", "x/"),
            "/tmp/x/"
        );
        assert_eq!(
            preserve_trailing_dot_or_separator("/tmp/x", "x/."),
            "/tmp/x/."
        );
        assert_eq!(
            split_path_dir_entry("/etc/."),
            ("/etc".to_string(), ".".to_string())
        );
        assert_eq!(
            split_path_dir_entry("/etc/hostname"),
            ("/etc".to_string(), "hostname".to_string())
        );
        assert_eq!(
            get_rebase_name("/a/link/", "/a/target"),
            ("/a/target/".to_string(), "link".to_string())
        );
    }
}
