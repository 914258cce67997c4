//! Turning core results into HTTP responses: status, FHIR JSON, ETag, Last-Modified, Location,
//! and OperationOutcomes for every error.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use ward_core::{CoreError, FhirResponse};

/// The media type of every response body.
pub(crate) const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// The interaction name and route template, carried to the log layer in response extensions.
#[derive(Debug, Clone)]
pub(crate) struct InteractionName(pub &'static str, pub String);

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A FHIR response. `pretty` re-indents JSON bodies (`_pretty=true`).
pub(crate) fn response(r: FhirResponse, pretty: bool) -> Response {
    let mut headers = HeaderMap::new();
    if let Some(v) = r.version {
        insert(&mut headers, header::ETAG, &format!("W/\"{v}\""));
    }
    if let Some(t) = r.last_modified {
        let secs = u64::try_from(t.unix_seconds()).unwrap_or(0);
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        insert(
            &mut headers,
            header::LAST_MODIFIED,
            &httpdate::fmt_http_date(when),
        );
    }
    if let Some(loc) = &r.location {
        insert(&mut headers, header::LOCATION, loc);
        insert(&mut headers, header::CONTENT_LOCATION, loc);
    }
    if r.phi {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let body = match r.body {
        Some(b) => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
            let bytes = b.into_bytes();
            if pretty {
                prettify(&bytes)
            } else {
                Body::from(bytes)
            }
        }
        None => Body::empty(),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status(r.status);
    *resp.headers_mut() = headers;
    resp
}

fn prettify(bytes: &[u8]) -> Body {
    match serde_json::from_slice::<serde_json::Value>(bytes)
        .and_then(|v| serde_json::to_vec_pretty(&v))
    {
        Ok(p) => Body::from(p),
        Err(_) => Body::from(bytes.to_vec()),
    }
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// An error as an OperationOutcome response (401s carry `WWW-Authenticate`).
pub(crate) fn error(e: &CoreError) -> Response {
    let body = serde_json::to_vec(&e.to_outcome()).unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status(e.status());
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let CoreError::Unauthorized { code, .. } = e {
        let error = if *code == "WARD-AUTH-NOTOKEN" {
            ""
        } else {
            ", error=\"invalid_token\""
        };
        insert(
            h,
            header::WWW_AUTHENTICATE,
            &format!("Bearer realm=\"ward\"{error}"),
        );
    }
    if let CoreError::Gone { version } = e {
        insert(h, header::ETAG, &format!("W/\"{version}\""));
    }
    resp
}
