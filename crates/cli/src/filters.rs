//! `--filter key=value` flags, sent to the API as its JSON `filters` parameter
//! (`{"key":["value",…]}`, the `map[string][]string` form the v1.41 spec documents).

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad format of filter (expected name=value)")]
pub struct FilterFormatError;

/// Filters collected from repeated `--filter` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses `k=v` flags (Docker lower-cases the key and trims spaces around it).
    pub fn parse<S: AsRef<str>>(flags: &[S]) -> Result<Filters, FilterFormatError> {
        let mut f = Filters::default();
        for flag in flags {
            let (k, v) = flag.as_ref().split_once('=').ok_or(FilterFormatError)?;
            f.add(&k.trim().to_lowercase(), v.trim());
        }
        Ok(f)
    }

    pub fn add(&mut self, key: &str, value: &str) {
        let values = self.0.entry(key.to_string()).or_default();
        if !values.iter().any(|v| v == value) {
            values.push(value.to_string());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The JSON for the `filters` query parameter.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_string())
    }

    /// Adds `filters=…` to a request when there are any.
    pub fn apply(&self, req: crate::client::Request) -> crate::client::Request {
        if self.is_empty() {
            req
        } else {
            req.query("filters", self.to_json())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_encodes() {
        let f = Filters::parse(&["dangling=true", "label=a=b", "Label=c", "label=a=b"])
            .unwrap_or_default();
        assert_eq!(f.to_json(), r#"{"dangling":["true"],"label":["a=b","c"]}"#);
        assert_eq!(Filters::parse(&["nope"]), Err(FilterFormatError));
    }
}
