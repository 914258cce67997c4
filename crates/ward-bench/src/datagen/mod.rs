//! `ward-bench gen`: a deterministic generator of linked patient records (Patient, Encounter,
//! Observation, Condition, MedicationRequest, AllergyIntolerance) written as FHIR transaction
//! Bundles. Patient `k` under seed `s` depends only on `(s, k)`: the same seed gives
//! byte-identical output, and any patient can be generated on its own.

mod clinical;
mod date;
mod rng;
mod tables;

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

pub use clinical::{Entry, ObsFact, dec};
pub use date::{civil_from_days, days_from_civil};
pub use rng::Rng;
pub use tables::{MRN_SYSTEM, observation_codes};

use clinical::{Clinical, concept};

/// The last day of the generated timeline (fixed, never the wall clock): 2025-12-31.
pub const LAST_DAY: (i64, u32, u32) = (2025, 12, 31);
/// The first year in which encounters happen.
pub const FIRST_ENCOUNTER_YEAR: i64 = 2012;

/// What a load phase needs to know about a generated patient to build searches and check
/// their answers.
#[derive(Debug, Clone)]
pub struct Summary {
    pub index: u64,
    pub family: String,
    pub given: String,
    pub mrn: String,
    pub birth_date: String,
    pub observations: Vec<ObsFact>,
    pub conditions: usize,
}

/// One generated patient: the Patient entry first, then its clinical resources.
#[derive(Debug, Clone)]
pub struct GeneratedPatient {
    pub entries: Vec<Entry>,
    pub summary: Summary,
}

/// Generates patient `index` under `seed`.
pub fn patient(seed: u64, index: u64) -> GeneratedPatient {
    let mut rng = Rng::stream(seed, index);
    let last_day = days_from_civil(LAST_DAY.0, LAST_DAY.1, LAST_DAY.2);
    let birth_day = rng.range(days_from_civil(1930, 1, 1), days_from_civil(2020, 12, 31));
    let (resource, family, given) = patient_resource(&mut rng, seed, index, birth_day);
    let patient_url = format!("urn:uuid:{}", rng.uuid());
    let mrn = mrn(seed, index);
    let mut c = Clinical {
        rng: &mut rng,
        patient: patient_url.clone(),
        birth_day,
        entries: vec![Entry {
            full_url: patient_url,
            resource_type: "Patient",
            resource,
        }],
        observations: Vec::new(),
    };
    let first = (birth_day + 365).max(days_from_civil(FIRST_ENCOUNTER_YEAR, 1, 1));
    let n_enc = c.rng.range(2, 6);
    let mut days: Vec<i64> = (0..n_enc).map(|_| c.rng.range(first, last_day)).collect();
    days.sort_unstable();
    let mut conditions = 0;
    for (i, &day) in days.iter().enumerate() {
        let enc = c.encounter(day);
        if i == 0 || c.rng.chance(25) {
            c.condition(&enc, day, last_day);
            conditions += 1;
        }
        if c.rng.chance(35) {
            c.medication_request(&enc, day, last_day);
        }
    }
    let allergies = c.rng.range(0, 2);
    for _ in 0..allergies {
        let day = c.rng.range(first, last_day);
        c.allergy(day);
    }
    let summary = Summary {
        index,
        family,
        given,
        mrn,
        birth_date: date::date(birth_day),
        observations: std::mem::take(&mut c.observations),
        conditions,
    };
    GeneratedPatient {
        entries: c.entries,
        summary,
    }
}

/// The medical record number of patient `index` under `seed` (unique per seed and index).
pub fn mrn(seed: u64, index: u64) -> String {
    format!("S{seed}-{index:07}")
}

fn patient_resource(
    rng: &mut Rng,
    seed: u64,
    index: u64,
    birth_day: i64,
) -> (Value, String, String) {
    let female = rng.chance(50);
    let gender = match rng.below(100) {
        0 => "other",
        1 => "unknown",
        _ if female => "female",
        _ => "male",
    };
    let names = if female {
        &tables::GIVEN_FEMALE
    } else {
        &tables::GIVEN_MALE
    };
    let family = rng.pick(&tables::FAMILY);
    let given = rng.pick(names);
    let mut given_names = vec![given];
    if rng.chance(40) {
        given_names.push(rng.pick(names));
    }
    let (city, state, zip) = rng.pick(&tables::CITIES);
    let line = format!("{} {}", rng.range(1, 999), rng.pick(&tables::STREETS));
    let mr_type = concept(
        "http://terminology.hl7.org/CodeSystem/v2-0203",
        "MR",
        "Medical record number",
    );
    let mut resource = json!({
        "resourceType": "Patient",
        "identifier": [
            { "use": "usual", "type": mr_type, "system": MRN_SYSTEM, "value": mrn(seed, index) },
            { "system": tables::SSN_SYSTEM,
              "value": format!("999-{:02}-{:04}", rng.range(10, 99), rng.range(0, 9999)) },
        ],
        "active": true,
        "name": [{ "use": "official", "family": family, "given": given_names }],
        "telecom": [{ "system": "phone", "value": format!("555-01{:02}", rng.range(0, 99)), "use": "home" }],
        "gender": gender,
        "birthDate": date::date(birth_day),
        "address": [{
            "use": "home", "line": [line], "city": city, "state": state,
            "postalCode": format!("{zip}{:02}", rng.range(1, 99)), "country": "US",
        }],
    });
    add_language(rng, &mut resource);
    (resource, family.to_owned(), given.to_owned())
}

/// A preferred language for one patient in five.
fn add_language(rng: &mut Rng, resource: &mut Value) {
    if rng.chance(20)
        && let Some(obj) = resource.as_object_mut()
    {
        let lang = rng.pick(&[
            ("es", "Spanish"),
            ("fr", "French"),
            ("pl", "Polish"),
            ("de", "German"),
        ]);
        obj.insert(
            "communication".into(),
            json!([{ "language": concept("urn:ietf:bcp:47", lang.0, lang.1), "preferred": true }]),
        );
    }
}

/// A transaction Bundle that creates every resource of `patients` (POST per entry, fullUrl
/// `urn:uuid:`, references between entries by those fullUrls).
pub fn transaction_bundle(patients: &[GeneratedPatient]) -> Value {
    let entries: Vec<Value> = patients
        .iter()
        .flat_map(|p| p.entries.iter())
        .map(|e| {
            json!({
                "fullUrl": e.full_url,
                "resource": e.resource,
                "request": { "method": "POST", "url": e.resource_type },
            })
        })
        .collect();
    json!({ "resourceType": "Bundle", "type": "transaction", "entry": entries })
}

/// Options of `ward-bench gen`.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub seed: u64,
    pub patients: u64,
    pub per_bundle: u64,
    pub pretty: bool,
}

fn bundles(opts: &GenOptions) -> impl Iterator<Item = (u64, Value)> + '_ {
    let per = opts.per_bundle.max(1);
    (0..opts.patients.div_ceil(per)).map(move |b| {
        let start = b * per;
        let end = (start + per).min(opts.patients);
        let ps: Vec<GeneratedPatient> = (start..end).map(|i| patient(opts.seed, i)).collect();
        (b, transaction_bundle(&ps))
    })
}

fn encode(v: &Value, pretty: bool) -> serde_json::Result<Vec<u8>> {
    if pretty {
        serde_json::to_vec_pretty(v)
    } else {
        serde_json::to_vec(v)
    }
}

/// Writes one Bundle per line (NDJSON; `pretty` is ignored) to `out`.
pub fn write_ndjson(opts: &GenOptions, out: &mut dyn Write) -> std::io::Result<()> {
    for (_, bundle) in bundles(opts) {
        out.write_all(&encode(&bundle, false)?)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes `DIR/bundle-NNNNNN.json`, one Bundle per file. Returns the number of files.
pub fn write_dir(opts: &GenOptions, dir: &Path) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut n = 0;
    for (b, bundle) in bundles(opts) {
        let mut bytes = encode(&bundle, opts.pretty)?;
        bytes.push(b'\n');
        std::fs::write(dir.join(format!("bundle-{b:06}.json")), bytes)?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
