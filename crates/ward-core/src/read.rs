//! read and vread (http.html#read, #vread), with conditional read (`If-None-Match`,
//! `If-Modified-Since` → 304) and `_summary` / `_elements`.

use ward_store::StoredResource;

use crate::request::etag_version;
use crate::response::ResponseBody;
use crate::{CoreError, CoreResult, FhirRequest, FhirResponse, FhirService, ResourceType, shape};

impl FhirService {
    pub(crate) async fn read(
        &self,
        t: ResourceType,
        id: &str,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        let found = self.store.read(t.as_str(), id).await?;
        let stored = found.ok_or_else(|| not_found(t))?;
        respond_with(stored, req, true)
    }

    pub(crate) async fn vread(
        &self,
        t: ResourceType,
        id: &str,
        version: u64,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        let stored = self.store.vread(t.as_str(), id, version).await?;
        let stored = match stored {
            Some(s) => s,
            None if self.store.read(t.as_str(), id).await?.is_some() => {
                return Err(CoreError::NotFound {
                    message: "no such version".into(),
                });
            }
            None => return Err(not_found(t)),
        };
        respond_with(stored, req, false)
    }
}

pub(crate) fn not_found(t: ResourceType) -> CoreError {
    CoreError::NotFound {
        message: format!("no {t} with that id"),
    }
}

/// Turns a stored version into a read response, honouring conditional-read headers.
pub(crate) fn respond_with(
    stored: StoredResource,
    req: &FhirRequest,
    conditional: bool,
) -> CoreResult<FhirResponse> {
    let touched = crate::Touched::of(&stored);
    let meta = &stored.meta;
    let Some(body) = stored.body else {
        return Err(CoreError::Gone {
            version: meta.version,
        });
    };
    if conditional && not_modified(req, meta.version, meta.last_updated.unix_seconds()) {
        let mut r = FhirResponse::new(304, None);
        r.version = Some(meta.version);
        r.last_modified = Some(meta.last_updated);
        r.touched = vec![touched];
        return Ok(r);
    }
    let body = match shape::Shape::from_request(req)? {
        Some(shape) => ResponseBody::Json(shape.apply_bytes(&body)?),
        None => ResponseBody::Raw(body),
    };
    let mut r = FhirResponse::new(200, Some(body));
    r.version = Some(meta.version);
    r.last_modified = Some(meta.last_updated);
    r.touched = vec![touched];
    Ok(r)
}

/// http.html#cread: `If-None-Match` wins over `If-Modified-Since` when both are present.
fn not_modified(req: &FhirRequest, version: u64, last_modified_secs: i64) -> bool {
    if let Some(tags) = &req.headers.if_none_match {
        return tags
            .split(',')
            .any(|t| t.trim() == "*" || etag_version(t) == Some(version));
    }
    if let Some(since) = req.headers.if_modified_since {
        return last_modified_secs <= since;
    }
    false
}
