//! Image configs (the OCI `application/vnd.oci.image.config.v1+json` document, which Docker's
//! config is a superset of). The raw bytes are kept as stored — their digest is the image ID —
//! and only the fields the engine needs are read.

use std::collections::BTreeMap;

use berth_store::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{Error, Result};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The parts of an image config the engine reads.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    pub raw: Value,
    pub created: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub diff_ids: Vec<Digest>,
    pub history: Vec<History>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8], digest: &Digest) -> Result<ImageConfig> {
        let bad = |reason: String| Error::InvalidConfig {
            digest: digest.clone(),
            reason,
        };
        let raw: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if !raw.is_object() {
            return Err(bad("not a JSON object".into()));
        }
        let created = raw
            .get("created")
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
        let rootfs = raw
            .get("rootfs")
            .ok_or_else(|| bad("missing rootfs".into()))?;
        let diff_ids = rootfs
            .get("diff_ids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|d| {
                        d.as_str()
                            .ok_or_else(|| bad("diff_id is not a string".into()))
                            .and_then(|s| Digest::parse(s).map_err(|e| bad(e.to_string())))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default();
        let history = match raw.get("history") {
            Some(h) if !h.is_null() => {
                serde_json::from_value(h.clone()).map_err(|e| bad(format!("history: {e}")))?
            }
            _ => Vec::new(),
        };
        Ok(ImageConfig {
            raw,
            created,
            diff_ids,
            history,
        })
    }

    pub fn str_field(&self, key: &str) -> &str {
        self.raw.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// The container config (`config` in OCI, `Config` in Docker's inspect output).
    pub fn container_config(&self) -> Option<&Value> {
        self.raw.get("config").filter(|v| !v.is_null())
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        self.container_config()
            .and_then(|c| c.get("Labels"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Unix seconds of `created`, 0 when absent (Docker shows such images as created long ago).
    pub fn created_unix(&self) -> i64 {
        self.created.map(|c| c.timestamp()).unwrap_or(0)
    }

    /// RFC 3339 with nanoseconds, as Docker prints `Created`.
    pub fn created_rfc3339(&self) -> String {
        match self.created {
            Some(c) => c
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            None => "0001-01-01T00:00:00Z".to_string(),
        }
    }
}

/// Docker's full container-config shape (every key present, as `docker inspect` prints it),
/// filled from an OCI/Docker config object.
pub fn docker_config_shape(config: Option<&Value>) -> Value {
    let mut out = json!({
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": false,
        "OpenStdin": false,
        "StdinOnce": false,
        "Env": null,
        "Cmd": null,
        "Image": "",
        "Volumes": null,
        "WorkingDir": "",
        "Entrypoint": null,
        "OnBuild": null,
        "Labels": null
    });
    if let (Some(Value::Object(src)), Value::Object(dst)) = (config, &mut out) {
        for (k, v) in src {
            dst.insert(k.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minimal_config() {
        let bytes = br#"{"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05.123Z",
            "config":{"Env":["PATH=/bin"],"Labels":{"a":"b"}},
            "rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]},
            "history":[{"created_by":"x"},{"created_by":"meta","empty_layer":true}]}"#;
        let d = Digest::of(bytes);
        let c = ImageConfig::parse(bytes, &d).unwrap();
        assert_eq!(c.diff_ids.len(), 1);
        assert_eq!(c.history.len(), 2);
        assert!(c.history[1].empty_layer);
        assert_eq!(c.labels()["a"], "b");
        assert_eq!(c.created_rfc3339(), "2024-01-02T03:04:05.123Z");
        let shape = docker_config_shape(c.container_config());
        assert_eq!(shape["Env"][0], "PATH=/bin");
        assert_eq!(shape["Cmd"], Value::Null);
    }

    #[test]
    fn rejects_garbage() {
        let d = Digest::of(b"x");
        assert!(ImageConfig::parse(b"[1]", &d).is_err());
        assert!(ImageConfig::parse(b"{}", &d).is_err());
        let err = ImageConfig::parse(b"{", &d).unwrap_err().to_string();
        assert!(err.contains(d.as_str()), "{err}");
    }
}
