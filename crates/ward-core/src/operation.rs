//! Operations: `$validate` at type and instance level (resource-operation-validate). The
//! resource comes as the body, or as the `resource` parameter of a Parameters body; at instance
//! level without one, the stored current version is validated. `mode` (create, update, delete)
//! and `profile` come from the query or the Parameters body. The answer is an
//! OperationOutcome (200) listing every issue found.

use serde_json::Value;

use crate::error::operation_outcome;
use crate::resource::{check_type, parse_body, validation_issues};
use crate::{
    CoreError, CoreResult, FhirRequest, FhirResponse, FhirService, Issue, OpTarget, ResourceType,
};

/// `$validate`'s `mode` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No mode: validate the content only.
    Content,
    Create,
    Update,
    Delete,
}

/// The inputs of one `$validate` call.
struct Inputs {
    resource: Option<Value>,
    mode: Mode,
    profile: Option<String>,
}

fn bad(message: &str) -> CoreError {
    CoreError::bad_request("WARD-VALIDATE", message.to_owned())
}

impl FhirService {
    pub(crate) async fn operation(
        &self,
        name: &str,
        target: &OpTarget,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        match (name, target) {
            ("validate", OpTarget::Type(t)) => self.validate_op(*t, None, req).await,
            ("validate", OpTarget::Instance(t, id)) => self.validate_op(*t, Some(id), req).await,
            _ => Err(CoreError::NotFound {
                message: "no such operation here".into(),
            }),
        }
    }

    async fn validate_op(
        &self,
        t: ResourceType,
        id: Option<&str>,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        let inputs = inputs(req)?;
        let mut issues = Vec::new();
        if let Some(p) = &inputs.profile
            && *p != base_profile(t)
        {
            issues.push(Issue::error(
                "not-supported",
                "only the base R4 StructureDefinition of the type can be validated against",
            ));
        }
        let stored = match id {
            Some(id) => {
                let s = self.store.read(t.as_str(), id).await?;
                Some(s.ok_or_else(|| crate::read::not_found(t))?)
            }
            None => None,
        };
        let resource =
            match (inputs.mode, inputs.resource, stored) {
                (Mode::Delete, _, None) => return Err(bad("mode=delete needs an instance")),
                (Mode::Delete, _, Some(s)) if s.body.is_none() => {
                    return Err(CoreError::Gone {
                        version: s.meta.version,
                    });
                }
                (Mode::Delete, _, Some(_)) => None,
                (Mode::Update, _, None) => return Err(bad("mode=update needs an instance")),
                (Mode::Create, _, Some(_)) => {
                    return Err(bad("mode=create is for the type level ([type]/$validate)"));
                }
                (_, Some(r), _) => Some(r),
                (_, None, Some(s)) => match &s.body {
                    Some(b) => Some(serde_json::from_slice(b).map_err(|_| {
                        CoreError::Internal("a stored resource does not parse".into())
                    })?),
                    None => {
                        return Err(CoreError::Gone {
                            version: s.meta.version,
                        });
                    }
                },
                (_, None, None) => {
                    return Err(CoreError::bad_request(
                        "WARD-BODY",
                        "the request needs a resource in its body",
                    ));
                }
            };
        if let Some(resource) = &resource {
            check_type(resource, t)?;
            let body_id = resource.get("id").and_then(Value::as_str);
            if inputs.mode == Mode::Update && body_id != id {
                issues.push(Issue::error(
                    "invariant",
                    "for mode=update the resource id must equal the id in the URL",
                ));
            }
            issues.extend(validation_issues(resource, t));
        }
        if issues.is_empty() {
            issues.push(Issue::info("informational", "the resource is valid"));
        }
        let mut r = FhirResponse::json(200, operation_outcome(&issues));
        r.phi = false;
        Ok(r)
    }
}

fn base_profile(t: ResourceType) -> String {
    format!("http://hl7.org/fhir/StructureDefinition/{t}")
}

/// Reads the resource, `mode` and `profile` from a Parameters body, a bare resource body, or
/// the query string (a parameter given in both places is refused).
fn inputs(req: &FhirRequest) -> CoreResult<Inputs> {
    let body = req
        .body
        .as_ref()
        .filter(|b| !b.is_empty())
        .map(|_| parse_body(req.body.as_ref()))
        .transpose()?;
    let mut resource = None;
    let mut mode: Option<String> = None;
    let mut profile: Option<String> = None;
    match body {
        Some(b) if b.get("resourceType").and_then(Value::as_str) == Some("Parameters") => {
            for p in b
                .get("parameter")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                match p.get("name").and_then(Value::as_str) {
                    Some("resource") => resource = p.get("resource").cloned(),
                    Some("mode") => mode = value_string(p, "valueCode"),
                    Some("profile") => profile = value_string(p, "valueUri"),
                    _ => {}
                }
            }
        }
        other => resource = other,
    }
    for (k, v) in &req.params {
        let slot = match k.as_str() {
            "mode" => &mut mode,
            "profile" => &mut profile,
            _ => continue,
        };
        if slot.is_some() {
            return Err(bad("a $validate parameter is given twice"));
        }
        *slot = Some(v.clone());
    }
    let mode = match mode.as_deref() {
        None => Mode::Content,
        Some("create") => Mode::Create,
        Some("update") => Mode::Update,
        Some("delete") => Mode::Delete,
        Some(_) => return Err(bad("mode must be create, update or delete")),
    };
    Ok(Inputs {
        resource,
        mode,
        profile,
    })
}

fn value_string(p: &Value, key: &str) -> Option<String> {
    p.get(key)
        .or_else(|| p.get("valueString"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}
