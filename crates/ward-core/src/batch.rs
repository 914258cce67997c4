//! batch and transaction (http.html#transaction). A batch runs each entry on its own; a
//! transaction runs all writes in one store transaction in the spec's order (DELETE, POST,
//! PUT/PATCH, then GET), resolves `fullUrl` placeholders (`urn:uuid:`) into the assigned ids,
//! and fails as a whole when any write fails.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use bytes::Bytes;
use serde_json::Value;

use crate::bundle::{BundleWriter, Entry, EntryResponse};
use crate::request::RequestHeaders;
use crate::resource::{check_type, validate};
use crate::response::ResponseBody;
use crate::tx_resolve::Settled;
use crate::write::Written;
use crate::{
    CoreError, CoreResult, FhirRequest, FhirResponse, FhirService, Interaction, Method,
    RequestContext, ResourceType, parse_query,
};

/// One parsed bundle entry.
#[derive(Debug, Clone)]
pub(crate) struct ParsedEntry {
    pub full_url: Option<String>,
    pub interaction: Interaction,
    pub params: Vec<(String, String)>,
    pub headers: RequestHeaders,
    pub resource: Option<Value>,
    /// Set when a conditional entry turned out to need no write.
    pub settled: Option<Settled>,
}

impl ParsedEntry {
    fn to_request(&self) -> CoreResult<FhirRequest> {
        let body = match (&self.interaction, &self.resource) {
            (Interaction::Patch(..) | Interaction::ConditionalPatch(_), Some(r)) => {
                Some(binary_patch_body(r)?)
            }
            (_, Some(r)) => {
                Some(Bytes::from(serde_json::to_vec(r).map_err(|_| {
                    CoreError::Internal("serialise entry".into())
                })?))
            }
            (_, None) => None,
        };
        Ok(FhirRequest {
            interaction: self.interaction.clone(),
            params: self.params.clone(),
            headers: self.headers.clone(),
            body,
        })
    }
}

/// In a Bundle a JSON Patch travels as a Binary resource (http.html#patch).
fn binary_patch_body(r: &Value) -> CoreResult<Bytes> {
    let bad = || {
        CoreError::bad_request(
            "WARD-PATCH",
            "a PATCH entry needs a Binary resource with contentType application/json-patch+json",
        )
    };
    if r.get("resourceType").and_then(Value::as_str) != Some("Binary")
        || r.get("contentType").and_then(Value::as_str) != Some("application/json-patch+json")
    {
        return Err(bad());
    }
    let data = r.get("data").and_then(Value::as_str).ok_or_else(bad)?;
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map(Bytes::from)
        .map_err(|_| bad())
}

fn entry_error(index: usize, e: CoreError) -> CoreError {
    let prefix = |m: String| format!("entry {index}: {m}");
    match e {
        CoreError::BadRequest { code, message } => CoreError::BadRequest {
            code,
            message: prefix(message),
        },
        CoreError::Invalid(issues) => CoreError::Invalid(
            issues
                .into_iter()
                .map(|mut i| {
                    i.expression = i
                        .expression
                        .into_iter()
                        .map(|x| format!("Bundle.entry[{index}].resource.{x}"))
                        .collect();
                    i
                })
                .collect(),
        ),
        CoreError::NotFound { message } => CoreError::NotFound {
            message: prefix(message),
        },
        CoreError::PreconditionFailed { message } => CoreError::PreconditionFailed {
            message: prefix(message),
        },
        CoreError::Conflict { message } => CoreError::Conflict {
            message: prefix(message),
        },
        CoreError::Forbidden { message } => CoreError::Forbidden {
            message: prefix(message),
        },
        other => other,
    }
}

impl FhirService {
    pub(crate) async fn batch_or_transaction(
        &self,
        ctx: &RequestContext,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        let bundle = crate::resource::parse_body(req.body.as_ref())?;
        if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            return Err(CoreError::bad_request(
                "WARD-BUNDLE",
                "POST to the base needs a Bundle",
            ));
        }
        let kind = bundle
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let entries = self.parse_entries(&bundle)?;
        match kind.as_str() {
            "batch" => self.batch(ctx, entries, req).await,
            "transaction" => self.transaction(ctx, entries, req).await,
            _ => Err(CoreError::bad_request(
                "WARD-BUNDLE",
                "Bundle.type must be batch or transaction",
            )),
        }
    }

    fn parse_entries(&self, bundle: &Value) -> CoreResult<Vec<ParsedEntry>> {
        let entries = match bundle.get("entry") {
            None => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(_) => {
                return Err(CoreError::bad_request(
                    "WARD-BUNDLE",
                    "Bundle.entry must be an array",
                ));
            }
        };
        if entries.len() > self.config.max_bundle_entries {
            return Err(CoreError::bad_request(
                "WARD-BUNDLE",
                format!(
                    "a bundle may carry at most {} entries",
                    self.config.max_bundle_entries
                ),
            ));
        }
        entries
            .iter()
            .enumerate()
            .map(|(i, e)| self.parse_entry(e).map_err(|e| entry_error(i, e)))
            .collect()
    }

    fn parse_entry(&self, e: &Value) -> CoreResult<ParsedEntry> {
        let bad = |m: &str| CoreError::bad_request("WARD-ENTRY", m.to_owned());
        let request = e
            .get("request")
            .ok_or_else(|| bad("the entry has no request"))?;
        let method = request
            .get("method")
            .and_then(Value::as_str)
            .and_then(Method::parse)
            .ok_or_else(|| bad("request.method is missing or unknown"))?;
        let url = request
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("request.url is missing"))?;
        let base = format!("{}/", self.config.base_url);
        let url = url.strip_prefix(&base).unwrap_or(url);
        if url.contains("://") {
            return Err(bad("request.url must be relative to this server's base"));
        }
        let (path, query) = url
            .split_once('?')
            .map_or((url, None), |(p, q)| (p, Some(q)));
        let interaction =
            crate::interaction::parse(method, path, query.is_some_and(|q| !q.is_empty()))?;
        if interaction == Interaction::BatchOrTransaction {
            return Err(bad("bundles cannot be nested"));
        }
        let text = |k: &str| request.get(k).and_then(Value::as_str).map(str::to_owned);
        let headers = RequestHeaders {
            if_match: text("ifMatch"),
            if_none_match: text("ifNoneMatch"),
            if_modified_since: text("ifModifiedSince")
                .and_then(|t| ward_store::Timestamp::parse_rfc3339(&t))
                .map(|t| t.unix_seconds()),
            if_none_exist: text("ifNoneExist"),
            ..RequestHeaders::default()
        };
        Ok(ParsedEntry {
            full_url: e.get("fullUrl").and_then(Value::as_str).map(str::to_owned),
            interaction,
            params: query.map(parse_query).transpose()?.unwrap_or_default(),
            headers,
            resource: e.get("resource").cloned(),
            settled: None,
        })
    }

    async fn batch(
        &self,
        ctx: &RequestContext,
        entries: Vec<ParsedEntry>,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        let now = self.now();
        let mut w = BundleWriter::new("batch-response", now, None, &[]);
        for e in &entries {
            let mut sub = e.to_request()?;
            sub.headers.prefer_return = req.headers.prefer_return;
            let result = Box::pin(self.handle(ctx, sub)).await;
            write_entry_result(&mut w, result);
        }
        Ok(FhirResponse::new(200, Some(ResponseBody::Raw(w.finish()))))
    }

    async fn transaction(
        &self,
        ctx: &RequestContext,
        mut entries: Vec<ParsedEntry>,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        let mut accesses = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let access = crate::authz::authorize(&ctx.principal, &e.interaction)
                .map_err(|x| entry_error(i, x))?;
            accesses.push(access);
        }
        let mut tx = self.store.begin().await?;
        self.settle_conditionals(&mut *tx, &mut entries, &accesses)
            .await?;
        for (i, (e, access)) in entries.iter().zip(&accesses).enumerate() {
            self.confine(access, &e.to_request()?)
                .await
                .map_err(|x| entry_error(i, x))?;
        }
        let mut ids = self.assign_identities(&entries)?;
        let conditional = self.conditional_references(ctx, &mut *tx, &entries).await?;
        ids.placeholders.extend(conditional);
        rewrite_references(&mut entries, &ids.placeholders);
        let mut results: Vec<Option<CoreResult<FhirResponse>>> =
            (0..entries.len()).map(|_| None).collect();
        for (i, e) in entries.iter().enumerate() {
            let settled = match &e.settled {
                Some(Settled::Existing(t, id)) => {
                    Some(self.existing_response(&mut *tx, *t, id).await)
                }
                Some(Settled::Noop) => Some(Ok(FhirResponse::new(204, None))),
                None => None,
            };
            if let (Some(r), Some(slot)) = (settled, results.get_mut(i)) {
                *slot = Some(r.map_err(|x| entry_error(i, x)));
            }
        }
        for phase in [Phase::Delete, Phase::Create, Phase::Update] {
            for (i, e) in entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.settled.is_none() && phase_of(&e.interaction) == Some(phase))
            {
                let written = self
                    .transaction_write(ctx, &mut *tx, e, ids.assigned.get(&i).cloned())
                    .await
                    .map_err(|x| entry_error(i, x))?;
                let mut resp = self.write_response(&written, &sub_request(e, req));
                if phase == Phase::Delete {
                    resp.location = None;
                }
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(Ok(resp));
                }
            }
        }
        let head = self
            .audit_transaction(ctx, &mut *tx, &entries, &results)
            .await?;
        tx.commit().await?;
        self.auditor.committed(head).await;
        for (i, e) in entries
            .iter()
            .enumerate()
            .filter(|(_, e)| phase_of(&e.interaction).is_none())
        {
            let result = Box::pin(self.handle(ctx, e.to_request()?)).await;
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(result);
            }
        }
        let mut w = BundleWriter::new("transaction-response", self.now(), None, &[]);
        for r in results {
            write_entry_result(
                &mut w,
                r.unwrap_or_else(|| Err(CoreError::Internal("entry not run".into()))),
            );
        }
        let mut resp = FhirResponse::new(200, Some(ResponseBody::Raw(w.finish())));
        resp.audited = true;
        Ok(resp)
    }

    /// Appends, inside the transaction, one audit record per settled or written entry and one
    /// for the transaction as a whole (GET entries are audited when they run, after commit).
    async fn audit_transaction(
        &self,
        ctx: &RequestContext,
        tx: &mut dyn ward_store::StoreTx,
        entries: &[ParsedEntry],
        results: &[Option<CoreResult<FhirResponse>>],
    ) -> CoreResult<crate::audit::Appended> {
        let now = self.now_instant();
        let base = &self.config.base_url;
        let mut recs = Vec::new();
        let mut all = Vec::new();
        for (e, r) in entries.iter().zip(results) {
            if let Some(Ok(resp)) = r {
                let o = crate::audit::Outcomes {
                    status: resp.status,
                    error: None,
                    touched: &resp.touched,
                    query: None,
                    subtype: None,
                };
                recs.push(crate::audit::interaction_record(
                    ctx,
                    &e.interaction,
                    &o,
                    now.clone(),
                    base,
                ));
                all.extend(resp.touched.iter().cloned());
            }
        }
        let o = crate::audit::Outcomes {
            status: 200,
            error: None,
            touched: &all,
            query: None,
            subtype: Some("transaction"),
        };
        recs.push(crate::audit::interaction_record(
            ctx,
            &Interaction::BatchOrTransaction,
            &o,
            now,
            base,
        ));
        self.auditor.append_in(tx, &recs).await
    }

    /// Pre-assigns ids to creates and maps every `fullUrl` to its `Type/id`. Two entries that
    /// write the same resource make the transaction fail (400).
    fn assign_identities(&self, entries: &[ParsedEntry]) -> CoreResult<Identities> {
        let mut ids = Identities::default();
        let mut seen = HashSet::new();
        for (i, e) in entries.iter().enumerate() {
            let target = match (&e.interaction, &e.settled) {
                (_, Some(Settled::Noop)) => None,
                (_, Some(Settled::Existing(t, id))) => Some((*t, id.clone())),
                (Interaction::Create(t), None) => {
                    let id = self.ids.new_id();
                    ids.assigned.insert(i, id.clone());
                    Some((*t, id))
                }
                (
                    Interaction::Update(t, id)
                    | Interaction::Patch(t, id)
                    | Interaction::Delete(t, id),
                    None,
                ) => Some((*t, id.clone())),
                _ => None,
            };
            if let Some((t, id)) = target {
                if !seen.insert((t, id.clone())) {
                    return Err(entry_error(
                        i,
                        CoreError::bad_request(
                            "WARD-TX-DUPLICATE",
                            "two entries in the transaction write the same resource",
                        ),
                    ));
                }
                if let Some(full) = &e.full_url {
                    ids.placeholders.insert(full.clone(), format!("{t}/{id}"));
                }
            }
        }
        Ok(ids)
    }

    async fn transaction_write(
        &self,
        ctx: &RequestContext,
        tx: &mut dyn ward_store::StoreTx,
        e: &ParsedEntry,
        assigned: Option<String>,
    ) -> CoreResult<Written> {
        match &e.interaction {
            Interaction::Delete(t, id) => self.delete_in(tx, *t, id).await,
            Interaction::Create(t) => {
                let r = entry_resource(e, *t)?;
                self.create_in(tx, *t, r, assigned).await
            }
            Interaction::Update(t, id) => {
                let r = entry_resource(e, *t)?;
                self.update_in(ctx, tx, *t, id, r, e.headers.if_match.as_deref())
                    .await
            }
            Interaction::Patch(t, id) => {
                let body = e.to_request()?.body;
                self.patch_in(tx, *t, id, body.as_ref(), e.headers.if_match.as_deref())
                    .await
            }
            _ => Err(CoreError::Internal("not a transaction write".into())),
        }
    }
}

#[derive(Debug, Default)]
struct Identities {
    /// Entry index → id assigned to a create.
    assigned: HashMap<usize, String>,
    /// `fullUrl` → `Type/id`.
    placeholders: HashMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Delete,
    Create,
    Update,
}

fn phase_of(i: &Interaction) -> Option<Phase> {
    match i {
        Interaction::Delete(..) | Interaction::ConditionalDelete(_) => Some(Phase::Delete),
        Interaction::Create(_) => Some(Phase::Create),
        Interaction::Update(..)
        | Interaction::ConditionalUpdate(_)
        | Interaction::Patch(..)
        | Interaction::ConditionalPatch(_) => Some(Phase::Update),
        _ => None,
    }
}

fn sub_request(e: &ParsedEntry, outer: &FhirRequest) -> FhirRequest {
    let mut r = FhirRequest::new(e.interaction.clone());
    r.headers.prefer_return = outer.headers.prefer_return;
    r
}

fn entry_resource(e: &ParsedEntry, t: ResourceType) -> CoreResult<Value> {
    let r = e
        .resource
        .clone()
        .ok_or_else(|| CoreError::bad_request("WARD-ENTRY", "the entry has no resource"))?;
    check_type(&r, t)?;
    validate(&r, t)?;
    Ok(r)
}

/// Replaces every `reference` that names a placeholder `fullUrl` with the assigned `Type/id`.
fn rewrite_references(entries: &mut [ParsedEntry], map: &HashMap<String, String>) {
    if map.is_empty() {
        return;
    }
    for e in entries.iter_mut() {
        if let Some(r) = e.resource.as_mut() {
            rewrite(r, map);
        }
    }
}

fn rewrite(v: &mut Value, map: &HashMap<String, String>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if k == "reference"
                    && let Value::String(s) = child
                    && let Some(new) = map.get(s.as_str())
                {
                    *s = new.clone();
                } else {
                    rewrite(child, map);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite(c, map)),
        _ => {}
    }
}

fn status_text(code: u16) -> String {
    let reason = match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        422 => "Unprocessable Entity",
        _ => "",
    };
    if reason.is_empty() {
        code.to_string()
    } else {
        format!("{code} {reason}")
    }
}

fn write_entry_result(w: &mut BundleWriter, result: CoreResult<FhirResponse>) {
    match result {
        Ok(r) => {
            let body = r.body.map(ResponseBody::into_bytes);
            w.entry(&Entry {
                resource: body.as_deref(),
                response: Some(EntryResponse {
                    status: status_text(r.status),
                    location: r.location,
                    etag: r.version.map(|v| format!("W/\"{v}\"")),
                    last_modified: r.last_modified.map(|t| t.to_fhir_instant()),
                    outcome: None,
                }),
                ..Default::default()
            });
        }
        Err(e) => w.entry(&Entry {
            response: Some(EntryResponse {
                status: status_text(e.status()),
                outcome: Some(e.to_outcome()),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Issue;
    use serde_json::json;

    #[test]
    fn rewrites_placeholders_everywhere() {
        let mut v = json!({"subject":{"reference":"urn:uuid:1"},"x":[{"reference":"urn:uuid:2"},{"reference":"Patient/keep"}],"note":"urn:uuid:1"});
        let map = HashMap::from([
            ("urn:uuid:1".to_owned(), "Patient/a".to_owned()),
            ("urn:uuid:2".to_owned(), "Encounter/b".to_owned()),
        ]);
        rewrite(&mut v, &map);
        assert_eq!(v["subject"]["reference"], "Patient/a");
        assert_eq!(v["x"][0]["reference"], "Encounter/b");
        assert_eq!(v["x"][1]["reference"], "Patient/keep");
        assert_eq!(v["note"], "urn:uuid:1");
    }

    #[test]
    fn issue_locations_point_into_the_bundle() {
        let e = entry_error(
            3,
            CoreError::Invalid(vec![Issue {
                expression: vec!["Patient.gender".into()],
                ..Issue::error("code-invalid", "bad")
            }]),
        );
        let CoreError::Invalid(issues) = e else {
            panic!()
        };
        assert_eq!(
            issues[0].expression,
            vec!["Bundle.entry[3].resource.Patient.gender"]
        );
    }
}
