//! A generated clinical data set and an independent oracle for search results: plain Rust over
//! the generated values (no indexer, no FHIRPath), implementing search.html's matching rules.

#![allow(dead_code, clippy::manual_is_multiple_of)]

mod harness;
pub use harness::*;

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

pub const BASE: &str = "https://ward.test/fhir";
pub const LOINC: &str = "http://loinc.org";
pub const VS_URL: &str = "http://example.org/fhir/ValueSet/bp";

#[derive(Debug, Clone)]
pub struct Pat {
    pub id: String,
    pub family: String,
    pub given: Vec<String>,
    /// (system, value, type code)
    pub ident: Vec<(Option<String>, String, Option<String>)>,
    pub birth: Option<String>,
    pub gender: Option<String>,
    pub active: bool,
    pub gp: Option<String>,
}

#[derive(Debug, Clone)]
pub enum When {
    At(String),
    Period(Option<String>, Option<String>),
    Nothing,
}

#[derive(Debug, Clone)]
pub struct Obs {
    pub id: String,
    pub subject: Option<String>,
    pub code: (String, String),
    pub when: When,
    /// (value text, unit code)
    pub value: Option<(String, String)>,
    /// component code-value pairs
    pub components: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Med {
    pub id: String,
    pub subject: String,
    pub requester: String,
    pub authored: String,
}

#[derive(Debug, Clone)]
pub struct Risk {
    pub id: String,
    pub subject: String,
    pub probability: String,
}

#[derive(Debug, Clone)]
pub struct Data {
    pub practitioners: Vec<(String, String)>,
    pub patients: Vec<Pat>,
    pub observations: Vec<Obs>,
    pub meds: Vec<Med>,
    pub risks: Vec<Risk>,
}

const FAMILIES: [&str; 12] = [
    "Smith",
    "SMITH",
    "Smíth",
    "Smithson",
    "Jones",
    "Müller",
    "Mueller",
    "Østergaard",
    "García",
    "garcia",
    "Nguyễn",
    "O'Brien",
];
const GIVENS: [&str; 6] = ["Jörg", "Jorg", "Anna", "Ånna", "Élodie", "Zoë"];
const BIRTHS: [Option<&str>; 10] = [
    Some("1970"),
    Some("1970-02"),
    Some("1970-02-03"),
    Some("1969-12-31"),
    Some("1971-01-01"),
    Some("1970-12-31"),
    Some("1985-06-15"),
    Some("2001"),
    None,
    Some("1970-02-04"),
];
const CODES: [&str; 5] = ["8480-6", "8462-4", "29463-7", "8867-4", "2339-0"];
const WHENS: [&str; 8] = [
    "2019-12-31T23:59:59Z",
    "2020-01-01T00:00:00Z",
    "2020-06-15T10:00:00Z",
    "2020-01",
    "2021",
    "P:2020-01-01T00:00:00Z:",
    "P::2019-06-01T00:00:00Z",
    "P:2019-03-01:2020-02-01",
];
const VALUES: [&str; 10] = [
    "5.4", "5.35", "5.45", "5.449", "100", "100.4", "99.5", "120", "80", "0.1",
];

/// A small deterministic generator (LCG).
pub struct Rng(u64);

impl Rng {
    pub fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }
}

pub fn generate(n_patients: usize, observations: usize) -> Data {
    let mut r = Rng(42);
    let practitioners = vec![
        ("d1".to_owned(), "House".to_owned()),
        ("d2".to_owned(), "Wilson".to_owned()),
        ("d3".to_owned(), "Hausmann".to_owned()),
    ];
    let patients: Vec<Pat> = (0..n_patients)
        .map(|i| {
            let mut ident = vec![(
                Some("urn:mrn".to_owned()),
                format!("MRN{i}"),
                Some("MR".to_owned()),
            )];
            if i % 3 == 0 {
                ident.push((None, format!("X{i}"), None));
            }
            if i % 4 == 0 {
                ident.push((Some("urn:other".to_owned()), format!("O{}", i % 5), None));
            }
            Pat {
                id: format!("p{i}"),
                family: FAMILIES[i % FAMILIES.len()].to_owned(),
                given: vec![GIVENS[r.next(GIVENS.len())].to_owned()],
                ident,
                birth: BIRTHS[i % BIRTHS.len()].map(str::to_owned),
                gender: match i % 3 {
                    0 => Some("female".into()),
                    1 => Some("male".into()),
                    _ => None,
                },
                active: i % 2 == 0,
                gp: (i % 5 != 4).then(|| format!("d{}", 1 + i % 3)),
            }
        })
        .collect();
    let observations = (0..observations)
        .map(|i| {
            let w = WHENS[r.next(WHENS.len())];
            let when = if i % 11 == 10 {
                When::Nothing
            } else if let Some(p) = w.strip_prefix("P:") {
                let (a, b) = p.split_once(':').unwrap_or(("", ""));

                // "P:2020-01-01T00:00:00Z:" splits inside the time; rebuild from known shapes
                match w {
                    "P:2020-01-01T00:00:00Z:" => {
                        When::Period(Some("2020-01-01T00:00:00Z".into()), None)
                    }
                    "P::2019-06-01T00:00:00Z" => {
                        When::Period(None, Some("2019-06-01T00:00:00Z".into()))
                    }
                    _ => When::Period(
                        Some(a.to_owned()).filter(|s| !s.is_empty()),
                        Some(b.to_owned()).filter(|s| !s.is_empty()),
                    ),
                }
            } else {
                When::At(w.to_owned())
            };
            let code = CODES[r.next(CODES.len())].to_owned();
            let value = (i % 7 != 6).then(|| {
                let unit = if r.next(3) == 0 { "g" } else { "mg" };
                (VALUES[r.next(VALUES.len())].to_owned(), unit.to_owned())
            });
            let components = if code == "8480-6" {
                vec![("8462-4".to_owned(), VALUES[r.next(VALUES.len())].to_owned())]
            } else {
                Vec::new()
            };
            Obs {
                id: format!("o{i}"),
                subject: (i % 13 != 12).then(|| format!("p{}", r.next(patients.len().max(1)))),
                code: (LOINC.to_owned(), code),
                when,
                value,
                components,
            }
        })
        .collect();
    let meds = (0..n_patients / 2)
        .map(|i| Med {
            id: format!("m{i}"),
            subject: format!("p{}", (i * 7) % n_patients.max(1)),
            requester: format!("d{}", 1 + i % 3),
            authored: format!("2020-0{}-1{}", 1 + i % 9, i % 10),
        })
        .collect();
    let risks = (0..10)
        .map(|i| Risk {
            id: format!("r{i}"),
            subject: format!("p{i}"),
            probability: ["0.5", "0.25", "0.05", "0.055", "1", "0.75"][i % 6].to_owned(),
        })
        .collect();
    Data {
        practitioners,
        patients,
        observations,
        meds,
        risks,
    }
}

fn when_json(w: &When) -> Option<(&'static str, Value)> {
    match w {
        When::At(s) if s.contains('T') => Some(("effectiveDateTime", json!(s))),
        When::At(s) => Some(("effectiveDateTime", json!(s))),
        When::Period(a, b) => {
            let mut p = serde_json::Map::new();
            if let Some(a) = a {
                p.insert("start".into(), json!(a));
            }
            if let Some(b) = b {
                p.insert("end".into(), json!(b));
            }
            Some(("effectivePeriod", Value::Object(p)))
        }
        When::Nothing => None,
    }
}

pub fn patient_json(p: &Pat) -> Value {
    let mut v = json!({
        "resourceType": "Patient", "id": p.id, "active": p.active,
        "name": [{"family": p.family, "given": p.given}],
        "identifier": p.ident.iter().map(|(s, v, t)| {
            let mut o = serde_json::Map::new();
            if let Some(s) = s { o.insert("system".into(), json!(s)); }
            o.insert("value".into(), json!(v));
            if let Some(t) = t {
                o.insert("type".into(), json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": t}]}));
            }
            Value::Object(o)
        }).collect::<Vec<_>>(),
    });
    if let Some(b) = &p.birth {
        v["birthDate"] = json!(b);
    }
    if let Some(g) = &p.gender {
        v["gender"] = json!(g);
    }
    if let Some(gp) = &p.gp {
        v["generalPractitioner"] = json!([{"reference": format!("Practitioner/{gp}")}]);
    }
    v
}

pub fn observation_json(o: &Obs) -> Value {
    let display = if o.code.1 == "8480-6" {
        "Systolic blood pressure"
    } else {
        "Other measurement"
    };
    let mut v = json!({
        "resourceType": "Observation", "id": o.id, "status": "final",
        "code": {"coding": [{"system": o.code.0, "code": o.code.1, "display": display}]},
    });
    if let Some(s) = &o.subject {
        // every third one uses an absolute URL on our own base
        v["subject"] = if o.id.len() % 3 == 0 {
            json!({"reference": format!("{BASE}/Patient/{s}")})
        } else {
            json!({"reference": format!("Patient/{s}")})
        };
    }
    if let Some((k, w)) = when_json(&o.when) {
        v[k] = w;
    }
    if let Some((val, unit)) = &o.value {
        let n: Value = serde_json::from_str(val).unwrap();
        v["valueQuantity"] =
            json!({"value": n, "system": "http://unitsofmeasure.org", "code": unit, "unit": unit});
    }
    if !o.components.is_empty() {
        v["component"] = Value::Array(o.components.iter().map(|(c, val)| {
            let n: Value = serde_json::from_str(val).unwrap();
            json!({"code": {"coding": [{"system": LOINC, "code": c}]}, "valueQuantity": {"value": n, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}})
        }).collect());
    }
    v
}

pub fn all_resources(d: &Data) -> Vec<Value> {
    let mut out: Vec<Value> = d
        .practitioners
        .iter()
        .map(|(id, name)| json!({"resourceType": "Practitioner", "id": id, "name": [{"family": name}]}))
        .collect();
    out.extend(d.patients.iter().map(patient_json));
    out.extend(d.observations.iter().map(observation_json));
    out.extend(d.meds.iter().map(|m| json!({
        "resourceType": "MedicationRequest", "id": m.id, "status": "active", "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1049502"}]},
        "subject": {"reference": format!("Patient/{}", m.subject)},
        "requester": {"reference": format!("Practitioner/{}", m.requester)},
        "authoredOn": m.authored,
    })));
    out.extend(d.risks.iter().map(|r| {
        let n: Value = serde_json::from_str(&r.probability).unwrap();
        json!({"resourceType": "RiskAssessment", "id": r.id, "status": "final",
            "subject": {"reference": format!("Patient/{}", r.subject)},
            "prediction": [{"probabilityDecimal": n}]})
    }));
    out.push(json!({"resourceType": "ValueSet", "id": "vs1", "url": VS_URL, "status": "active",
        "compose": {"include": [{"system": LOINC, "concept": [{"code": "8480-6"}, {"code": "8462-4"}]}]}}));
    out.push(json!({"resourceType": "ValueSet", "id": "vs2", "url": "http://example.org/fhir/ValueSet/bp/v2", "status": "active"}));
    out
}

/// The transaction Bundle that loads `resources` with PUT (ids known to the oracle).
pub fn transaction(resources: &[Value]) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": resources.iter().map(|r| json!({
        "resource": r,
        "request": {"method": "PUT", "url": format!("{}/{}", r["resourceType"].as_str().unwrap(), r["id"].as_str().unwrap())}
    })).collect::<Vec<_>>()})
}

// ---------------------------------------------------------------- oracle rules

/// Case and accent folding, written out for the characters the data set uses. `Ø` has no
/// decomposition in Unicode, so it stays (lower-cased).
pub fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'í' | 'Í' => 'i',
            'ü' | 'Ü' => 'u',
            'ö' | 'Ö' => 'o',
            'å' | 'Å' => 'a',
            'é' | 'É' => 'e',
            'ë' => 'e',
            'ễ' => 'e',
            c => c.to_lowercase().next().unwrap_or(c),
        })
        .collect()
}

pub const US: i128 = 1_000_000;

fn day_start(y: i32, m: u8, d: u8) -> i128 {
    let date = Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap();
    i128::from(date.midnight().assume_utc().unix_timestamp()) * US
}

/// `[lo, hi)` of a FHIR date/dateTime value (UTC when there is no zone).
pub fn range(s: &str) -> (i128, i128) {
    match s.len() {
        4 => {
            let y: i32 = s.parse().unwrap();
            (day_start(y, 1, 1), day_start(y + 1, 1, 1))
        }
        7 => {
            let y: i32 = s[..4].parse().unwrap();
            let m: u8 = s[5..7].parse().unwrap();
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (day_start(y, m, 1), day_start(ny, nm, 1))
        }
        10 => {
            let y: i32 = s[..4].parse().unwrap();
            let m: u8 = s[5..7].parse().unwrap();
            let d: u8 = s[8..10].parse().unwrap();
            let lo = day_start(y, m, d);
            (lo, lo + 86_400 * US)
        }
        _ => {
            let t = OffsetDateTime::parse(s, &Rfc3339).unwrap();
            let lo = i128::from(t.unix_timestamp()) * US;
            (lo, lo + US)
        }
    }
}

pub fn when_range(w: &When) -> Option<(i128, i128)> {
    match w {
        When::At(s) => Some(range(s)),
        When::Period(a, b) => Some((
            a.as_deref().map_or(i128::MIN, |a| range(a).0),
            b.as_deref().map_or(i128::MAX, |b| range(b).1),
        )),
        When::Nothing => None,
    }
}

/// search.html#prefix for a target range against a search range.
pub fn date_matches(prefix: &str, t: (i128, i128), s: (i128, i128)) -> bool {
    let (tlo, thi) = t;
    let (lo, hi) = s;
    let eq = tlo >= lo && thi <= hi;
    match prefix {
        "eq" => eq,
        "ne" => !eq,
        "gt" => thi > hi,
        "lt" => tlo < lo,
        "ge" => thi > hi || eq,
        "le" => tlo < lo || eq,
        "sa" => tlo >= hi,
        "eb" => thi <= lo,
        _ => unreachable!(),
    }
}

/// A decimal text as an exact count of millionths.
pub fn micros(s: &str) -> i64 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let neg = int.starts_with('-');
    let int: i64 = int.trim_start_matches('-').parse().unwrap_or(0);
    let mut f = frac.to_owned();
    while f.len() < 6 {
        f.push('0');
    }
    let v = int * 1_000_000 + f[..6].parse::<i64>().unwrap();
    if neg { -v } else { v }
}

/// Implicit precision range of a decimal search value (`5.4` → `[5.35, 5.45)`), in millionths.
pub fn precision(s: &str) -> (i64, i64) {
    let v = micros(s);
    let decimals = s.split_once('.').map_or(0, |(_, f)| f.len()) as u32;
    let half = 5 * 10i64.pow(5 - decimals);
    (v - half, v + half)
}

pub fn number_matches(prefix: &str, target: &str, search: &str) -> bool {
    let t = micros(target);
    let v = micros(search);
    let (lo, hi) = precision(search);
    match prefix {
        "eq" => t >= lo && t < hi,
        "ne" => !(t >= lo && t < hi),
        "gt" | "sa" => t > v,
        "lt" | "eb" => t < v,
        "ge" => t >= v,
        "le" => t <= v,
        "ap" => (t - v).abs() * 10 <= v.abs(),
        _ => unreachable!(),
    }
}
