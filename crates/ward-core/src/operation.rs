//! Operations: `$validate` at type and instance level (Resource-validate). The resource comes
//! as the body, or as the `resource` parameter of a Parameters body; the answer is always an
//! OperationOutcome (200), listing every issue found.

use serde_json::Value;

use crate::error::operation_outcome;
use crate::resource::{check_type, parse_body, validation_issues};
use crate::{CoreError, CoreResult, FhirRequest, FhirResponse, FhirService, Issue, OpTarget};

impl FhirService {
    pub(crate) async fn operation(
        &self,
        name: &str,
        target: &OpTarget,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        match (name, target) {
            ("validate", OpTarget::Type(t) | OpTarget::Instance(t, _)) => {
                if let OpTarget::Instance(t, id) = target
                    && self.store.read(t.as_str(), id).await?.is_none()
                {
                    return Err(crate::read::not_found(*t));
                }
                let resource = unwrap_parameters(parse_body(req.body.as_ref())?)?;
                check_type(&resource, *t)?;
                let mut issues = validation_issues(&resource, *t);
                if issues.is_empty() {
                    issues.push(Issue::info("informational", "the resource is valid"));
                }
                let mut r = FhirResponse::json(200, operation_outcome(&issues));
                r.phi = false;
                Ok(r)
            }
            _ => Err(CoreError::NotFound {
                message: "no such operation here".into(),
            }),
        }
    }
}

/// `$validate` accepts the resource directly or as `Parameters.parameter[name=resource]`.
fn unwrap_parameters(body: Value) -> CoreResult<Value> {
    if body.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Ok(body);
    }
    body.get("parameter")
        .and_then(Value::as_array)
        .and_then(|ps| {
            ps.iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some("resource"))
        })
        .and_then(|p| p.get("resource").cloned())
        .ok_or_else(|| {
            CoreError::bad_request(
                "WARD-VALIDATE",
                "Parameters must carry a 'resource' parameter",
            )
        })
}
