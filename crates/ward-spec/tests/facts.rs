//! Pins facts of the FHIR R4 4.0.1 definitions (resource list, element shapes, bindings,
//! search parameters, compartments) as exposed by ward-spec.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::print_stderr)] // test helpers

use ward_spec::{Max, Membership, SearchParamType, TypeKind, r4};

#[test]
fn artifacts_load() {
    assert_eq!(ward_spec::load_status(), Ok(()));
}

#[test]
fn resource_types() {
    let s = r4();
    let n = s.resource_types().len();
    assert!(n >= 140, "only {n} resource types");
    assert_eq!(n, 146);
    assert!(s.is_resource_type("Patient"));
    assert!(s.is_resource_type("Bundle"));
    assert!(!s.is_resource_type("DomainResource"), "abstract");
    assert!(!s.is_resource_type("HumanName"), "datatype");
    assert!(!s.is_resource_type("SubscriptionStatus"), "R4B, not R4");
    assert!(!s.is_resource_type("patient"));
    let dr = s.type_def("DomainResource").unwrap();
    assert!(dr.is_abstract);
    assert_eq!(dr.base.as_deref(), Some("Resource"));
    assert_eq!(
        s.type_def("Patient").unwrap().base.as_deref(),
        Some("DomainResource")
    );
}

#[test]
fn datatypes_and_primitives() {
    let s = r4();
    assert_eq!(s.type_def("HumanName").unwrap().kind, TypeKind::ComplexType);
    let dt = s.type_def("dateTime").unwrap();
    assert_eq!(dt.kind, TypeKind::PrimitiveType);
    assert!(s.element("dateTime.value").unwrap().regex.is_some());
    assert_eq!(
        s.type_def("positiveInt").unwrap().base.as_deref(),
        Some("integer")
    );
    let sq = s.type_def("SimpleQuantity").unwrap();
    assert!(sq.is_constraint);
    assert_eq!(sq.prohibited, ["comparator"]);
}

#[test]
fn patient_gender_binding() {
    let s = r4();
    let g = s.element("Patient.gender").unwrap();
    assert_eq!(
        g.binding_url(),
        Some("http://hl7.org/fhir/ValueSet/administrative-gender")
    );
    let vs = g.binding_url().unwrap();
    let mut codes: Vec<&str> = s
        .valueset_codes(vs)
        .unwrap()
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, ["female", "male", "other", "unknown"]);
    assert_eq!(
        s.code_in_valueset(vs, None, "male"),
        Membership::Enumerable(true)
    );
    assert_eq!(
        s.code_in_valueset(vs, None, "x"),
        Membership::Enumerable(false)
    );
    let sys = "http://hl7.org/fhir/administrative-gender";
    assert_eq!(
        s.code_in_valueset(vs, Some(sys), "female"),
        Membership::Enumerable(true)
    );
    assert_eq!(
        s.code_in_valueset(vs, Some("http://other"), "female"),
        Membership::Enumerable(false)
    );
    let versioned = "http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1";
    assert_eq!(
        s.code_in_valueset(versioned, None, "male"),
        Membership::Enumerable(true)
    );
}

#[test]
fn not_enumerable_and_unknown_valuesets() {
    let s = r4();
    let mime = s
        .element("Attachment.contentType")
        .unwrap()
        .binding_url()
        .unwrap();
    assert_eq!(
        s.code_in_valueset(mime, None, "text/plain"),
        Membership::NotEnumerable
    );
    assert_eq!(
        s.code_in_valueset("http://example.org/vs", None, "a"),
        Membership::Unknown
    );
    assert!(
        s.element("Patient.maritalStatus")
            .unwrap()
            .required_binding
            .is_none(),
        "extensible"
    );
}

#[test]
fn observation_elements() {
    let s = r4();
    let v = s.element("Observation.value[x]").unwrap();
    assert!(v.is_choice);
    assert_eq!(v.name, "value");
    assert_eq!(v.types.len(), 11);
    assert!(v.is_summary);
    let status = s.element("Observation.status").unwrap();
    assert_eq!((status.min, status.max), (1, Max::Count(1)));
    assert!(status.is_modifier);
    let subject = s
        .element("Observation.subject")
        .unwrap()
        .single_type()
        .unwrap();
    assert_eq!(
        subject.target_types().collect::<Vec<_>>(),
        ["Patient", "Group", "Device", "Location"]
    );
    assert!(s.element("Observation.component").unwrap().is_array());
    let p = s.resolve_property("Observation", "valueQuantity").unwrap();
    assert_eq!(p.element.path, "Observation.value[x]");
    assert_eq!(p.type_ref.unwrap().code, "Quantity");
    assert!(s.resolve_property("Observation", "valueFoo").is_none());
    assert!(s.resolve_property("Observation", "value").is_none());
    assert_eq!(
        s.element("Observation.valueQuantity.value").unwrap().path,
        "Quantity.value"
    );
}

#[test]
fn ids_and_nested_types() {
    let s = r4();
    let id = s.element("Patient.id").unwrap();
    assert_eq!(id.single_type().unwrap().code, "id");
    assert!(id.is_attribute);
    let eid = s.element("HumanName.id").unwrap();
    assert_eq!(eid.single_type().unwrap().code, "string");
    assert_eq!(
        s.element("Patient.name.given").unwrap().path,
        "HumanName.given"
    );
    let names: Vec<&str> = s
        .children("Patient.contact")
        .unwrap()
        .elements()
        .map(|e| e.name.as_str())
        .collect();
    assert!(names.contains(&"relationship") && names.contains(&"modifierExtension"));
    assert!(
        s.element("Meta.accounts").is_none(),
        "Medplum addition is dropped"
    );
    assert!(s.element("Meta.lastUpdated").is_some());
}

#[test]
fn content_reference_resolution() {
    let s = r4();
    let item = s.element("Questionnaire.item.item").unwrap();
    assert_eq!(
        item.content_reference.as_deref(),
        Some("#Questionnaire.item")
    );
    let deep = s.element("Questionnaire.item.item.item.linkId").unwrap();
    assert_eq!(deep.path, "Questionnaire.item.linkId");
    let p = s
        .resolve_property("Questionnaire.item.item", "answerOption")
        .unwrap();
    assert_eq!(p.element.path, "Questionnaire.item.answerOption");
    assert!(s.element("Questionnaire.item.nope").is_none());
}

#[test]
fn search_parameters() {
    let s = r4();
    let codes: Vec<&str> = s
        .search_params("Patient")
        .map(|p| p.code.as_str())
        .collect();
    for c in [
        "_id",
        "_lastUpdated",
        "_tag",
        "_profile",
        "_security",
        "_source",
        "_text",
        "_content",
        "name",
        "birthdate",
    ] {
        assert!(codes.contains(&c), "Patient lacks {c}");
    }
    assert!(
        !s.search_params("Bundle").any(|p| p.code == "_text"),
        "Bundle is not a DomainResource"
    );
    let cvq = s
        .search_param("Observation", "code-value-quantity")
        .unwrap();
    assert_eq!(cvq.kind, SearchParamType::Composite);
    assert_eq!(cvq.component.len(), 2);
    let comp = s.search_param_by_url(&cvq.component[1].definition).unwrap();
    assert_eq!(comp.code, "value-quantity");
    let subj = s.search_param("Observation", "subject").unwrap();
    assert_eq!(subj.kind, SearchParamType::Reference);
    assert!(subj.target.iter().any(|t| t == "Patient"));
    assert_eq!(
        s.search_param("Patient", "_lastUpdated")
            .unwrap()
            .expression
            .as_deref(),
        Some("Resource.meta.lastUpdated")
    );
    assert!(s.search_param("Patient", "nope").is_none());
    assert!(
        s.search_param("DeviceDefinition", "classification")
            .is_none(),
        "R5 back-port dropped"
    );
}

#[test]
fn compartments() {
    let s = r4();
    assert_eq!(
        s.compartments(),
        [
            "Device",
            "Encounter",
            "Patient",
            "Practitioner",
            "RelatedPerson"
        ]
    );
    assert_eq!(
        s.compartment_params("Patient", "Observation"),
        ["subject", "performer"]
    );
    assert_eq!(s.compartment_params("Patient", "Patient"), ["link"]);
    assert_eq!(s.compartment_params("Encounter", "Encounter"), ["{def}"]);
    assert!(s.compartment_params("Patient", "Organization").is_empty());
    assert!(s.compartment_params("Nope", "Observation").is_empty());
    assert!(
        s.compartment_resource_types("Patient")
            .contains(&"Condition")
    );
}
