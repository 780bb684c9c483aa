//! Query-string access with Docker's conventions (repeated keys, `1`/`true` booleans).

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn str(&self, key: &str) -> &str {
        self.get(key).unwrap_or("")
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Docker's boolean parameters: absent, empty, `0`, `false`, `no` are false.
    pub fn bool(&self, key: &str) -> bool {
        !matches!(
            self.get(key).map(str::to_ascii_lowercase).as_deref(),
            None | Some("") | Some("0") | Some("false") | Some("no")
        )
    }

    pub fn filters(&self) -> ApiResult<berth_engine::Filters> {
        berth_engine::Filters::parse(self.str("filters")).map_err(ApiError::from)
    }
}
