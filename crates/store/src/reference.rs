//! Docker image references (`busybox`, `foo/bar:1.0`, `127.0.0.1:5000/a/b@sha256:...`), parsed by
//! the grammar of Docker's distribution/reference package and kept in Docker's *familiar* form.
//!
//! ```text
//! reference      := name [ ":" tag ] [ "@" digest ]
//! name           := [domain "/"] path-component ["/" path-component]*
//! domain         := host [":" port]      host := domain-name | "[" ipv6 "]"
//! path-component := [a-z0-9]+ ((\.|_|__|-*) [a-z0-9]+)*
//! tag            := [\w][\w.-]{0,127}
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::is_sha256_hex;
use crate::{Digest, Error, Result};

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_LENGTH_MAX: usize = 255;
const DEFAULT_TAG: &str = "latest";

/// A parsed image reference. `name` is familiar: `busybox`, `foo/bar`, `127.0.0.1:5000/a/b`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parse user input the way `docker pull`/`docker tag` do (ParseNormalizedNamed).
    pub fn parse(s: &str) -> Result<Reference> {
        let fail = |reason: &'static str| Error::InvalidReference {
            input: s.to_string(),
            reason,
        };
        if is_sha256_hex(s) {
            return Err(fail("cannot specify 64-byte hexadecimal strings"));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote_name = remainder.split(':').next().unwrap_or_default();
        if remote_name.to_lowercase() != remote_name {
            return Err(fail("repository name must be lowercase"));
        }
        let full = format!("{domain}/{remainder}");
        let parts = match split_reference(&full) {
            Some(parts) => parts,
            None if split_reference(&full.to_lowercase()).is_some() => {
                return Err(fail("repository name must be lowercase"))
            }
            None => return Err(fail("")),
        };
        if parts.name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(fail("repository name must not be more than 255 characters"));
        }
        let digest = match parts.digest {
            None => None,
            Some(d) => Some(parse_reference_digest(d).map_err(fail)?),
        };
        Ok(Reference {
            name: familiarize(parts.name),
            tag: parts.tag.map(str::to_string),
            digest,
        })
    }

    /// `tag = "latest"` when the reference has neither a tag nor a digest.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The registry host (`docker.io` for names without one).
    pub fn domain(&self) -> &str {
        match self.name.split_once('/') {
            Some((first, _)) if is_domain_like(first) => first,
            _ => DEFAULT_DOMAIN,
        }
    }

    /// The repository path within the domain (`library/busybox` for `busybox`).
    pub fn path(&self) -> String {
        match self.name.split_once('/') {
            Some((first, rest)) if is_domain_like(first) => rest.to_string(),
            Some(_) => self.name.clone(),
            None => format!("{OFFICIAL_REPO_PREFIX}{}", self.name),
        }
    }

    /// The fully qualified name, `docker.io/library/busybox`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.domain(), self.path())
    }

    pub fn is_digest(&self) -> bool {
        self.digest.is_some()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Reference, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A first path component names a registry when it looks like a host (Docker's rule).
fn is_domain_like(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first
}

/// Docker's splitDockerDomain: pick the domain off `name`, defaulting to docker.io and adding
/// `library/` to single-component docker.io names.
fn split_docker_domain(name: &str) -> (&str, String) {
    let (mut domain, remainder) = match name.split_once('/') {
        Some((first, rest)) if is_domain_like(first) => (first, rest),
        _ => (DEFAULT_DOMAIN, name),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN;
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        (domain, format!("{OFFICIAL_REPO_PREFIX}{remainder}"))
    } else {
        (domain, remainder.to_string())
    }
}

/// `docker.io/library/busybox` -> `busybox`, `docker.io/foo/bar` -> `foo/bar`.
fn familiarize(full: &str) -> String {
    match full.strip_prefix("docker.io/") {
        Some(path) => match path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => path.to_string(),
        },
        None => full.to_string(),
    }
}

struct Parts<'a> {
    name: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Match the whole reference grammar; None when `s` is not a reference.
fn split_reference(s: &str) -> Option<Parts<'_>> {
    let (rest, digest) = match s.split_once('@') {
        Some((rest, d)) => (rest, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        if !is_digest_syntax(d) {
            return None;
        }
    }
    // A ':' followed by no '/' can only separate the tag: a port must be followed by a path.
    let (name, tag) = match rest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        if !is_tag(tag) {
            return None;
        }
    }
    if !is_name(name) {
        return None;
    }
    Some(Parts { name, tag, digest })
}

fn is_name(name: &str) -> bool {
    let components: Vec<&str> = name.split('/').collect();
    if components.iter().all(|c| is_path_component(c)) {
        return true;
    }
    components.len() >= 2
        && is_domain(components[0])
        && components[1..].iter().all(|c| is_path_component(c))
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host[:port]` where host is a domain name or a bracketed IPv6 address.
fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(inner) = d.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return false;
        };
        if addr.is_empty() || !addr.bytes().all(|x| x.is_ascii_hexdigit() || x == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("[ok]", Some(port)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (d, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|x| x.is_ascii_digit()) {
            return false;
        }
    }
    host == "[ok]" || host.split('.').all(is_domain_component)
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
}

/// `[\w][\w.-]{0,127}`
fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|x| word(*x) || *x == b'.' || *x == b'-')
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
fn is_digest_syntax(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|x| x.is_ascii_hexdigit())
}

/// The grammar allows any algorithm; the store only knows sha256 (as go-digest validates).
fn parse_reference_digest(d: &str) -> std::result::Result<Digest, &'static str> {
    match d.split_once(':') {
        Some(("sha256", hex)) if hex.len() != 64 => Err("invalid checksum digest length"),
        Some(("sha256", _)) => Digest::parse(d).map_err(|_| "invalid checksum digest format"),
        _ => Err("unsupported digest algorithm"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn reason(s: &str) -> String {
        match Reference::parse(s) {
            Err(e @ Error::InvalidReference { .. }) => e.to_string(),
            other => panic!("{s:?} gave {other:?}"),
        }
    }

    #[test]
    fn familiar_names() {
        for (input, name) in [
            ("busybox", "busybox"),
            ("library/busybox", "busybox"),
            ("docker.io/library/busybox", "busybox"),
            ("index.docker.io/library/busybox", "busybox"),
            ("docker.io/busybox", "busybox"),
            ("docker.io/foo/bar", "foo/bar"),
            ("foo/bar", "foo/bar"),
            ("library/foo/bar", "library/foo/bar"),
            ("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b"),
            ("localhost/x", "localhost/x"),
            ("localhost:5000/x", "localhost:5000/x"),
            ("quay.io/coreos/etcd", "quay.io/coreos/etcd"),
            ("[::1]:5000/img", "[::1]:5000/img"),
        ] {
            assert_eq!(parse(input).name, name, "{input}");
        }
    }

    #[test]
    fn domain_and_path() {
        let r = parse("busybox");
        assert_eq!(
            (r.domain(), r.path().as_str()),
            ("docker.io", "library/busybox")
        );
        assert_eq!(r.full_name(), "docker.io/library/busybox");
        let r = parse("foo/bar:1");
        assert_eq!((r.domain(), r.path().as_str()), ("docker.io", "foo/bar"));
        let r = parse("127.0.0.1:5000/a/b:v1");
        assert_eq!((r.domain(), r.path().as_str()), ("127.0.0.1:5000", "a/b"));
        let r = parse("localhost/x");
        assert_eq!((r.domain(), r.path().as_str()), ("localhost", "x"));
        let r = parse("example.com/x/y/z");
        assert_eq!((r.domain(), r.path().as_str()), ("example.com", "x/y/z"));
    }

    #[test]
    fn tags_and_digests() {
        let r = parse("busybox:1.36");
        assert_eq!(r.tag.as_deref(), Some("1.36"));
        assert!(!r.is_digest());
        assert_eq!(r.to_string(), "busybox:1.36");

        let r = parse(&format!("busybox@sha256:{HEX}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_ref().map(Digest::hex), Some(HEX));
        assert!(r.is_digest());
        assert_eq!(r.to_string(), format!("busybox@sha256:{HEX}"));

        let r = parse(&format!("localhost:5000/a:t@sha256:{HEX}"));
        assert_eq!(r.name, "localhost:5000/a");
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert_eq!(r.to_string(), format!("localhost:5000/a:t@sha256:{HEX}"));

        // A port without a path is a tag: `localhost:5000` is the image `localhost`, tag 5000.
        let r = parse("localhost:5000");
        assert_eq!(
            (r.name.as_str(), r.tag.as_deref()),
            ("localhost", Some("5000"))
        );

        let long_tag = "a".repeat(128);
        assert_eq!(
            parse(&format!("x:{long_tag}")).tag.as_deref(),
            Some(&*long_tag)
        );
        assert_eq!(
            reason(&format!("x:{long_tag}a")),
            "invalid reference format"
        );
        assert_eq!(parse("x:V_1.0-rc").tag.as_deref(), Some("V_1.0-rc"));
    }

    #[test]
    fn default_tag() {
        assert_eq!(
            parse("busybox").with_default_tag().to_string(),
            "busybox:latest"
        );
        assert_eq!(
            parse("busybox:1").with_default_tag().to_string(),
            "busybox:1"
        );
        let by_digest = parse(&format!("busybox@sha256:{HEX}")).with_default_tag();
        assert_eq!(by_digest.tag, None);
    }

    #[test]
    fn path_component_grammar() {
        for ok in [
            "a", "a0", "a.b", "a_b", "a__b", "a-b", "a---b", "a.b-c_d", "0",
        ] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in [
            "", "-a", "a-", ".a", "a.", "a..b", "a___b", "a._b", "A", "a b",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn invalid_formats_use_docker_text() {
        for bad in [
            "",
            ":",
            "a:",
            "a::b",
            "-a",
            "a//b",
            "a/",
            "/a",
            "a:b:c",
            "a@sha256:",
            "a@b",
            "a:tag with space",
            "a:-tag",
            "a b",
        ] {
            assert_eq!(reason(bad), "invalid reference format", "{bad:?}");
        }
    }

    #[test]
    fn uppercase_names_are_rejected_with_reason() {
        for bad in [
            "Busybox",
            "foo/Bar",
            "busyBox:latest",
            "docker.io/library/UP",
        ] {
            assert_eq!(
                reason(bad),
                "invalid reference format: repository name must be lowercase",
                "{bad}"
            );
        }
        // Upper case is fine in a tag and in a domain.
        assert_eq!(parse("busybox:LATEST").tag.as_deref(), Some("LATEST"));
        assert_eq!(parse("Example.COM/foo").name, "Example.COM/foo");
    }

    #[test]
    fn other_reasons() {
        assert_eq!(
            reason(HEX),
            "invalid reference format: cannot specify 64-byte hexadecimal strings"
        );
        let long = format!("{}/{}", "a".repeat(200), "b".repeat(60));
        assert_eq!(
            reason(&long),
            "invalid reference format: repository name must not be more than 255 characters"
        );
        assert_eq!(
            reason(&format!("a@sha512:{HEX}{HEX}")),
            "invalid reference format: unsupported digest algorithm"
        );
        assert_eq!(
            reason(&format!("a@sha256:{}", &HEX[..40])),
            "invalid reference format: invalid checksum digest length"
        );
    }

    #[test]
    fn serde_uses_display_form() {
        let r = parse("foo/bar:1");
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"foo/bar:1\"");
        let back: Reference = serde_json::from_str("\"docker.io/foo/bar:1\"").unwrap();
        assert_eq!(back, r);
    }
}
