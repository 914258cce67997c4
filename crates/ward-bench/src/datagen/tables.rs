//! Code and name tables the generator draws from: LOINC vital signs and labs with UCUM units,
//! SNOMED CT conditions, encounter types and allergies, RxNorm medications, and person names
//! (some with accents and apostrophes, so that servers' string normalisation is exercised).

pub const LOINC: &str = "http://loinc.org";
pub const SNOMED: &str = "http://snomed.info/sct";
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
pub const UCUM: &str = "http://unitsofmeasure.org";
pub const MRN_SYSTEM: &str = "http://hospital.example.org/fhir/sid/mrn";
pub const SSN_SYSTEM: &str = "http://hl7.org/fhir/sid/us-ssn";

/// A quantitative observation kind: LOINC code and display, UCUM unit, the value range in
/// units of 10^-scale, and the decimal scale.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measure {
    pub code: &'static str,
    pub display: &'static str,
    pub unit: &'static str,
    pub lo: i64,
    pub hi: i64,
    pub scale: u32,
}

const fn m(
    code: &'static str,
    display: &'static str,
    unit: &'static str,
    lo: i64,
    hi: i64,
    scale: u32,
) -> Measure {
    Measure {
        code,
        display,
        unit,
        lo,
        hi,
        scale,
    }
}

/// Vital signs recorded at every encounter (body weight, height and BMI are derived, blood
/// pressure is a panel with components; see `clinical`).
pub const VITALS: [Measure; 4] = [
    m("8867-4", "Heart rate", "/min", 52, 112, 0),
    m("9279-1", "Respiratory rate", "/min", 11, 22, 0),
    m("8310-5", "Body temperature", "Cel", 361, 384, 1),
    m(
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
        91,
        100,
        0,
    ),
];
pub const WEIGHT: Measure = m("29463-7", "Body weight", "kg", 450, 1200, 1);
pub const HEIGHT: Measure = m("8302-2", "Body height", "cm", 1500, 1950, 1);
pub const BMI: Measure = m("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 0, 0, 1);
pub const BP_PANEL: (&str, &str) = ("85354-9", "Blood pressure panel with all children optional");
pub const SYSTOLIC: Measure = m("8480-6", "Systolic blood pressure", "mm[Hg]", 98, 168, 0);
pub const DIASTOLIC: Measure = m("8462-4", "Diastolic blood pressure", "mm[Hg]", 58, 104, 0);

/// Laboratory results, with reference ranges (low, high) in the same scaled units.
pub const LABS: [(Measure, i64, i64); 7] = [
    (
        m(
            "2345-7",
            "Glucose [Mass/volume] in Serum or Plasma",
            "mg/dL",
            68,
            210,
            0,
        ),
        70,
        99,
    ),
    (
        m(
            "718-7",
            "Hemoglobin [Mass/volume] in Blood",
            "g/dL",
            105,
            178,
            1,
        ),
        120,
        175,
    ),
    (
        m(
            "2160-0",
            "Creatinine [Mass/volume] in Serum or Plasma",
            "mg/dL",
            55,
            160,
            2,
        ),
        60,
        130,
    ),
    (
        m(
            "2093-3",
            "Cholesterol [Mass/volume] in Serum or Plasma",
            "mg/dL",
            130,
            290,
            0,
        ),
        0,
        200,
    ),
    (
        m(
            "4548-4",
            "Hemoglobin A1c/Hemoglobin.total in Blood",
            "%",
            45,
            98,
            1,
        ),
        40,
        56,
    ),
    (
        m(
            "2823-3",
            "Potassium [Moles/volume] in Serum or Plasma",
            "mmol/L",
            33,
            55,
            1,
        ),
        35,
        51,
    ),
    (
        m(
            "2951-2",
            "Sodium [Moles/volume] in Serum or Plasma",
            "mmol/L",
            132,
            147,
            0,
        ),
        136,
        145,
    ),
];

/// Every LOINC code the generator can emit on an Observation.
pub fn observation_codes() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = VITALS.iter().map(|m| m.code).collect();
    v.extend([WEIGHT.code, HEIGHT.code, BMI.code, BP_PANEL.0]);
    v.extend(LABS.iter().map(|(m, _, _)| m.code));
    v
}

/// Encounter types: SNOMED code, display, v3 ActCode class.
pub const ENCOUNTER_TYPES: [(&str, &str, &str); 5] = [
    ("185349003", "Encounter for check up (procedure)", "AMB"),
    (
        "162673000",
        "General examination of patient (procedure)",
        "AMB",
    ),
    ("185345009", "Encounter for symptom (procedure)", "AMB"),
    ("50849002", "Emergency room admission (procedure)", "EMER"),
    ("32485007", "Hospital admission (procedure)", "IMP"),
];

/// Conditions (SNOMED CT): code, display, chronic (never resolved).
pub const CONDITIONS: [(&str, &str, bool); 10] = [
    ("44054006", "Diabetes mellitus type 2 (disorder)", true),
    (
        "38341003",
        "Hypertensive disorder, systemic arterial (disorder)",
        true,
    ),
    ("195967001", "Asthma (disorder)", true),
    ("55822004", "Hyperlipidemia (disorder)", true),
    ("271737000", "Anemia (disorder)", false),
    ("162864005", "Body mass index 30+ - obesity (finding)", true),
    ("10509002", "Acute bronchitis (disorder)", false),
    ("444814009", "Viral sinusitis (disorder)", false),
    ("40055000", "Chronic sinusitis (disorder)", true),
    ("68496003", "Polyp of colon (disorder)", false),
];

/// Medications (RxNorm): code, display, dosage text.
pub const MEDICATIONS: [(&str, &str, &str); 8] = [
    (
        "314076",
        "lisinopril 10 MG Oral Tablet",
        "Take 1 tablet by mouth once daily",
    ),
    (
        "197361",
        "amlodipine 5 MG Oral Tablet",
        "Take 1 tablet by mouth once daily",
    ),
    (
        "860975",
        "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
        "Take 1 tablet by mouth daily with the evening meal",
    ),
    (
        "259255",
        "atorvastatin 80 MG Oral Tablet",
        "Take 1 tablet by mouth at bedtime",
    ),
    (
        "310798",
        "hydrochlorothiazide 25 MG Oral Tablet",
        "Take 1 tablet by mouth every morning",
    ),
    (
        "895994",
        "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
        "Inhale 2 puffs twice daily",
    ),
    (
        "745679",
        "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
        "Inhale 2 puffs every 4 hours as needed",
    ),
    (
        "313782",
        "acetaminophen 325 MG Oral Tablet",
        "Take 2 tablets by mouth every 6 hours as needed",
    ),
];

/// Allergies (SNOMED CT): code, display, category.
pub const ALLERGIES: [(&str, &str, &str); 6] = [
    ("91936005", "Allergy to penicillin (finding)", "medication"),
    ("300916003", "Latex allergy (finding)", "environment"),
    ("91935009", "Allergy to peanuts (finding)", "food"),
    (
        "418689008",
        "Allergy to grass pollen (finding)",
        "environment",
    ),
    (
        "232347008",
        "Dander (animal) allergy (finding)",
        "environment",
    ),
    ("417532002", "Allergy to fish (finding)", "food"),
];

/// Reaction manifestations (SNOMED CT).
pub const REACTIONS: [(&str, &str); 4] = [
    ("271807003", "Eruption of skin (disorder)"),
    ("247472004", "Wheal (finding)"),
    ("267036007", "Dyspnea (finding)"),
    ("39579001", "Anaphylaxis (disorder)"),
];

pub const FAMILY: [&str; 32] = [
    "Smith",
    "Smithson",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "García",
    "Miller",
    "Müller",
    "Davis",
    "Rodríguez",
    "Martínez",
    "Hernández",
    "López",
    "Nuñez",
    "Nguyen",
    "Kim",
    "O'Brien",
    "Dvořák",
    "Kowalski",
    "Øberg",
    "Lefèvre",
    "Novák",
    "Schröder",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
];
pub const GIVEN_FEMALE: [&str; 16] = [
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Zoë",
    "Chloé",
    "Renée",
    "Inés",
    "Ana",
    "María",
    "Sofía",
    "Agnieszka",
    "Åsa",
    "Léa",
    "Emily",
    "Grace",
];
pub const GIVEN_MALE: [&str; 16] = [
    "James",
    "John",
    "Robert",
    "Michael",
    "José",
    "Jürgen",
    "Łukasz",
    "François",
    "Søren",
    "André",
    "Mårten",
    "Ángel",
    "David",
    "William",
    "Noah",
    "Liam",
];
pub const STREETS: [&str; 8] = [
    "Maple Street",
    "Oak Avenue",
    "Cedar Lane",
    "Elm Street",
    "Pine Road",
    "Rue du Marché",
    "Calle Mayor",
    "Birch Court",
];
/// City, state, ZIP prefix.
pub const CITIES: [(&str, &str, &str); 6] = [
    ("Springfield", "MA", "011"),
    ("Worcester", "MA", "016"),
    ("Boston", "MA", "021"),
    ("Providence", "RI", "029"),
    ("Hartford", "CT", "061"),
    ("Burlington", "VT", "054"),
];
