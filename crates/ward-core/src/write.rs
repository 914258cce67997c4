//! create, update (incl. update-as-create), patch and delete (http.html#create, #update,
//! #patch, #delete). Each write is one store transaction; the `*_in` forms run inside a
//! caller's transaction so batch and transaction entries share the exact same rules.

use bytes::Bytes;
use serde_json::Value;
use ward_store::{NewVersion, StoreTx, StoredResource, Timestamp, WriteMethod};

use crate::error::operation_outcome;
use crate::request::etag_version;
use crate::resource::{check_type, parse_body, stamp, validate};
use crate::response::ResponseBody;
use crate::{
    CoreError, CoreResult, FhirRequest, FhirResponse, FhirService, Issue, PreferReturn,
    RequestContext, ResourceType,
};

/// The result of one write.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub rtype: ResourceType,
    pub id: String,
    pub version: u64,
    pub last_updated: Timestamp,
    /// The stored text (`None` for a deletion).
    pub body: Option<Bytes>,
    /// 201 (created) or 200 (updated); 204 for deletes.
    pub status: u16,
    /// The Patient compartment(s) of the written version.
    pub patients: Vec<String>,
}

impl Written {
    /// What the write touched, for audit.
    pub(crate) fn touched(&self) -> crate::Touched {
        crate::Touched {
            reference: format!("{}/{}/_history/{}", self.rtype, self.id, self.version),
            patients: self.patients.clone(),
        }
    }
}

impl FhirService {
    pub(crate) async fn create(
        &self,
        ctx: &RequestContext,
        t: ResourceType,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        let resource = self.checked_body(t, req)?;
        let mut tx = self.store.begin().await?;
        let w = self.create_in(&mut *tx, t, resource, None).await?;
        let mut resp = self.write_response(&w, req);
        self.commit_audited(tx, ctx, &req.interaction, &mut resp)
            .await?;
        Ok(resp)
    }

    pub(crate) async fn update(
        &self,
        ctx: &RequestContext,
        t: ResourceType,
        id: &str,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        let resource = self.checked_body(t, req)?;
        let mut tx = self.store.begin().await?;
        let if_match = req.headers.if_match.as_deref();
        let w = self
            .update_in(ctx, &mut *tx, t, id, resource, if_match)
            .await?;
        let mut resp = self.write_response(&w, req);
        self.commit_audited(tx, ctx, &req.interaction, &mut resp)
            .await?;
        Ok(resp)
    }

    pub(crate) async fn patch(
        &self,
        ctx: &RequestContext,
        t: ResourceType,
        id: &str,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        let mut tx = self.store.begin().await?;
        let if_match = req.headers.if_match.as_deref();
        let w = self
            .patch_in(&mut *tx, t, id, req.body.as_ref(), if_match)
            .await?;
        let mut resp = self.write_response(&w, req);
        self.commit_audited(tx, ctx, &req.interaction, &mut resp)
            .await?;
        Ok(resp)
    }

    pub(crate) async fn delete(
        &self,
        ctx: &RequestContext,
        t: ResourceType,
        id: &str,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        let mut tx = self.store.begin().await?;
        let w = self.delete_in(&mut *tx, t, id).await?;
        let mut resp = delete_response(&w);
        self.commit_audited(tx, ctx, &req.interaction, &mut resp)
            .await?;
        Ok(resp)
    }

    /// Parses the body, checks its type against the endpoint, and validates it.
    pub(crate) fn checked_body(&self, t: ResourceType, req: &FhirRequest) -> CoreResult<Value> {
        let resource = parse_body(req.body.as_ref())?;
        check_type(&resource, t)?;
        validate(&resource, t)?;
        Ok(resource)
    }

    /// Creates with a server-assigned id (or `id` when the caller resolved one already).
    pub(crate) async fn create_in(
        &self,
        tx: &mut dyn StoreTx,
        t: ResourceType,
        resource: Value,
        id: Option<String>,
    ) -> CoreResult<Written> {
        let id = id.unwrap_or_else(|| self.ids.new_id());
        self.put_version(tx, t, &id, 1, resource, WriteMethod::Create, 201)
            .await
    }

    /// Updates `t/id`, creating it if absent. `if_match` is checked against the current
    /// version (412 on mismatch).
    pub(crate) async fn update_in(
        &self,
        ctx: &RequestContext,
        tx: &mut dyn StoreTx,
        t: ResourceType,
        id: &str,
        resource: Value,
        if_match: Option<&str>,
    ) -> CoreResult<Written> {
        match resource.get("id").and_then(Value::as_str) {
            Some(body_id) if body_id == id => {}
            Some(_) => {
                return Err(CoreError::bad_request(
                    "WARD-ID-MISMATCH",
                    "the resource id does not match the URL",
                ));
            }
            None => {
                return Err(CoreError::bad_request(
                    "WARD-ID-MISSING",
                    "an update needs the resource id in the body",
                ));
            }
        }
        let current = tx.read(t.as_str(), id).await?;
        check_if_match(if_match, current.as_ref())?;
        let (version, status) = match &current {
            None => (1, 201),
            Some(c) if c.meta.deleted() => (c.meta.version + 1, 201),
            Some(c) => (c.meta.version + 1, 200),
        };
        if status == 201 {
            crate::authz::authorize_create(&ctx.principal, t.as_str())?;
        }
        self.put_version(tx, t, id, version, resource, WriteMethod::Update, status)
            .await
    }

    /// Applies a JSON Patch (RFC 6902) to the current version; the result is validated.
    pub(crate) async fn patch_in(
        &self,
        tx: &mut dyn StoreTx,
        t: ResourceType,
        id: &str,
        body: Option<&Bytes>,
        if_match: Option<&str>,
    ) -> CoreResult<Written> {
        let patch = parse_patch(body)?;
        let current = tx
            .read(t.as_str(), id)
            .await?
            .ok_or_else(|| crate::read::not_found(t))?;
        check_if_match(if_match, Some(&current))?;
        let Some(text) = &current.body else {
            return Err(CoreError::Gone {
                version: current.meta.version,
            });
        };
        let mut doc: Value = serde_json::from_slice(text)
            .map_err(|_| CoreError::Internal("stored body is not JSON".into()))?;
        json_patch::patch(&mut doc, &patch).map_err(|e| {
            CoreError::Invalid(vec![Issue::error(
                "processing",
                format!(
                    "WARD-PATCH: the patch could not be applied ({})",
                    patch_error_kind(&e)
                ),
            )])
        })?;
        if doc.get("resourceType").and_then(Value::as_str) != Some(t.as_str())
            || doc.get("id").and_then(Value::as_str) != Some(id)
        {
            return Err(CoreError::Invalid(vec![Issue::error(
                "invariant",
                "WARD-PATCH: a patch may not change resourceType or id",
            )]));
        }
        validate(&doc, t)?;
        let version = current.meta.version + 1;
        self.put_version(tx, t, id, version, doc, WriteMethod::Patch, 200)
            .await
    }

    /// Logically deletes `t/id` (404 if it never existed; idempotent if already deleted).
    pub(crate) async fn delete_in(
        &self,
        tx: &mut dyn StoreTx,
        t: ResourceType,
        id: &str,
    ) -> CoreResult<Written> {
        let current = tx
            .read(t.as_str(), id)
            .await?
            .ok_or_else(|| crate::read::not_found(t))?;
        if current.meta.deleted() {
            return Ok(written_from(t, &current, 204));
        }
        let now = self.now();
        let version = current.meta.version + 1;
        tx.write(vec![NewVersion {
            rtype: t.as_str().into(),
            id: id.into(),
            version,
            last_updated: now,
            method: WriteMethod::Delete,
            body: None,
            index: Default::default(),
            patients: current.meta.patients.clone(),
        }])
        .await?;
        Ok(Written {
            rtype: t,
            id: id.into(),
            version,
            last_updated: now,
            body: None,
            status: 204,
            patients: current.meta.patients.clone(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn put_version(
        &self,
        tx: &mut dyn StoreTx,
        t: ResourceType,
        id: &str,
        version: u64,
        resource: Value,
        method: WriteMethod,
        status: u16,
    ) -> CoreResult<Written> {
        let now = self.now();
        self.search_parameter_written(t, &resource);
        let index = self.indexer.index(t.as_str(), &resource);
        let body = stamp(resource, id, version, now)?;
        let patients = ward_store::index::patient_compartment(t.as_str(), id, &index);
        tx.write(vec![NewVersion {
            rtype: t.as_str().into(),
            id: id.into(),
            version,
            last_updated: now,
            method,
            body: Some(body.clone()),
            patients: patients.clone(),
            index,
        }])
        .await?;
        Ok(Written {
            rtype: t,
            id: id.into(),
            version,
            last_updated: now,
            body: Some(body),
            status,
            patients,
        })
    }

    /// The HTTP answer to a write, honouring `Prefer: return`.
    pub(crate) fn write_response(&self, w: &Written, req: &FhirRequest) -> FhirResponse {
        let body = match req.headers.prefer_return.unwrap_or_default() {
            PreferReturn::Minimal => None,
            PreferReturn::Representation => w.body.clone().map(ResponseBody::Raw),
            PreferReturn::OperationOutcome => {
                let what = if w.status == 201 {
                    "created"
                } else {
                    "updated"
                };
                Some(ResponseBody::Json(operation_outcome(&[Issue::info(
                    "informational",
                    format!("the resource was {what}"),
                )])))
            }
        };
        let mut r = FhirResponse::new(w.status, body);
        r.version = Some(w.version);
        r.last_modified = Some(w.last_updated);
        r.location = Some(self.version_url(w));
        r.touched = vec![w.touched()];
        r
    }

    /// `base/Type/id/_history/n`.
    pub(crate) fn version_url(&self, w: &Written) -> String {
        format!(
            "{}/{}/{}/_history/{}",
            self.config.base_url, w.rtype, w.id, w.version
        )
    }
}

/// The answer to a delete: 204 with the deletion's version.
pub(crate) fn delete_response(w: &Written) -> FhirResponse {
    let mut r = FhirResponse::new(204, None);
    r.version = Some(w.version);
    r.last_modified = Some(w.last_updated);
    r.touched = vec![w.touched()];
    r
}

pub(crate) fn written_from(t: ResourceType, s: &StoredResource, status: u16) -> Written {
    Written {
        rtype: t,
        id: s.meta.id.clone(),
        version: s.meta.version,
        last_updated: s.meta.last_updated,
        body: s.body.clone(),
        status,
        patients: s.meta.patients.clone(),
    }
}

/// http.html#concurrency: `If-Match` must name the current version.
fn check_if_match(if_match: Option<&str>, current: Option<&StoredResource>) -> CoreResult<()> {
    let Some(tag) = if_match else { return Ok(()) };
    let wanted = etag_version(tag).ok_or_else(|| {
        CoreError::bad_request("WARD-IF-MATCH", "If-Match must be an ETag such as W/\"3\"")
    })?;
    match current {
        Some(c) if !c.meta.deleted() && c.meta.version == wanted => Ok(()),
        _ => Err(CoreError::PreconditionFailed {
            message: "If-Match does not name the current version".into(),
        }),
    }
}

fn parse_patch(body: Option<&Bytes>) -> CoreResult<json_patch::Patch> {
    let body = body.filter(|b| !b.is_empty()).ok_or_else(|| {
        CoreError::bad_request(
            "WARD-PATCH",
            "a patch needs a JSON Patch document in its body",
        )
    })?;
    serde_json::from_slice(body).map_err(|_| {
        CoreError::bad_request("WARD-PATCH", "the body is not a valid JSON Patch document")
    })
}

fn patch_error_kind(e: &json_patch::PatchError) -> String {
    let what = match e.kind {
        json_patch::PatchErrorKind::TestFailed => "a test operation failed",
        _ => "a path does not exist or an operation is invalid",
    };
    format!("operation {}: {what}", e.operation)
}
