//! Conditional entries and conditional references of a transaction (http.html#trules): before
//! anything is written, inside the transaction, each conditional create/update/patch/delete is
//! settled into a plain interaction (or into "already exists" / "nothing to delete"), and each
//! `Type?criteria` reference is replaced by the one resource it matches. No match or several
//! matches for a reference fail the whole transaction (412).

use std::collections::HashMap;

use serde_json::Value;
use ward_auth::Permission;
use ward_store::StoreTx;

use crate::authz::{Access, access};
use crate::batch::ParsedEntry;
use crate::conditional::{Matched, criteria};
use crate::{CoreError, CoreResult, FhirService, Interaction, RequestContext, ResourceType};

/// A conditional entry that needs no write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    /// `If-None-Exist` found this resource: answer 200 with it, map the fullUrl to it.
    Existing(ResourceType, String),
    /// A conditional delete matched nothing.
    Noop,
}

fn many(i: usize) -> CoreError {
    CoreError::PreconditionFailed {
        message: format!("entry {i}: the conditional criteria match more than one resource"),
    }
}

impl FhirService {
    /// Settles every conditional entry in place.
    pub(crate) async fn settle_conditionals(
        &self,
        tx: &mut dyn StoreTx,
        entries: &mut [ParsedEntry],
        accesses: &[Access],
    ) -> CoreResult<()> {
        for (i, e) in entries.iter_mut().enumerate() {
            let a = accesses.get(i).cloned().unwrap_or(Access::Full);
            match e.interaction.clone() {
                Interaction::Create(t) => {
                    let Some(text) = e.headers.if_none_exist.clone() else {
                        continue;
                    };
                    let params = criteria(&text, t)?;
                    match self.resolve_match(tx, t, &params, &a).await? {
                        Matched::None => {}
                        Matched::One(id) => e.settled = Some(Settled::Existing(t, id)),
                        Matched::Many => return Err(many(i)),
                    }
                }
                Interaction::ConditionalUpdate(t) => {
                    let body_id = e
                        .resource
                        .as_ref()
                        .and_then(|r| r.get("id"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    let id = match self.resolve_match(tx, t, &e.params, &a).await? {
                        Matched::One(found) if body_id.as_deref().is_none_or(|b| b == found) => {
                            found
                        }
                        Matched::One(_) => {
                            return Err(CoreError::bad_request(
                                "WARD-ID-MISMATCH",
                                format!(
                                    "entry {i}: the resource id does not match the resource the criteria found"
                                ),
                            ));
                        }
                        Matched::None => body_id.unwrap_or_else(|| self.ids.new_id()),
                        Matched::Many => return Err(many(i)),
                    };
                    if let Some(Value::Object(m)) = e.resource.as_mut() {
                        m.insert("id".into(), Value::String(id.clone()));
                    }
                    e.interaction = Interaction::Update(t, id);
                }
                Interaction::ConditionalPatch(t) => {
                    match self.resolve_match(tx, t, &e.params, &a).await? {
                        Matched::One(id) => e.interaction = Interaction::Patch(t, id),
                        Matched::None => {
                            return Err(CoreError::NotFound {
                                message: format!(
                                    "entry {i}: no resource matches the conditional patch"
                                ),
                            });
                        }
                        Matched::Many => return Err(many(i)),
                    }
                }
                Interaction::ConditionalDelete(t) => {
                    match self.resolve_match(tx, t, &e.params, &a).await? {
                        Matched::One(id) => e.interaction = Interaction::Delete(t, id),
                        Matched::None => e.settled = Some(Settled::Noop),
                        Matched::Many => return Err(many(i)),
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Maps each conditional reference (`Patient?identifier=s|v`) in the entries' resources to
    /// the `Type/id` it matches. Resolving one needs search permission on its type.
    pub(crate) async fn conditional_references(
        &self,
        ctx: &RequestContext,
        tx: &mut dyn StoreTx,
        entries: &[ParsedEntry],
    ) -> CoreResult<HashMap<String, String>> {
        let mut refs = Vec::new();
        for e in entries {
            if let Some(r) = &e.resource {
                collect_conditional(r, &mut refs);
            }
        }
        let mut map = HashMap::new();
        for text in refs {
            if map.contains_key(&text) {
                continue;
            }
            let (tname, query) = text.split_once('?').unwrap_or((text.as_str(), ""));
            let t = ResourceType::parse(tname).ok_or_else(|| {
                CoreError::bad_request(
                    "WARD-REFERENCE",
                    "a conditional reference names an unknown type",
                )
            })?;
            let a = access(&ctx.principal, t.as_str(), Permission::Search).ok_or_else(|| {
                CoreError::Forbidden {
                    message:
                        "the token's scopes do not permit resolving this conditional reference"
                            .into(),
                }
            })?;
            let params = criteria(query, t)?;
            match self.resolve_match(tx, t, &params, &a).await? {
                Matched::One(id) => {
                    map.insert(text.clone(), format!("{t}/{id}"));
                }
                _ => {
                    return Err(CoreError::PreconditionFailed {
                        message: "a conditional reference does not match exactly one resource"
                            .into(),
                    });
                }
            }
        }
        Ok(map)
    }
}

/// Collects `reference` values of the form `Type?query`.
fn collect_conditional(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                if k == "reference"
                    && let Value::String(s) = child
                    && let Some((t, _)) = s.split_once('?')
                    && !t.contains('/')
                    && !t.contains(':')
                {
                    out.push(s.clone());
                } else {
                    collect_conditional(child, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_conditional(c, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_conditional_references_only() {
        let v = json!({"subject":{"reference":"Patient?identifier=s|1"},"x":[{"reference":"Patient/1"},{"reference":"urn:uuid:a"},{"reference":"http://h/fhir/Patient?x=1"}]});
        let mut out = Vec::new();
        collect_conditional(&v, &mut out);
        assert_eq!(out, vec!["Patient?identifier=s|1"]);
    }
}
