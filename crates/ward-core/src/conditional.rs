//! Conditional create (`If-None-Exist`), update, patch and delete (http.html#ccreate,
//! #cond-update, #cond-patch, #cdelete). The criteria are matched inside the write transaction,
//! so on the embedded store (one writer) two racing conditional creates cannot both create.
//! Several matches are 412; criteria are parsed strictly (an unknown parameter is 400).

use serde_json::Value;
use ward_store::StoreTx;

use crate::authz::Access;
use crate::read::respond_with;
use crate::{
    CoreError, CoreResult, FhirRequest, FhirResponse, FhirService, RequestContext, ResourceType,
    parse_query,
};

/// What a conditional's criteria matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Matched {
    None,
    One(String),
    Many,
}

/// Parses `If-None-Exist` / conditional-URL criteria: `a=1&b=2`, optionally prefixed `?` or
/// `Type?`.
pub(crate) fn criteria(text: &str, t: ResourceType) -> CoreResult<Vec<(String, String)>> {
    let q = text.trim();
    let q = q
        .strip_prefix(&format!("{t}?"))
        .or_else(|| q.strip_prefix('?'))
        .unwrap_or(q);
    let params = parse_query(q)?;
    if params.is_empty() {
        return Err(CoreError::bad_request(
            "WARD-CONDITIONAL",
            "the conditional criteria are empty",
        ));
    }
    Ok(params)
}

fn many() -> CoreError {
    CoreError::PreconditionFailed {
        message: "the conditional criteria match more than one resource".into(),
    }
}

impl FhirService {
    /// Matches `params` on `t` inside `tx`, narrowed to what `access` may see.
    pub(crate) async fn resolve_match(
        &self,
        tx: &mut dyn StoreTx,
        t: ResourceType,
        params: &[(String, String)],
        access: &Access,
    ) -> CoreResult<Matched> {
        let ids = self.match_ids(Some(tx), t, params, access).await?;
        Ok(match ids.as_slice() {
            [] => Matched::None,
            [one] => Matched::One(one.clone()),
            _ => Matched::Many,
        })
    }

    /// The answer to a conditional create that found `t/id`: 200 with the resource.
    pub(crate) async fn existing_response(
        &self,
        tx: &mut dyn StoreTx,
        t: ResourceType,
        id: &str,
    ) -> CoreResult<FhirResponse> {
        let existing = tx
            .read(t.as_str(), id)
            .await?
            .ok_or_else(|| crate::read::not_found(t))?;
        let version = existing.meta.version;
        let mut r = respond_with(
            existing,
            &FhirRequest::new(crate::Interaction::Read(t, id.to_owned())),
            false,
        )?;
        r.location = Some(format!(
            "{}/{t}/{id}/_history/{version}",
            self.config.base_url
        ));
        Ok(r)
    }

    pub(crate) async fn conditional_create(
        &self,
        ctx: &RequestContext,
        t: ResourceType,
        req: &FhirRequest,
        text: &str,
        access: &Access,
    ) -> CoreResult<FhirResponse> {
        let params = criteria(text, t)?;
        let resource = self.checked_body(t, req)?;
        let mut tx = self.store.begin().await?;
        match self.resolve_match(&mut *tx, t, &params, access).await? {
            Matched::None => {
                let w = self.create_in(&mut *tx, t, resource, None).await?;
                let mut resp = self.write_response(&w, req);
                self.commit_audited(tx, ctx, &req.interaction, &mut resp)
                    .await?;
                Ok(resp)
            }
            Matched::One(id) => {
                let mut r = self.existing_response(&mut *tx, t, &id).await?;
                if req.headers.prefer_return == Some(crate::PreferReturn::Minimal) {
                    r.body = None;
                }
                Ok(r)
            }
            Matched::Many => Err(many()),
        }
    }

    pub(crate) async fn conditional_update(
        &self,
        ctx: &RequestContext,
        t: ResourceType,
        req: &FhirRequest,
        access: &Access,
    ) -> CoreResult<FhirResponse> {
        let mut resource = self.checked_body(t, req)?;
        if !access.admits(t.as_str(), &resource) {
            return Err(crate::confine::refused());
        }
        let body_id = resource
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut tx = self.store.begin().await?;
        let id = match self.resolve_match(&mut *tx, t, &req.params, access).await? {
            Matched::One(found) => {
                if body_id.as_deref().is_some_and(|b| b != found) {
                    return Err(CoreError::bad_request(
                        "WARD-ID-MISMATCH",
                        "the resource id does not match the resource the criteria found",
                    ));
                }
                found
            }
            Matched::None => body_id.unwrap_or_else(|| self.ids.new_id()),
            Matched::Many => return Err(many()),
        };
        if let Value::Object(m) = &mut resource {
            m.insert("id".into(), Value::String(id.clone()));
        }
        let if_match = req.headers.if_match.as_deref();
        let w = self
            .update_in(ctx, &mut *tx, t, &id, resource, if_match)
            .await?;
        tx.commit().await?;
        Ok(self.write_response(&w, req))
    }

    pub(crate) async fn conditional_patch(
        &self,
        ctx: &RequestContext,
        t: ResourceType,
        req: &FhirRequest,
        access: &Access,
    ) -> CoreResult<FhirResponse> {
        let mut tx = self.store.begin().await?;
        let id = match self.resolve_match(&mut *tx, t, &req.params, access).await? {
            Matched::One(id) => id,
            Matched::None => return Err(crate::read::not_found(t)),
            Matched::Many => return Err(many()),
        };
        let if_match = req.headers.if_match.as_deref();
        let w = self
            .patch_in(&mut *tx, t, &id, req.body.as_ref(), if_match)
            .await?;
        let patched = w
            .body
            .as_deref()
            .and_then(|b| serde_json::from_slice::<Value>(b).ok());
        if patched.is_none_or(|doc| !access.admits(t.as_str(), &doc)) {
            return Err(crate::confine::refused());
        }
        let mut resp = self.write_response(&w, req);
        self.commit_audited(tx, ctx, &req.interaction, &mut resp)
            .await?;
        Ok(resp)
    }

    /// Deletes the single match (204); no match is a no-op (204, no ETag).
    pub(crate) async fn conditional_delete(
        &self,
        ctx: &RequestContext,
        t: ResourceType,
        req: &FhirRequest,
        access: &Access,
    ) -> CoreResult<FhirResponse> {
        let mut tx = self.store.begin().await?;
        match self.resolve_match(&mut *tx, t, &req.params, access).await? {
            Matched::None => Ok(FhirResponse::new(204, None)),
            Matched::One(id) => {
                let w = self.delete_in(&mut *tx, t, &id).await?;
                let mut resp = crate::write::delete_response(&w);
                self.commit_audited(tx, ctx, &req.interaction, &mut resp)
                    .await?;
                Ok(resp)
            }
            Matched::Many => Err(many()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_forms() {
        let t = ResourceType::parse("Patient").unwrap();
        let want = vec![("identifier".to_owned(), "s|v".to_owned())];
        assert_eq!(criteria("identifier=s%7Cv", t).unwrap(), want);
        assert_eq!(criteria("?identifier=s|v", t).unwrap(), want);
        assert_eq!(criteria("Patient?identifier=s|v", t).unwrap(), want);
        assert!(criteria("", t).is_err());
        assert!(criteria("Patient?", t).is_err());
    }
}
