//! What a FHIR request carries into the core, independent of HTTP.

use bytes::Bytes;
use ward_auth::Principal;

use crate::Interaction;

/// `Prefer: return=...` (http.html#ops).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreferReturn {
    Minimal,
    #[default]
    Representation,
    OperationOutcome,
}

/// Conditional and preference headers.
#[derive(Debug, Clone, Default)]
pub struct RequestHeaders {
    /// `If-Match` (an ETag, e.g. `W/"3"`).
    pub if_match: Option<String>,
    /// `If-None-Match`.
    pub if_none_match: Option<String>,
    /// `If-Modified-Since`, seconds since the epoch.
    pub if_modified_since: Option<i64>,
    /// `If-None-Exist` (a query string, without `?`).
    pub if_none_exist: Option<String>,
    /// `Prefer: return=`.
    pub prefer_return: Option<PreferReturn>,
    /// `Prefer: handling=strict`.
    pub handling_strict: bool,
}

/// A FHIR request: the interaction, its parameters, headers and body.
#[derive(Debug, Clone)]
pub struct FhirRequest {
    pub interaction: Interaction,
    /// Decoded query (or form) parameters, in order, repeated names kept.
    pub params: Vec<(String, String)>,
    pub headers: RequestHeaders,
    pub body: Option<Bytes>,
}

impl FhirRequest {
    /// A request with no parameters, headers or body.
    pub fn new(interaction: Interaction) -> Self {
        Self {
            interaction,
            params: Vec::new(),
            headers: RequestHeaders::default(),
            body: None,
        }
    }

    /// The first value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Who is asking, and the id that ties the request to logs and audit records.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub principal: Principal,
    pub request_id: String,
    /// The client's network address, for the audit record.
    pub client_ip: Option<String>,
    /// The client's `User-Agent`, for the audit record.
    pub user_agent: Option<String>,
}

/// Parses a (weak or strong) ETag carrying a version number: `W/"3"` or `"3"`.
pub fn etag_version(tag: &str) -> Option<u64> {
    let t = tag.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags() {
        assert_eq!(etag_version("W/\"3\""), Some(3));
        assert_eq!(etag_version("\"12\""), Some(12));
        assert_eq!(etag_version(" W/\"1\" "), Some(1));
        assert_eq!(etag_version("3"), None);
        assert_eq!(etag_version("W/\"x\""), None);
        assert_eq!(etag_version("*"), None);
    }
}
