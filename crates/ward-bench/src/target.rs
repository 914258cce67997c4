//! The server under test: a FHIR base URL split into scheme, authority and path, resolved to
//! socket addresses that must all be loopback addresses.

use std::net::SocketAddr;

use http::Uri;

use crate::error::BenchError;

/// A parsed and resolved FHIR base URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// `https` (true) or `http`.
    pub https: bool,
    /// Host as written (name or IP literal without brackets).
    pub host: String,
    /// `host:port` as written in the URL, for the `Host` header and HTTP/2 `:authority`.
    pub authority: String,
    /// The base path without a trailing slash, e.g. `/fhir` (empty for a root base).
    pub base_path: String,
    /// Resolved addresses (all loopback).
    pub addrs: Vec<SocketAddr>,
}

impl Target {
    /// Parses `base` and resolves its host. Every resolved address must be a loopback address.
    pub async fn resolve(base: &str) -> Result<Self, BenchError> {
        let bad = |m: &str| BenchError::BaseUrl(format!("{base}: {m}"));
        let uri: Uri = base.parse().map_err(|_| bad("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let auth = uri.authority().ok_or_else(|| bad("no host"))?;
        if uri.query().is_some() {
            return Err(bad("a base URL has no query"));
        }
        let host = auth
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = auth.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| bad(&format!("cannot resolve the host: {e}")))?
            .collect();
        if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
            return Err(BenchError::NotLoopback(auth.to_string()));
        }
        Ok(Self {
            https,
            host,
            authority: auth.to_string(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
            addrs,
        })
    }

    /// The absolute URL of `rel` (a path relative to the base, e.g. `Patient/1` or
    /// `Observation?code=x`; empty for the base itself).
    pub fn url(&self, rel: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority, self.path(rel))
    }

    /// The origin-form request target of `rel`, e.g. `/fhir/Patient/1`.
    pub fn path(&self, rel: &str) -> String {
        if rel.is_empty() {
            if self.base_path.is_empty() {
                "/".to_owned()
            } else {
                self.base_path.clone()
            }
        } else {
            format!("{}/{rel}", self.base_path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parses_loopback_bases() {
        let t = Target::resolve("https://127.0.0.1:8443/fhir/")
            .await
            .unwrap();
        assert!(t.https);
        assert_eq!(t.authority, "127.0.0.1:8443");
        assert_eq!(t.path("Patient/1"), "/fhir/Patient/1");
        assert_eq!(t.path(""), "/fhir");
        assert_eq!(t.url("metadata"), "https://127.0.0.1:8443/fhir/metadata");
        let t = Target::resolve("http://[::1]:8080").await.unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.path(""), "/");
        assert!(Target::resolve("http://localhost:1/fhir").await.is_ok());
    }

    #[tokio::test]
    async fn refuses_other_targets() {
        for base in [
            "http://10.0.0.1/fhir",
            "http://192.168.1.1:80/",
            "http://8.8.8.8/",
        ] {
            let e = Target::resolve(base).await.unwrap_err();
            assert!(matches!(e, BenchError::NotLoopback(_)), "{base}: {e}");
        }
        for base in [
            "ftp://127.0.0.1/",
            "127.0.0.1:80",
            "http://127.0.0.1/fhir?x=1",
        ] {
            assert!(Target::resolve(base).await.is_err(), "{base}");
        }
    }
}
