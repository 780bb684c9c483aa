//! Image references as Docker's `distribution/reference` package parses and prints them:
//! `[domain/]path[:tag][@digest]`, normalised to `docker.io/library/…`, printed in "familiar" form
//! (`busybox:latest`, `localhost:5000/app:v1`).

use std::fmt;

pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    InvalidFormat,
    #[error("invalid reference format: repository name must be lowercase")]
    ContainsUppercase,
    #[error("repository name must have at least one component")]
    NameEmpty,
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("invalid tag format")]
    InvalidTag,
    #[error("invalid digest format")]
    InvalidDigest,
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
}

/// A normalised named reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Named {
    /// The full repository name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository name as users write it: `busybox`, `user/app`, `localhost:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// Familiar name plus `:tag` and `@digest` when present.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// Adds the default tag `latest` when the reference has neither tag nor digest
    /// (`reference.TagNameOnly`).
    pub fn with_default_tag(mut self) -> Named {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some("latest".to_string());
        }
        self
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Docker's short image id: the hex after `sha256:`, cut to 12 characters (`stringid.TruncateID`).
pub fn truncate_id(id: &str) -> String {
    let id = match id.find(':') {
        Some(i) => &id[i + 1..],
        None => id,
    };
    id.chars().take(12).collect()
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `path-component := [a-z0-9]+ (separator [a-z0-9]+)*`, `separator := [_.] | __ | -+`.
fn valid_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !is_lower_alnum(b[0] as char) || !is_lower_alnum(b[b.len() - 1] as char) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if is_lower_alnum(c) {
            i += 1;
            continue;
        }
        // A separator run.
        let start = i;
        while i < b.len() && !is_lower_alnum(b[i] as char) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `domain := host [":" port]`, host a dotted name of `[a-zA-Z0-9-]` labels or `[ipv6]`.
fn valid_domain(s: &str) -> bool {
    let valid_port = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let ip = &rest[..end];
        if ip.is_empty()
            || !ip
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return false;
        }
        let after = &rest[end + 1..];
        return after.is_empty() || after.strip_prefix(':').is_some_and(valid_port);
    }
    let host = match s.rsplit_once(':') {
        Some((h, p)) => {
            if !valid_port(p) {
                return false;
            }
            h
        }
        None => s,
    };
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

/// `tag := [\w][\w.-]{0,127}`
fn valid_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `digest := algorithm ":" hex{32,}`
fn valid_digest(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['+', '.', '-', '_']).all(|c| {
        c.chars().next().is_some_and(|f| f.is_ascii_alphabetic())
            && c.chars().all(|x| x.is_ascii_alphanumeric())
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

fn is_hex_identifier(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// Splits `name[:tag][@digest]`.
fn split_tag_digest(s: &str) -> (&str, Option<&str>, Option<&str>) {
    let (name_tag, digest) = match s.find('@') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let last_slash = name_tag.rfind('/');
    match name_tag.rfind(':') {
        Some(c) if last_slash.is_none_or(|sl| c > sl) => {
            (&name_tag[..c], Some(&name_tag[c + 1..]), digest)
        }
        _ => (name_tag, None, digest),
    }
}

/// Parses a reference the way `docker tag`, `docker pull` etc. do (`ParseNormalizedNamed`).
pub fn parse_normalized_named(s: &str) -> Result<Named, ReferenceError> {
    if is_hex_identifier(s) {
        return Err(ReferenceError::HexIdentifier(s.to_string()));
    }
    let (domain, remainder) = split_docker_domain(s);
    let remote_name = match remainder.find(':') {
        Some(i) => &remainder[..i],
        None => remainder.as_str(),
    };
    if remote_name.to_lowercase() != remote_name {
        return Err(ReferenceError::ContainsUppercase);
    }
    if s.is_empty() {
        return Err(ReferenceError::NameEmpty);
    }
    let (path, tag, digest) = split_tag_digest(&remainder);
    if !valid_domain(&domain) {
        return Err(ReferenceError::InvalidFormat);
    }
    if path.is_empty() || !path.split('/').all(valid_path_component) {
        return Err(ReferenceError::InvalidFormat);
    }
    if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    if let Some(t) = tag {
        if !valid_tag(t) {
            return Err(ReferenceError::InvalidFormat);
        }
    }
    if let Some(d) = digest {
        if !valid_digest(d) {
            return Err(ReferenceError::InvalidFormat);
        }
    }
    Ok(Named {
        domain,
        path: path.to_string(),
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.find('/') {
        Some(i) => {
            let first = &name[..i];
            if !first.contains(['.', ':']) && first != "localhost" && first.to_lowercase() == first
            {
                (DEFAULT_DOMAIN.to_string(), name.to_string())
            } else {
                (first.to_string(), name[i + 1..].to_string())
            }
        }
        None => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// Checks that `s` is some reference: a name, or an image id / digest (`ParseAnyReference`).
pub fn parse_any_reference(s: &str) -> Result<(), ReferenceError> {
    if is_hex_identifier(s) {
        return Ok(());
    }
    if let Some(hex) = s.strip_prefix("sha256:") {
        if is_hex_identifier(hex) {
            return Ok(());
        }
    }
    parse_normalized_named(s).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Named {
        parse_normalized_named(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalises_official_and_user_images() {
        let n = parse("busybox");
        assert_eq!(n.name(), "docker.io/library/busybox");
        assert_eq!(n.familiar_name(), "busybox");
        assert_eq!(n.tag, None);
        let n = parse("user/app:v1");
        assert_eq!(n.name(), "docker.io/user/app");
        assert_eq!(n.familiar_name(), "user/app");
        assert_eq!(n.tag.as_deref(), Some("v1"));
        assert_eq!(
            parse("docker.io/library/busybox:1.36").familiar_string(),
            "busybox:1.36"
        );
        assert_eq!(parse("index.docker.io/busybox").familiar_name(), "busybox");
    }

    #[test]
    fn registries_with_ports() {
        let n = parse("localhost:5000/app");
        assert_eq!(
            (n.domain.as_str(), n.path.as_str(), n.tag.as_deref()),
            ("localhost:5000", "app", None)
        );
        let n = parse("localhost:5000/team/app:v2");
        assert_eq!(n.familiar_name(), "localhost:5000/team/app");
        assert_eq!(n.tag.as_deref(), Some("v2"));
        assert_eq!(parse("localhost/app").domain, "localhost");
        assert_eq!(
            parse("registry.example.com/x/y:z").familiar_string(),
            "registry.example.com/x/y:z"
        );
    }

    #[test]
    fn digests() {
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let n = parse(&format!("busybox@{d}"));
        assert_eq!(n.digest.as_deref(), Some(d));
        assert_eq!(n.familiar_string(), format!("busybox@{d}"));
    }

    #[test]
    fn tag_splitting_for_docker_tag() {
        let n = parse("myrepo").with_default_tag();
        assert_eq!(
            (n.familiar_name(), n.tag.as_deref()),
            ("myrepo".to_string(), Some("latest"))
        );
        let n = parse("localhost:5000/myrepo:1.0").with_default_tag();
        assert_eq!(
            (n.familiar_name(), n.tag.as_deref()),
            ("localhost:5000/myrepo".to_string(), Some("1.0"))
        );
    }

    #[test]
    fn invalid_references() {
        assert_eq!(
            parse_normalized_named("Busybox"),
            Err(ReferenceError::ContainsUppercase)
        );
        assert_eq!(
            parse_normalized_named("busybox:"),
            Err(ReferenceError::InvalidFormat)
        );
        assert_eq!(
            parse_normalized_named("bad name"),
            Err(ReferenceError::InvalidFormat)
        );
        assert_eq!(
            parse_normalized_named("a//b"),
            Err(ReferenceError::InvalidFormat)
        );
        assert_eq!(
            parse_normalized_named("-a"),
            Err(ReferenceError::InvalidFormat)
        );
        assert_eq!(
            parse_normalized_named(":tag"),
            Err(ReferenceError::InvalidFormat)
        );
        let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert!(matches!(
            parse_normalized_named(hex),
            Err(ReferenceError::HexIdentifier(_))
        ));
        assert!(parse_any_reference(hex).is_ok());
        assert!(parse_normalized_named("a__b.c-d---e").is_ok());
        assert_eq!(
            parse_normalized_named("a___b"),
            Err(ReferenceError::InvalidFormat)
        );
    }

    #[test]
    fn truncates_ids() {
        assert_eq!(truncate_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(truncate_id("<missing>"), "<missing>");
    }
}
