//! Builders for the clinical resources of a generated patient: Encounter, Observation (vital
//! signs and labs), Condition, MedicationRequest and AllergyIntolerance. Every value is drawn
//! from the caller's [`Rng`]; nothing reads the clock.

use serde_json::{Map, Value, json};

use super::date::{date, date_time, year};
use super::rng::Rng;
use super::tables::{self, LOINC, Measure, RXNORM, SNOMED, UCUM};

const OBS_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

/// What the generator remembers about one Observation (for search expectations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObsFact {
    pub code: &'static str,
    pub year: i64,
}

/// One resource of a generated patient, addressed by its `urn:uuid:` fullUrl.
#[derive(Debug, Clone)]
pub struct Entry {
    pub full_url: String,
    pub resource_type: &'static str,
    pub resource: Value,
}

/// An exact decimal `v × 10^-scale` as a JSON number (kept as written, thanks to
/// serde_json's `arbitrary_precision`).
pub fn dec(v: i64, scale: u32) -> Value {
    let text = if scale == 0 {
        v.to_string()
    } else {
        let p = 10_i64.pow(scale);
        let sign = if v < 0 { "-" } else { "" };
        let (a, b) = (v.abs() / p, v.abs() % p);
        format!("{sign}{a}.{b:0width$}", width = scale as usize)
    };
    text.parse::<serde_json::Number>()
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

pub fn reference(full_url: &str) -> Value {
    json!({ "reference": full_url })
}

pub fn concept(system: &str, code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": system, "code": code, "display": display }], "text": display })
}

fn status_concept(system: &str, code: &str) -> Value {
    json!({ "coding": [{ "system": system, "code": code }] })
}

fn quantity(m: &Measure, v: i64) -> Value {
    json!({ "value": dec(v, m.scale), "unit": m.unit, "system": UCUM, "code": m.unit })
}

/// The per-patient builder state: the patient's fullUrl, its age window, and what was built.
pub struct Clinical<'r> {
    pub rng: &'r mut Rng,
    pub patient: String,
    pub birth_day: i64,
    pub entries: Vec<Entry>,
    pub observations: Vec<ObsFact>,
}

impl Clinical<'_> {
    fn push(&mut self, resource_type: &'static str, resource: Value) -> String {
        let full_url = format!("urn:uuid:{}", self.rng.uuid());
        self.entries.push(Entry {
            full_url: full_url.clone(),
            resource_type,
            resource,
        });
        full_url
    }

    /// An Encounter on `day`, with its vital signs and, sometimes, labs. Returns its fullUrl.
    pub fn encounter(&mut self, day: i64) -> String {
        let (code, display, class) = self.rng.pick(&tables::ENCOUNTER_TYPES);
        let start = self.rng.range(7 * 3600, 17 * 3600);
        let minutes = if class == "IMP" { 2 * 24 * 60 } else { 30 };
        let end = start + 60 * self.rng.range(15, minutes);
        let resource = json!({
            "resourceType": "Encounter",
            "status": "finished",
            "class": { "system": ACT_CODE, "code": class },
            "type": [concept(SNOMED, code, display)],
            "subject": reference(&self.patient),
            "period": { "start": date_time(day, start), "end": date_time(day, end) },
        });
        let enc = self.push("Encounter", resource);
        let when = date_time(day, start + 600);
        self.vitals(&enc, day, &when);
        if self.rng.chance(40) {
            let n = self.rng.range(1, 4);
            for _ in 0..n {
                let lab = self.rng.pick(&tables::LABS);
                self.lab(&enc, day, &when, lab);
            }
        }
        enc
    }

    fn observation(
        &mut self,
        category: &str,
        m: (&'static str, &str),
        ctx: (&str, &str),
    ) -> Map<String, Value> {
        let (encounter, when) = ctx;
        let display = if category == "vital-signs" {
            "Vital Signs"
        } else {
            "Laboratory"
        };
        let mut o = Map::new();
        o.insert("resourceType".into(), json!("Observation"));
        o.insert("status".into(), json!("final"));
        o.insert(
            "category".into(),
            json!([{ "coding": [{ "system": OBS_CATEGORY, "code": category, "display": display }] }]),
        );
        o.insert("code".into(), concept(LOINC, m.0, m.1));
        o.insert("subject".into(), reference(&self.patient));
        o.insert("encounter".into(), reference(encounter));
        o.insert("effectiveDateTime".into(), json!(when));
        o
    }

    fn record(&mut self, code: &'static str, day: i64, o: Map<String, Value>) {
        self.observations.push(ObsFact {
            code,
            year: year(day),
        });
        self.push("Observation", Value::Object(o));
    }

    fn vitals(&mut self, enc: &str, day: i64, when: &str) {
        let child = (day - self.birth_day) < 12 * 365;
        for m in tables::VITALS {
            let mut o = self.observation("vital-signs", (m.code, m.display), (enc, when));
            let v = self.rng.range(m.lo, m.hi);
            o.insert("valueQuantity".into(), quantity(&m, v));
            self.record(m.code, day, o);
        }
        let (w_lo, w_hi, h_lo, h_hi) = if child {
            (100, 450, 800, 1500)
        } else {
            (
                tables::WEIGHT.lo,
                tables::WEIGHT.hi,
                tables::HEIGHT.lo,
                tables::HEIGHT.hi,
            )
        };
        let w = self.rng.range(w_lo, w_hi);
        let h = self.rng.range(h_lo, h_hi);
        let bmi = w * 1_000_000 / (h * h).max(1);
        for (m, v) in [(tables::WEIGHT, w), (tables::HEIGHT, h), (tables::BMI, bmi)] {
            let mut o = self.observation("vital-signs", (m.code, m.display), (enc, when));
            o.insert("valueQuantity".into(), quantity(&m, v));
            self.record(m.code, day, o);
        }
        self.blood_pressure(enc, day, when);
    }

    fn blood_pressure(&mut self, enc: &str, day: i64, when: &str) {
        let (code, display) = tables::BP_PANEL;
        let mut o = self.observation("vital-signs", (code, display), (enc, when));
        let components: Vec<Value> = [tables::SYSTOLIC, tables::DIASTOLIC]
            .iter()
            .map(|m| {
                let v = self.rng.range(m.lo, m.hi);
                json!({ "code": concept(LOINC, m.code, m.display), "valueQuantity": quantity(m, v) })
            })
            .collect();
        o.insert("component".into(), Value::Array(components));
        self.record(code, day, o);
    }

    fn lab(&mut self, enc: &str, day: i64, when: &str, lab: (Measure, i64, i64)) {
        let (m, low, high) = lab;
        let mut o = self.observation("laboratory", (m.code, m.display), (enc, when));
        let v = self.rng.range(m.lo, m.hi);
        o.insert("valueQuantity".into(), quantity(&m, v));
        let mut range = Map::new();
        if low > 0 {
            range.insert("low".into(), quantity(&m, low));
        }
        range.insert("high".into(), quantity(&m, high));
        o.insert("referenceRange".into(), json!([Value::Object(range)]));
        self.record(m.code, day, o);
    }

    /// A Condition diagnosed at encounter `enc` on `day`; acute ones are resolved later.
    pub fn condition(&mut self, enc: &str, day: i64, last_day: i64) {
        let (code, display, chronic) = self.rng.pick(&tables::CONDITIONS);
        let clinical_sys = "http://terminology.hl7.org/CodeSystem/condition-clinical";
        let resolved = !chronic && day + 30 < last_day;
        let mut c = Map::new();
        c.insert("resourceType".into(), json!("Condition"));
        let status = if resolved { "resolved" } else { "active" };
        c.insert(
            "clinicalStatus".into(),
            status_concept(clinical_sys, status),
        );
        c.insert(
            "verificationStatus".into(),
            status_concept(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "confirmed",
            ),
        );
        let category = if chronic {
            "problem-list-item"
        } else {
            "encounter-diagnosis"
        };
        c.insert(
            "category".into(),
            json!([status_concept(
                "http://terminology.hl7.org/CodeSystem/condition-category",
                category
            )]),
        );
        c.insert("code".into(), concept(SNOMED, code, display));
        c.insert("subject".into(), reference(&self.patient));
        c.insert("encounter".into(), reference(enc));
        c.insert("onsetDateTime".into(), json!(date(day)));
        if resolved {
            let end = day + self.rng.range(7, 30);
            c.insert("abatementDateTime".into(), json!(date(end)));
        }
        c.insert("recordedDate".into(), json!(date(day)));
        self.push("Condition", Value::Object(c));
    }

    /// A MedicationRequest ordered at encounter `enc` on `day`.
    pub fn medication_request(&mut self, enc: &str, day: i64, last_day: i64) {
        let (code, display, text) = self.rng.pick(&tables::MEDICATIONS);
        let status = if day + 365 < last_day && self.rng.chance(50) {
            "completed"
        } else {
            "active"
        };
        let resource = json!({
            "resourceType": "MedicationRequest",
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": concept(RXNORM, code, display),
            "subject": reference(&self.patient),
            "encounter": reference(enc),
            "authoredOn": date_time(day, self.rng.range(8 * 3600, 18 * 3600)),
            "dosageInstruction": [{ "sequence": 1, "text": text }],
        });
        self.push("MedicationRequest", resource);
    }

    /// An AllergyIntolerance recorded on `day`.
    pub fn allergy(&mut self, day: i64) {
        let (code, display, category) = self.rng.pick(&tables::ALLERGIES);
        let (r_code, r_display) = self.rng.pick(&tables::REACTIONS);
        let criticality = if r_code == "39579001" { "high" } else { "low" };
        let severity = if r_code == "39579001" {
            "severe"
        } else {
            "mild"
        };
        let resource = json!({
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": status_concept(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active"),
            "verificationStatus": status_concept(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed"),
            "type": "allergy",
            "category": [category],
            "criticality": criticality,
            "code": concept(SNOMED, code, display),
            "patient": reference(&self.patient),
            "recordedDate": date(day),
            "reaction": [{
                "manifestation": [concept(SNOMED, r_code, r_display)],
                "severity": severity,
            }],
        });
        self.push("AllergyIntolerance", resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        let s = |v| serde_json::to_string(&v).unwrap();
        assert_eq!(s(dec(1234, 2)), "12.34");
        assert_eq!(s(dec(5, 2)), "0.05");
        assert_eq!(s(dec(-375, 1)), "-37.5");
        assert_eq!(s(dec(72, 0)), "72");
    }
}
