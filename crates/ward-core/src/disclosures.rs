//! `Patient/{id}/$disclosures?start=&end=`: the HIPAA §164.528 accounting of disclosures, built
//! from the audit trail — one entry per successful access to that patient's data: when, who
//! (person, and organisation or app), what was accessed, the action and the purpose. Allowed
//! for the auditor and admin roles, operators, and the patient themselves (a patient-context
//! token for that patient). The report request is itself audited like any other.

use serde_json::{Value, json};
use ward_store::search::SearchQuery;

use crate::{CoreError, CoreResult, FhirRequest, FhirResponse, FhirService, RequestContext};

/// One disclosure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    pub date: String,
    pub who: String,
    pub app: String,
    pub what: Vec<String>,
    pub action: String,
    pub purpose: String,
    pub audit_event: String,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Reads one AuditEvent into a disclosure line (failures and non-data events are skipped).
fn disclosure(ev: &Value) -> Option<Disclosure> {
    if ev.get("outcome").and_then(Value::as_str) != Some("0") {
        return None;
    }
    let agents = ev.get("agent").and_then(Value::as_array)?;
    let user = agents
        .iter()
        .find(|a| a.get("requestor") == Some(&Value::Bool(true)))?;
    let who = user
        .pointer("/who/reference")
        .or_else(|| user.pointer("/who/identifier/value"))
        .map(text)
        .unwrap_or_default();
    let app = agents
        .iter()
        .find_map(|a| {
            a.pointer("/who/identifier")
                .filter(|i| i.get("system").and_then(Value::as_str) == Some("urn:ward:client"))
        })
        .and_then(|i| i.get("value"))
        .map(text)
        .unwrap_or_default();
    let what: Vec<String> = ev
        .get("entity")
        .and_then(Value::as_array)?
        .iter()
        .filter(|e| e.pointer("/role/code").and_then(Value::as_str) == Some("4"))
        .filter_map(|e| e.pointer("/what/reference").map(text))
        .collect();
    let purpose = ev
        .pointer("/purposeOfEvent/0/coding/0/code")
        .map(text)
        .unwrap_or_else(|| "unspecified".into());
    Some(Disclosure {
        date: ev.get("recorded").map(text).unwrap_or_default(),
        who,
        app,
        what,
        action: ev.pointer("/subtype/0/code").map(text).unwrap_or_default(),
        purpose,
        audit_event: format!("AuditEvent/{}", ev.get("id").map(text).unwrap_or_default()),
    })
}

impl FhirService {
    /// Every disclosure of `patient`'s data between `start` and `end` (FHIR dates), oldest
    /// first.
    pub async fn disclosures(
        &self,
        patient: &str,
        start: Option<&str>,
        end: Option<&str>,
    ) -> CoreResult<Vec<Disclosure>> {
        let mut params = vec![
            ("patient".to_owned(), format!("Patient/{patient}")),
            ("_sort".to_owned(), "date".to_owned()),
        ];
        if let Some(s) = start {
            params.push(("date".into(), format!("ge{s}")));
        }
        if let Some(e) = end {
            params.push(("date".into(), format!("le{e}")));
        }
        let opts = self.parse_options(true);
        let parsed = ward_store::search::parse(Some(&["AuditEvent"]), &params, &opts)
            .map_err(|e| CoreError::bad_request(e.code, e.message))?;
        let mut query = SearchQuery {
            count: 500,
            ..parsed.query
        };
        let mut out = Vec::new();
        loop {
            let page = self.search_store(&query).await?;
            for m in &page.matches {
                let Some(mut d) = m
                    .body
                    .as_deref()
                    .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                    .as_ref()
                    .and_then(disclosure)
                else {
                    continue;
                };
                let mut mine = Vec::new();
                for w in d.what.drain(..) {
                    if self.belongs_to(&w, patient).await? {
                        mine.push(w);
                    }
                }
                if !mine.is_empty() {
                    d.what = mine;
                    out.push(d);
                }
            }
            match page.next {
                Some(next) => query.page = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// True if the resource version `reference` (`Type/id/_history/v`, or `Type/id`) was in
    /// `patient`'s compartment. An event that touched several patients lists, in one
    /// patient's accounting, only that patient's resources. The audit trail itself is not
    /// the patient's record and is left out.
    async fn belongs_to(&self, reference: &str, patient: &str) -> CoreResult<bool> {
        let mut parts = reference.split('/');
        let (Some(t), Some(id)) = (parts.next(), parts.next()) else {
            return Ok(false);
        };
        if t == crate::authz::AUDIT_EVENT {
            return Ok(false);
        }
        if t == "Patient" {
            return Ok(id == patient);
        }
        let version = match (parts.next(), parts.next()) {
            (Some("_history"), Some(v)) => v.parse::<u64>().ok(),
            _ => None,
        };
        let mut stored = match version {
            Some(v) => self.store.vread(t, id, v).await?,
            None => self.store.read(t, id).await?,
        };
        // a deletion has no body: the version before it tells whose it was
        while let Some(s) = &stored {
            if s.body.is_some() || s.meta.version <= 1 {
                break;
            }
            stored = self.store.vread(t, id, s.meta.version - 1).await?;
        }
        Ok(stored
            .and_then(|s| s.body)
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|doc| crate::compartment::in_patient_compartment(t, &doc, patient)))
    }

    pub(crate) async fn disclosures_operation(
        &self,
        ctx: &RequestContext,
        patient: &str,
        req: &FhirRequest,
    ) -> CoreResult<FhirResponse> {
        let own = ctx.principal.patient.as_deref() == Some(patient);
        if !own && !crate::authz::may_read_audit(&ctx.principal) {
            return Err(CoreError::Forbidden {
                message: "only the auditor and admin roles, or the patient, may see the accounting"
                    .into(),
            });
        }
        if self.store.read("Patient", patient).await?.is_none() {
            return Err(CoreError::NotFound {
                message: "no Patient with that id".into(),
            });
        }
        let list = self
            .disclosures(patient, req.param("start"), req.param("end"))
            .await?;
        let parameters: Vec<Value> = list
            .iter()
            .map(|d| {
                json!({"name": "disclosure", "part": [
                    {"name": "date", "valueInstant": d.date},
                    {"name": "who", "valueString": d.who},
                    {"name": "app", "valueString": d.app},
                    {"name": "what", "valueString": d.what.join(" ")},
                    {"name": "action", "valueCode": d.action},
                    {"name": "purpose", "valueCode": d.purpose},
                    {"name": "auditEvent", "valueReference": {"reference": d.audit_event}}
                ]})
            })
            .collect();
        let mut r = FhirResponse::json(
            200,
            json!({"resourceType": "Parameters", "parameter": parameters}),
        );
        r.touched = vec![crate::Touched {
            reference: format!("Patient/{patient}"),
            patients: vec![patient.to_owned()],
        }];
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_balp_events() {
        let ev = json!({"resourceType":"AuditEvent","id":"a1","recorded":"2026-11-25T10:00:00Z","outcome":"0",
            "subtype":[{"code":"read"}],
            "agent":[{"requestor":true,"who":{"reference":"Practitioner/7"}},{"requestor":false,"who":{"identifier":{"system":"urn:ward:client","value":"app-1"}}}],
            "entity":[{"what":{"reference":"Patient/p1"},"role":{"code":"1"}},{"what":{"reference":"Observation/o1/_history/1"},"role":{"code":"4"}}],
            "purposeOfEvent":[{"coding":[{"code":"BTG"}]}]});
        let d = disclosure(&ev).unwrap();
        assert_eq!(d.who, "Practitioner/7");
        assert_eq!(d.app, "app-1");
        assert_eq!(d.what, vec!["Observation/o1/_history/1"]);
        assert_eq!(d.purpose, "BTG");
        assert_eq!(d.action, "read");
        let mut failed = ev.clone();
        failed["outcome"] = json!("4");
        assert!(disclosure(&failed).is_none());
    }
}
