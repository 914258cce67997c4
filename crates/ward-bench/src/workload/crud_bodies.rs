//! The resources of the `crud` iteration: valid R4 bodies with every required element (Claim
//! and ExplanationOfBenefit carry a contained Coverage for their required `insurance`), linked
//! by `Type/id` references to what the iteration created before, and the change each update
//! makes (as the Health Samurai benchmark does: a status, name, gender or date flips).

use serde_json::{Value, json};

/// The creation order (deletion runs in reverse).
pub const TYPES: [&str; 9] = [
    "Patient",
    "Location",
    "Organization",
    "Practitioner",
    "Encounter",
    "Observation",
    "MedicationRequest",
    "Claim",
    "ExplanationOfBenefit",
];

const SNOMED: &str = "http://snomed.info/sct";

fn r(reference: String) -> Value {
    json!({ "reference": reference })
}

fn cc(system: &str, code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": system, "code": code, "display": display }], "text": display })
}

fn money(cents: i64) -> Value {
    json!({ "value": crate::datagen::dec(cents, 2), "currency": "USD" })
}

fn address() -> Value {
    json!({ "use": "work", "line": ["1 Benchmark Way"], "city": "Springfield", "state": "MA",
            "postalCode": "01103", "country": "US" })
}

/// The body that creates `rtype`; `refs("Patient")` gives `Patient/<id>` of this iteration.
pub fn create(rtype: &str, refs: &dyn Fn(&str) -> String, tag: u64) -> Value {
    match rtype {
        "Patient" => json!({
            "resourceType": "Patient",
            "identifier": [{ "system": "http://example.org/fhir/sid/ward-bench", "value": format!("crud-{tag}") }],
            "active": true,
            "name": [{ "use": "official", "family": "Benchmark", "given": ["Crud", "Cycle"] }],
            "telecom": [{ "system": "phone", "value": "555-0100", "use": "home" }],
            "gender": "female",
            "birthDate": "1980-05-17",
            "address": [address()],
        }),
        "Location" => json!({
            "resourceType": "Location",
            "status": "active",
            "name": format!("Bench Clinic {tag}"),
            "mode": "instance",
            "type": [cc("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "HOSP", "Hospital")],
            "address": address(),
            "physicalType": cc("http://terminology.hl7.org/CodeSystem/location-physical-type", "bu", "Building"),
        }),
        "Organization" => json!({
            "resourceType": "Organization",
            "identifier": [{ "system": "http://example.org/fhir/sid/ward-bench-org", "value": format!("org-{tag}") }],
            "active": true,
            "type": [cc("http://terminology.hl7.org/CodeSystem/organization-type", "prov", "Healthcare Provider")],
            "name": format!("Bench Health {tag}"),
            "telecom": [{ "system": "phone", "value": "555-0101", "use": "work" }],
            "address": [address()],
        }),
        "Practitioner" => json!({
            "resourceType": "Practitioner",
            "identifier": [{ "system": "http://example.org/fhir/sid/ward-bench-prac", "value": format!("prac-{tag}") }],
            "active": true,
            "name": [{ "family": "Osler", "given": ["William"], "prefix": ["Dr."] }],
            "telecom": [{ "system": "email", "value": "osler@example.org", "use": "work" }],
            "gender": "male",
        }),
        "Encounter" => encounter(refs),
        "Observation" => observation(refs),
        "MedicationRequest" => medication_request(refs),
        "Claim" => claim(refs),
        _ => explanation_of_benefit(refs),
    }
}

fn encounter(refs: &dyn Fn(&str) -> String) -> Value {
    json!({
        "resourceType": "Encounter",
        "status": "finished",
        "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory" },
        "type": [cc(SNOMED, "185349003", "Encounter for check up (procedure)")],
        "subject": r(refs("Patient")),
        "participant": [{ "individual": r(refs("Practitioner")) }],
        "period": { "start": "2024-03-01T09:00:00Z", "end": "2024-03-01T09:30:00Z" },
        "location": [{ "location": r(refs("Location")) }],
        "serviceProvider": r(refs("Organization")),
    })
}

fn observation(refs: &dyn Fn(&str) -> String) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "vital-signs", "display": "Vital Signs" }] }],
        "code": cc("http://loinc.org", "8867-4", "Heart rate"),
        "subject": r(refs("Patient")),
        "encounter": r(refs("Encounter")),
        "effectiveDateTime": "2024-03-01T09:10:00Z",
        "issued": "2024-03-01T09:12:00Z",
        "valueQuantity": { "value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min" },
    })
}

fn medication_request(refs: &dyn Fn(&str) -> String) -> Value {
    json!({
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": cc("http://www.nlm.nih.gov/research/umls/rxnorm", "314076", "lisinopril 10 MG Oral Tablet"),
        "subject": r(refs("Patient")),
        "encounter": r(refs("Encounter")),
        "authoredOn": "2024-03-01T09:20:00Z",
        "requester": r(refs("Practitioner")),
        "dosageInstruction": [{ "sequence": 1, "text": "Take 1 tablet by mouth once daily" }],
    })
}

fn coverage(refs: &dyn Fn(&str) -> String) -> Value {
    json!({
        "resourceType": "Coverage",
        "id": "coverage",
        "status": "active",
        "beneficiary": r(refs("Patient")),
        "payor": [r(refs("Organization"))],
    })
}

fn claim_type() -> Value {
    cc(
        "http://terminology.hl7.org/CodeSystem/claim-type",
        "professional",
        "Professional",
    )
}

fn service() -> Value {
    cc(SNOMED, "185349003", "Encounter for check up (procedure)")
}

fn claim(refs: &dyn Fn(&str) -> String) -> Value {
    json!({
        "resourceType": "Claim",
        "contained": [coverage(refs)],
        "status": "active",
        "type": claim_type(),
        "use": "claim",
        "patient": r(refs("Patient")),
        "billablePeriod": { "start": "2024-03-01T09:00:00Z", "end": "2024-03-01T09:30:00Z" },
        "created": "2024-03-01T10:00:00Z",
        "provider": r(refs("Organization")),
        "priority": cc("http://terminology.hl7.org/CodeSystem/processpriority", "normal", "Normal"),
        "prescription": r(refs("MedicationRequest")),
        "insurance": [{ "sequence": 1, "focal": true, "coverage": { "reference": "#coverage" } }],
        "item": [{ "sequence": 1, "productOrService": service(),
                   "encounter": [r(refs("Encounter"))], "net": money(12_500) }],
        "total": money(12_500),
    })
}

fn explanation_of_benefit(refs: &dyn Fn(&str) -> String) -> Value {
    let submitted = cc(
        "http://terminology.hl7.org/CodeSystem/adjudication",
        "submitted",
        "Submitted Amount",
    );
    json!({
        "resourceType": "ExplanationOfBenefit",
        "contained": [coverage(refs)],
        "status": "active",
        "type": claim_type(),
        "use": "claim",
        "patient": r(refs("Patient")),
        "billablePeriod": { "start": "2024-03-01T09:00:00Z", "end": "2024-03-01T09:30:00Z" },
        "created": "2024-03-02T10:00:00Z",
        "insurer": r(refs("Organization")),
        "provider": r(refs("Practitioner")),
        "claim": r(refs("Claim")),
        "outcome": "complete",
        "careTeam": [{ "sequence": 1, "provider": r(refs("Practitioner")),
                       "role": cc("http://terminology.hl7.org/CodeSystem/claimcareteamrole", "primary", "Primary provider") }],
        "insurance": [{ "focal": true, "coverage": { "reference": "#coverage" } }],
        "item": [{
            "sequence": 1, "careTeamSequence": [1], "productOrService": service(),
            "encounter": [r(refs("Encounter"))], "net": money(12_500),
            "adjudication": [{ "category": submitted.clone(), "amount": money(12_500) }],
        }],
        "total": [{ "category": submitted, "amount": money(12_500) }],
        "payment": { "amount": money(10_000) },
    })
}

fn flip(obj: &mut serde_json::Map<String, Value>, key: &str, a: &str, b: &str) {
    let next = if obj.get(key).and_then(Value::as_str) == Some(a) {
        b
    } else {
        a
    };
    obj.insert(key.into(), json!(next));
}

/// The change an update makes to `resource` (in place).
pub fn change(resource: &mut Value) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    let rtype = obj
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match rtype.as_str() {
        "Patient" | "Practitioner" => flip(obj, "gender", "unknown", "other"),
        "Location" | "Organization" => {
            let name = obj.get("name").and_then(Value::as_str).unwrap_or_default();
            let next = format!("{name}-u");
            obj.insert("name".into(), json!(next));
        }
        "Encounter" => flip(obj, "status", "finished", "in-progress"),
        "MedicationRequest" => flip(obj, "status", "on-hold", "active"),
        "Observation" => flip(
            obj,
            "issued",
            "2024-03-01T09:12:00Z",
            "2024-03-01T09:15:00Z",
        ),
        _ => flip(
            obj,
            "created",
            "2024-03-01T10:00:00Z",
            "2024-03-02T11:00:00Z",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(t: &str) -> String {
        format!("{t}/x1")
    }

    #[test]
    fn every_body_is_valid_before_and_after_its_change() {
        for t in TYPES {
            let mut v = create(t, &refs, 7);
            assert_eq!(v["resourceType"], t);
            let issues = ward_model::validate(&v, Some(t));
            assert!(issues.is_empty(), "{t}: {issues:?}");
            let before = v.clone();
            change(&mut v);
            assert_ne!(before, v, "{t}: the update changes something");
            v["id"] = json!("x1");
            let issues = ward_model::validate(&v, Some(t));
            assert!(issues.is_empty(), "{t} updated: {issues:?}");
        }
    }

    #[test]
    fn references_follow_the_creation_order() {
        for (i, t) in TYPES.iter().enumerate() {
            let text = create(t, &refs, 1).to_string();
            for later in TYPES.iter().skip(i) {
                assert!(
                    !text.contains(&format!("\"{later}/")),
                    "{t} refers to {later}"
                );
            }
        }
    }
}
