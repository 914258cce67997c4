//! Fetching JSON documents (client JWKS by URL, OIDC discovery, an external IdP's JWKS) with a
//! short cache. Only `https://` URLs are fetched, except plain `http://` on a loopback address
//! (tests and local development). A key id that is not in the cached set triggers one refetch,
//! at most every few seconds, so key rotation is followed without letting callers hammer the
//! remote server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;

/// How long a fetched document is used before it is fetched again.
const TTL: i64 = 300;
/// Least time between two fetches of the same URL.
const MIN_REFETCH: i64 = 5;
/// Largest document accepted.
const MAX_BYTES: usize = 256 * 1024;

/// URL → (fetched at, key set).
type Entries = HashMap<String, (i64, Arc<JwkSet>)>;

/// A cache of JWKS documents by URL.
#[derive(Clone)]
pub struct JwksCache {
    http: reqwest::Client,
    entries: Arc<Mutex<Entries>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwksCache")
    }
}

/// True if `url` may be fetched: https, or http on loopback.
pub fn fetchable(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// Fetches and parses a JSON document.
pub async fn fetch_json(http: &reqwest::Client, url: &str) -> Result<serde_json::Value, String> {
    if !fetchable(url) {
        return Err("only https URLs (or http on loopback) can be fetched".into());
    }
    let resp = http
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|_| "the document could not be fetched".to_owned())?;
    if !resp.status().is_success() {
        return Err(format!(
            "the document answered HTTP {}",
            resp.status().as_u16()
        ));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|_| "the document could not be read".to_owned())?;
    if bytes.len() > MAX_BYTES {
        return Err("the document is too large".into());
    }
    serde_json::from_slice(&bytes).map_err(|_| "the document is not JSON".to_owned())
}

impl JwksCache {
    /// A cache using `http` for fetches.
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            entries: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A cache with a default client (rustls, no redirects, 5 s timeouts).
    pub fn with_default_client() -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|_| "the HTTP client could not be built".to_owned())?;
        Ok(Self::new(http))
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The key set at `url`; refetched when stale, or when `kid` is given and missing (at most
    /// every few seconds).
    pub async fn get(&self, url: &str, kid: Option<&str>, now: i64) -> Result<Arc<JwkSet>, String> {
        let cached = self.entries.lock().ok().and_then(|m| m.get(url).cloned());
        if let Some((at, set)) = &cached {
            let fresh = now - at < TTL;
            let has_kid = kid.is_none_or(|k| set.find(k).is_some());
            if (fresh && has_kid) || now - at < MIN_REFETCH {
                return Ok(set.clone());
            }
        }
        let doc = fetch_json(&self.http, url).await?;
        let set: JwkSet =
            serde_json::from_value(doc).map_err(|_| "the document is not a JWKS".to_owned())?;
        let set = Arc::new(set);
        if let Ok(mut m) = self.entries.lock() {
            m.insert(url.to_owned(), (now, set.clone()));
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(fetchable("https://example.org/jwks"));
        assert!(fetchable("http://127.0.0.1:9000/jwks"));
        assert!(fetchable("http://localhost/jwks"));
        assert!(!fetchable("http://example.org/jwks"));
        assert!(!fetchable("http://127.0.0.1.evil.org/jwks"));
        assert!(!fetchable("file:///etc/passwd"));
    }
}
