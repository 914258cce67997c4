//! `crud`: the Health Samurai FHIR server benchmark mix. One iteration creates a Patient,
//! Location, Organization, Practitioner, Encounter, Observation, MedicationRequest, Claim and
//! ExplanationOfBenefit (each referring to the ones before it), reads each, updates each, and
//! deletes each, newest first: 36 requests. A failed create ends the creates of that
//! iteration; what was created is still read, updated and deleted.

use http::Method;
use serde_json::Value;

use super::crud_bodies::{TYPES, change, create};
use super::{body, type_and_id};
use crate::client::Response;
use crate::run::Worker;

pub const OPS: [&str; 4] = ["create", "read", "update", "delete"];
pub const REQUESTS_PER_ITERATION: u64 = 4 * TYPES.len() as u64;
const CREATE: usize = 0;
const READ: usize = 1;
const UPDATE: usize = 2;
const DELETE: usize = 3;

/// The `crud` workload (no preparation needed).
#[derive(Debug, Clone, Default)]
pub struct CrudPlan;

/// The id the server gave a created `rtype`: from `Location`, else from the body.
pub fn created_id(r: &Response, rtype: &str) -> Option<String> {
    if let Some((t, id)) = r.location.as_deref().and_then(type_and_id)
        && t == rtype
    {
        return Some(id);
    }
    let v: Value = serde_json::from_slice(&r.body).ok()?;
    v.get("id").and_then(Value::as_str).map(str::to_owned)
}

impl CrudPlan {
    pub async fn step(&self, w: &mut Worker) {
        let tag = w.next_seq();
        let mut made: Vec<(&'static str, String, Value)> = Vec::with_capacity(TYPES.len());
        for t in TYPES {
            let refs = |want: &str| {
                made.iter()
                    .find(|(mt, _, _)| *mt == want)
                    .map(|(mt, id, _)| format!("{mt}/{id}"))
                    .unwrap_or_default()
            };
            let resource = create(t, &refs, tag);
            let resp = w.call(CREATE, Method::POST, t, Some(body(&resource))).await;
            let Some(id) = resp.filter(Response::ok).and_then(|r| created_id(&r, t)) else {
                break;
            };
            made.push((t, id, resource));
        }
        for (t, id, _) in &made {
            w.call(READ, Method::GET, &format!("{t}/{id}"), None).await;
        }
        for (t, id, resource) in &mut made {
            change(resource);
            if let Some(obj) = resource.as_object_mut() {
                obj.insert("id".into(), Value::String(id.clone()));
            }
            w.call(
                UPDATE,
                Method::PUT,
                &format!("{t}/{id}"),
                Some(body(resource)),
            )
            .await;
        }
        for (t, id, _) in made.iter().rev() {
            w.call(DELETE, Method::DELETE, &format!("{t}/{id}"), None)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_location_or_body() {
        let r = Response {
            status: 201,
            body: bytes::Bytes::from_static(br#"{"resourceType":"Patient","id":"b"}"#),
            location: Some("https://h/fhir/Patient/a/_history/1".into()),
        };
        assert_eq!(created_id(&r, "Patient").as_deref(), Some("a"));
        let r = Response {
            location: None,
            ..r
        };
        assert_eq!(created_id(&r, "Patient").as_deref(), Some("b"));
        assert_eq!(REQUESTS_PER_ITERATION, 36);
    }
}
