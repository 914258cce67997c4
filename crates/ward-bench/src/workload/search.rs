//! `search`: a round-robin mix of common clinical searches over the loaded set, with
//! parameters drawn from the generated data. Before the measurement, [`probe`] runs each kind
//! once and checks the answer against what the loaded data guarantees, so that a server which
//! ignores a parameter (and so answers fast and wrong) is visible in the report.

use http::Method;
use serde_json::Value;

use super::LoadedPatient;
use crate::client::{Client, Session};
use crate::datagen::{FIRST_ENCOUNTER_YEAR, LAST_DAY, MRN_SYSTEM, ObsFact, Rng};
use crate::report::ProbeRow;
use crate::run::Worker;

pub const OPS: [&str; 8] = [
    "Patient?name",
    "Patient?identifier",
    "Patient?birthdate",
    "Observation?patient+code",
    "Observation?date+_sort",
    "Condition?patient",
    "Observation?_include",
    "Patient?_revinclude",
];
const LOINC: &str = "http://loinc.org";
/// Codes every encounter records (vital signs), used by the `_include` query.
const INCLUDE_CODES: [&str; 4] = ["8867-4", "9279-1", "8310-5", "29463-7"];

/// The `search` workload over a loaded set.
#[derive(Debug, Clone)]
pub struct SearchPlan {
    pub patients: Vec<LoadedPatient>,
    /// `_count` sent with every search.
    pub page: u64,
}

/// One search: relative URL and the least number of matches the loaded data guarantees on
/// its first page.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub url: String,
    pub expected_min: u64,
}

/// Percent-encodes a query parameter value (everything but RFC 3986 unreserved bytes).
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl SearchPlan {
    fn count<F: Fn(&LoadedPatient) -> u64>(&self, f: F) -> u64 {
        self.patients.iter().map(f).sum()
    }

    fn observations_where<F: Fn(&ObsFact) -> bool>(&self, f: F) -> u64 {
        self.count(|q| q.summary.observations.iter().filter(|o| f(o)).count() as u64)
    }

    /// Builds query kind `op` (an index into [`OPS`]) with parameters drawn from `rng`.
    pub fn query(&self, op: usize, rng: &mut Rng) -> Option<Query> {
        let p = self
            .patients
            .get(rng.below(self.patients.len() as u64) as usize)?;
        let (url, expected) = match op {
            0 => {
                let prefix: String = p.summary.family.to_lowercase().chars().take(3).collect();
                let n =
                    self.count(|q| u64::from(q.summary.family.to_lowercase().starts_with(&prefix)));
                (format!("Patient?name={}", pct(&prefix)), n)
            }
            1 => {
                let id = pct(&format!("{MRN_SYSTEM}|{}", p.summary.mrn));
                (format!("Patient?identifier={id}"), 1)
            }
            2 => {
                let d = &p.summary.birth_date;
                let n = self.count(|q| u64::from(&q.summary.birth_date == d));
                (format!("Patient?birthdate={d}"), n)
            }
            3 => Self::by_patient_and_code(p, rng)?,
            4 => {
                let y = rng.range(FIRST_ENCOUNTER_YEAR, LAST_DAY.0);
                let n = self.observations_where(|o| o.year == y);
                let next = y + 1;
                let url = format!("Observation?date=ge{y}-01-01&date=lt{next}-01-01&_sort=-date");
                (url, n)
            }
            5 => {
                let n = p.summary.conditions as u64;
                (format!("Condition?patient={}", p.id), n)
            }
            6 => {
                let code = rng.pick(&INCLUDE_CODES);
                let n = self.observations_where(|o| o.code == code);
                let c = pct(&format!("{LOINC}|{code}"));
                (
                    format!("Observation?code={c}&_include=Observation:patient"),
                    n,
                )
            }
            _ => {
                let url = format!("Patient?_id={}&_revinclude=Observation:patient", p.id);
                (url, 1)
            }
        };
        Some(Query {
            url: format!("{url}&_count={}", self.page),
            expected_min: expected.min(self.page),
        })
    }

    /// `Observation?patient=&code=` with a code the patient has, and how often it has it.
    fn by_patient_and_code(p: &LoadedPatient, rng: &mut Rng) -> Option<(String, u64)> {
        let obs = &p.summary.observations;
        let code = obs.get(rng.below(obs.len() as u64) as usize)?.code;
        let n = obs.iter().filter(|o| o.code == code).count() as u64;
        let c = pct(&format!("{LOINC}|{code}"));
        Some((format!("Observation?patient={}&code={c}", p.id), n))
    }

    pub async fn step(&self, w: &mut Worker) {
        let op = (w.next_seq() as usize + w.index) % OPS.len();
        if let Some(q) = self.query(op, &mut w.rng) {
            w.call(op, Method::GET, &q.url, None).await;
        }
    }
}

/// Matches, included resources and `total` of a searchset Bundle.
pub fn inspect(body: &[u8]) -> Option<(u64, u64, Option<u64>)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if v.get("resourceType")?.as_str()? != "Bundle" {
        return None;
    }
    let (mut matches, mut included) = (0, 0);
    for e in v
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match e.pointer("/search/mode").and_then(Value::as_str) {
            Some("include") => included += 1,
            Some("outcome") => {}
            _ => matches += 1,
        }
    }
    Some((matches, included, v.get("total").and_then(Value::as_u64)))
}

/// Runs every search kind once and checks its answer.
pub async fn probe(plan: &SearchPlan, client: &Client, seed: u64) -> Vec<ProbeRow> {
    let mut session = Session::new(client.clone(), 0);
    let mut rng = Rng::stream(seed ^ 0x9_40BE, 0);
    let mut rows = Vec::new();
    for (op, name) in OPS.iter().enumerate() {
        let Some(q) = plan.query(op, &mut rng) else {
            continue;
        };
        let (status, counts) = match session.send(Method::GET, &q.url, None).await {
            Ok(r) => (
                r.status.to_string(),
                r.ok().then(|| inspect(&r.body)).flatten(),
            ),
            Err(f) => (f.as_str().to_owned(), None),
        };
        let (matches, included, total) = match counts {
            Some((m, i, t)) => (Some(m), Some(i), t),
            None => (None, None, None),
        };
        let mut ok = matches.is_some_and(|m| m >= q.expected_min);
        if op == 1 || op == 7 {
            // An id or a unique identifier: more than a page of matches means it was ignored.
            ok &= matches.is_some_and(|m| m < plan.page);
        }
        if op >= 6 {
            ok &= included.is_some_and(|i| i >= 1);
        }
        rows.push(ProbeRow {
            op: (*name).to_owned(),
            query: q.url,
            status,
            matches,
            included,
            total,
            expected_min_matches: q.expected_min,
            ok,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen;

    fn plan() -> SearchPlan {
        let patients = (0..30)
            .map(|i| LoadedPatient {
                id: format!("p{i}"),
                summary: datagen::patient(4, i).summary,
            })
            .collect();
        SearchPlan { patients, page: 20 }
    }

    #[test]
    fn queries_are_well_formed_and_expectations_hold() {
        let plan = plan();
        let mut rng = Rng::new(1);
        for round in 0..50 {
            for (op, name) in OPS.iter().enumerate() {
                let q = plan.query(op, &mut rng).unwrap();
                let pq = format!("/fhir/{}", q.url);
                assert!(pq.parse::<http::uri::PathAndQuery>().is_ok(), "{pq}");
                assert!(q.url.ends_with("&_count=20"));
                assert!(q.expected_min <= 20);
                if op != 4 {
                    assert!(q.expected_min >= 1, "round {round} {name}: {q:?}");
                }
            }
        }
        let q = plan.query(1, &mut rng).unwrap();
        assert!(
            q.url
                .starts_with("Patient?identifier=http%3A%2F%2Fhospital.example.org"),
            "{}",
            q.url
        );
    }

    #[test]
    fn accents_are_percent_encoded() {
        assert_eq!(pct("mül"), "m%C3%BCl");
        assert_eq!(pct("o'b"), "o%27b");
        assert_eq!(pct("a|b c"), "a%7Cb%20c");
    }

    #[test]
    fn searchsets_are_counted() {
        let b = br#"{"resourceType":"Bundle","type":"searchset","total":7,"entry":[
            {"search":{"mode":"match"}},{"search":{"mode":"match"}},{"search":{"mode":"include"}},
            {"search":{"mode":"outcome"}},{}]}"#;
        assert_eq!(inspect(b), Some((3, 1, Some(7))));
        assert_eq!(inspect(br#"{"resourceType":"Bundle"}"#), Some((0, 0, None)));
        assert_eq!(inspect(br#"{"resourceType":"OperationOutcome"}"#), None);
    }
}
