//! FHIR R4 resource JSON for Ward: parsing with exact decimals, structural validation against
//! the embedded definitions, reference parsing, and `_summary` / `_elements` shaping.
//!
//! ```
//! let body = br#"{"resourceType":"Patient","gender":"x","birthDate":"2020-13-01"}"#;
//! let resource = ward_model::parse(body).unwrap();
//! let issues = ward_model::validate(&resource, Some("Patient"));
//! assert_eq!(issues.len(), 2);
//! assert_eq!(issues[0].expression, "Patient.gender");
//! ```

mod datetime;
mod error;
mod issue;
mod parse;
mod primitive;
pub mod reference;
mod shape;
mod validate;

pub use error::ModelError;
pub use issue::{Issue, IssueCode};
pub use parse::{MAX_DEPTH, parse, resource_type};
pub use reference::{Reference, ReferenceError, parse_reference};
pub use shape::{SUBSETTED_CODE, SUBSETTED_SYSTEM, SummaryMode, select_elements, summarize};
pub use validate::validate;
