//! The patient picker's search: Patients by name, run through the FHIR service as the
//! signed-in user (a `user/Patient.rs` principal with the user's role), so the search is
//! authorized and audited like any other.

use serde_json::Value;
use ward_auth::{Principal, PrincipalKind, ScopeSet};
use ward_core::{CoreError, FhirRequest, Interaction, RequestContext, ResourceType};
use ward_store::auth::UserRecord;

use super::pages::PickRow;
use crate::AppState;

/// Most rows the picker shows.
const ROWS: usize = 20;

fn display_name(p: &Value) -> String {
    let Some(n) = p
        .get("name")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    else {
        return String::new();
    };
    if let Some(t) = n.get("text").and_then(Value::as_str) {
        return t.to_owned();
    }
    let given: Vec<&str> = n
        .get("given")
        .and_then(Value::as_array)
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let family = n.get("family").and_then(Value::as_str).unwrap_or("");
    format!("{} {family}", given.join(" ")).trim().to_owned()
}

/// The picker acts for clinicians and admins only (patients are bound to their own record).
fn context(user: &UserRecord, ip: &str) -> Result<RequestContext, CoreError> {
    if !matches!(user.role.as_str(), "clinician" | "admin") {
        return Err(CoreError::Forbidden {
            message: "only clinicians and admins pick patients".into(),
        });
    }
    let scopes =
        ScopeSet::parse("user/Patient.rs").map_err(|_| CoreError::Internal("scope".into()))?;
    let mut principal = Principal::new(&user.id, PrincipalKind::User, scopes, i64::MAX);
    principal.role = Some(user.role.clone());
    principal.fhir_user = user.fhir_user.clone();
    Ok(RequestContext {
        principal,
        request_id: uuid::Uuid::new_v4().to_string(),
        client_ip: (ip != "unknown").then(|| ip.to_owned()),
        user_agent: None,
    })
}

fn patient_type() -> Result<ResourceType, CoreError> {
    ResourceType::parse("Patient").ok_or_else(|| CoreError::Internal("type".into()))
}

/// True if `Patient/{id}` exists (read as the user, so the read is audited).
pub(crate) async fn exists(
    app: &AppState,
    user: &UserRecord,
    id: &str,
    ip: &str,
) -> Result<bool, CoreError> {
    let ctx = context(user, ip)?;
    match app
        .fhir
        .handle(
            &ctx,
            FhirRequest::new(Interaction::Read(patient_type()?, id.to_owned())),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(CoreError::NotFound { .. } | CoreError::Gone { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Searches Patients whose name starts with `name`.
pub(crate) async fn search(
    app: &AppState,
    user: &UserRecord,
    name: &str,
    ip: &str,
) -> Result<Vec<PickRow>, CoreError> {
    let ctx = context(user, ip)?;
    let patient = patient_type()?;
    let mut req = FhirRequest::new(Interaction::SearchType(patient));
    req.params = vec![
        ("name".into(), name.to_owned()),
        ("_count".into(), ROWS.to_string()),
    ];
    let resp = app.fhir.handle(&ctx, req).await?;
    let bundle = resp
        .body
        .and_then(|b| b.into_value())
        .unwrap_or(Value::Null);
    let rows = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e.get("resource"))
                .filter_map(|p| {
                    Some(PickRow {
                        id: p.get("id")?.as_str()?.to_owned(),
                        name: display_name(p),
                        birth_date: p
                            .get("birthDate")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(rows)
}
