//! Validation issues: location, OperationOutcome issue-type code, safe message.

use std::fmt;

/// OperationOutcome `issue.code` values that validation uses (R4 valueset-issue-type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueCode {
    /// Wrong JSON shape: unknown element, array vs single, empty, null, bad primitive extension.
    Structure,
    /// A required element (min ≥ 1) is missing.
    Required,
    /// A primitive value has the wrong format or range.
    Value,
    /// A code is not in the value set of a required binding.
    CodeInvalid,
    /// An invariant of the specification is violated (ext-1, dom-2, dom-4, dom-5).
    Invariant,
    /// Content is invalid in its context (resourceType mismatch, unknown type, reference target).
    Invalid,
}

impl IssueCode {
    /// The FHIR code, e.g. `code-invalid`.
    pub fn as_str(&self) -> &'static str {
        match self {
            IssueCode::Structure => "structure",
            IssueCode::Required => "required",
            IssueCode::Value => "value",
            IssueCode::CodeInvalid => "code-invalid",
            IssueCode::Invariant => "invariant",
            IssueCode::Invalid => "invalid",
        }
    }
}

impl fmt::Display for IssueCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validation error. Every issue is an error (severity `error`).
///
/// `message` names rules, element names and types (facts of the specification) but never an
/// input value, which may be PHI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Issue type.
    pub code: IssueCode,
    /// FHIRPath-style location using JSON names, e.g. `Patient.name[0].given[1]`.
    pub expression: String,
    /// Human-readable explanation.
    pub message: String,
}
