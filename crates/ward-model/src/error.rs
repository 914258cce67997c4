//! Errors of this crate, each with a stable machine code.

use thiserror::Error;

/// Why a request body is not a FHIR resource at all (the HTTP layer answers 400).
///
/// Messages never contain input values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    /// The body is not well-formed JSON.
    #[error("body is not valid JSON (line {line}, column {column})")]
    InvalidJson {
        /// 1-based line of the syntax error.
        line: usize,
        /// 1-based column of the syntax error.
        column: usize,
    },
    /// Objects/arrays nest deeper than [`crate::MAX_DEPTH`].
    #[error("JSON nests deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// The root is not a JSON object.
    #[error("a resource must be a JSON object")]
    NotAnObject,
    /// `resourceType` is absent.
    #[error("resourceType is missing")]
    MissingResourceType,
    /// `resourceType` is present but not a string.
    #[error("resourceType must be a string")]
    ResourceTypeNotString,
}

impl ModelError {
    /// Stable, greppable code, e.g. `model.invalid-json`.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::InvalidJson { .. } => "model.invalid-json",
            ModelError::TooDeep { .. } => "model.too-deep",
            ModelError::NotAnObject => "model.not-an-object",
            ModelError::MissingResourceType => "model.missing-resource-type",
            ModelError::ResourceTypeNotString => "model.resource-type-not-string",
        }
    }
}
