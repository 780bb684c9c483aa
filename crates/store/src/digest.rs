//! Content digests. The store only speaks sha256, the algorithm every OCI and Docker image uses;
//! a digest is kept as its canonical string `sha256:<64 lowercase hex>`.

use std::fmt;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

const PREFIX: &str = "sha256:";

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parse `sha256:<64 lowercase hex>`; anything else is `Error::InvalidDigest`.
    pub fn parse(s: &str) -> Result<Digest> {
        match s.strip_prefix(PREFIX) {
            Some(hex) if is_sha256_hex(hex) => Ok(Digest(s.to_string())),
            _ => Err(Error::InvalidDigest(s.to_string())),
        }
    }

    /// Build from a bare 64-char lowercase hex string (as used in file names).
    pub fn from_hex(hex: &str) -> Result<Digest> {
        if is_sha256_hex(hex) {
            Ok(Digest(format!("{PREFIX}{hex}")))
        } else {
            Err(Error::InvalidDigest(hex.to_string()))
        }
    }

    /// The sha256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::new_with_prefix(bytes))
    }

    /// Finalize a running hash.
    pub fn from_sha256(hasher: Sha256) -> Digest {
        Digest(format!("{PREFIX}{}", hex::encode(hasher.finalize())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits without `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }

    /// The first 12 hex digits, as Docker shows IDs.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

/// True for exactly 64 lowercase hex digits.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

/// True for a non-empty string of lowercase hex digits.
pub(crate) fn is_lower_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The digest of empty content (`sha256:e3b0c442...`): a valid digest, needed because records
/// such as `ImageUsage` derive `Default`.
impl Default for Digest {
    fn default() -> Digest {
        Digest::of(b"")
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Digest> {
        Digest::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl ToSql for Digest {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.0.as_bytes())))
    }
}

impl FromSql for Digest {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Digest> {
        let s = value.as_str()?;
        Digest::parse(s).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn of_hashes_with_sha256() {
        let d = Digest::of(b"");
        assert_eq!(d.as_str(), EMPTY);
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.hex(), &EMPTY[7..]);
        assert_eq!(d.short(), "e3b0c44298fc");
    }

    #[test]
    fn from_sha256_matches_of() {
        let mut h = Sha256::new();
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(Digest::from_sha256(h), Digest::of(b"hello world"));
    }

    #[test]
    fn parse_accepts_only_canonical_sha256() {
        assert_eq!(Digest::parse(EMPTY).unwrap().as_str(), EMPTY);
        for bad in [
            "",
            "sha256:",
            &EMPTY[7..],
            &EMPTY[..70],
            &EMPTY.to_uppercase(),
            &EMPTY.replace("sha256", "sha512"),
            &format!("{EMPTY}0"),
            &EMPTY.replace('e', "g"),
        ] {
            match Digest::parse(bad) {
                Err(Error::InvalidDigest(s)) => assert_eq!(s, bad),
                other => panic!("{bad:?} parsed as {other:?}"),
            }
        }
        let msg = Digest::parse("sha256:xyz").unwrap_err().to_string();
        assert!(msg.starts_with("invalid digest format"), "{msg}");
    }

    #[test]
    fn serde_round_trips_as_string() {
        let d = Digest::of(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        let back: Digest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"sha256:nothex\"").is_err());
    }

    #[test]
    fn ordering_follows_the_string() {
        let a = Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
        let b = Digest::parse(&format!("sha256:{}", "f".repeat(64))).unwrap();
        assert!(a < b);
    }
}
