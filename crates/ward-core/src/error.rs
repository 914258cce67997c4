//! Core errors and the one table that turns every error into an HTTP status and an
//! OperationOutcome. Internal details (SQL, crypto, file paths) never reach the outcome: they
//! are logged once, here, and the client sees a stable code.

use serde_json::{Value, json};
use ward_store::StoreError;

/// One OperationOutcome issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// `fatal`, `error`, `warning` or `information`.
    pub severity: &'static str,
    /// An OperationOutcome issue-type code (`invalid`, `structure`, `required`, …).
    pub code: &'static str,
    /// Human text. Must never contain resource content or search values.
    pub diagnostics: String,
    /// FHIRPath locations.
    pub expression: Vec<String>,
}

impl Issue {
    /// An error issue without a location.
    pub fn error(code: &'static str, diagnostics: impl Into<String>) -> Self {
        Self {
            severity: "error",
            code,
            diagnostics: diagnostics.into(),
            expression: Vec::new(),
        }
    }

    /// An information issue.
    pub fn info(code: &'static str, diagnostics: impl Into<String>) -> Self {
        Self {
            severity: "information",
            code,
            diagnostics: diagnostics.into(),
            expression: vec![],
        }
    }

    /// A warning issue.
    pub fn warning(code: &'static str, diagnostics: impl Into<String>) -> Self {
        Self {
            severity: "warning",
            code,
            diagnostics: diagnostics.into(),
            expression: vec![],
        }
    }

    /// JSON form.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("severity".into(), Value::String(self.severity.into()));
        m.insert("code".into(), Value::String(self.code.into()));
        if !self.diagnostics.is_empty() {
            m.insert(
                "diagnostics".into(),
                Value::String(self.diagnostics.clone()),
            );
        }
        if !self.expression.is_empty() {
            m.insert("expression".into(), json!(self.expression));
        }
        Value::Object(m)
    }
}

/// Builds an OperationOutcome resource.
pub fn operation_outcome(issues: &[Issue]) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": issues.iter().map(Issue::to_json).collect::<Vec<_>>(),
    })
}

/// Everything a FHIR interaction can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("bad request")]
    BadRequest { code: &'static str, message: String },
    #[error("the resource is not valid")]
    Invalid(Vec<Issue>),
    #[error("not found")]
    NotFound { message: String },
    #[error("gone")]
    Gone { version: u64 },
    #[error("method not allowed")]
    MethodNotAllowed { message: String },
    #[error("version conflict")]
    Conflict { message: String },
    #[error("precondition failed")]
    PreconditionFailed { message: String },
    #[error("unauthorized")]
    Unauthorized { code: &'static str, message: String },
    #[error("forbidden")]
    Forbidden { message: String },
    #[error("not acceptable")]
    NotAcceptable,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    #[error("timeout")]
    Timeout,
    #[error("the audit trail cannot be written")]
    AuditUnavailable,
    #[error("not implemented")]
    NotImplemented { message: String },
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl CoreError {
    /// A 400 with a stable code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A stable code for this error (recorded in audit records as the outcome description).
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Unauthorized { code, .. } => code,
            Self::Invalid(_) => "WARD-INVALID",
            Self::NotFound { .. } => "WARD-NOTFOUND",
            Self::Gone { .. } => "WARD-GONE",
            Self::MethodNotAllowed { .. } => "WARD-METHOD",
            Self::Conflict { .. } => "WARD-CONFLICT",
            Self::PreconditionFailed { .. } => "WARD-PRECONDITION",
            Self::Forbidden { .. } => "WARD-FORBIDDEN",
            Self::NotAcceptable => "WARD-ACCEPT",
            Self::UnsupportedMediaType => "WARD-CONTENT-TYPE",
            Self::PayloadTooLarge { .. } => "WARD-TOO-LARGE",
            Self::Timeout => "WARD-TIMEOUT",
            Self::AuditUnavailable => "WARD-AUDIT-UNAVAILABLE",
            Self::NotImplemented { .. } => "WARD-UNSUPPORTED",
            Self::Store(e) => e.code(),
            Self::Internal(_) => "WARD-INTERNAL",
        }
    }

    /// HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized { .. } => 401,
            Self::Forbidden { .. } => 403,
            Self::NotFound { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::NotAcceptable => 406,
            Self::Conflict { .. } => 409,
            Self::Gone { .. } => 410,
            Self::PreconditionFailed { .. } => 412,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::Invalid(_) => 422,
            Self::NotImplemented { .. } => 501,
            Self::Timeout | Self::AuditUnavailable => 503,
            Self::Store(e) => store_status(e),
            Self::Internal(_) => 500,
        }
    }

    /// The OperationOutcome the client sees. Logs internal details once.
    pub fn to_outcome(&self) -> Value {
        operation_outcome(&self.issues())
    }

    /// The issues of [`CoreError::to_outcome`].
    pub fn issues(&self) -> Vec<Issue> {
        let one =
            |code, ward: &str, text: &str| vec![Issue::error(code, format!("{ward}: {text}"))];
        match self {
            Self::BadRequest { code, message } => one("invalid", code, message),
            Self::Invalid(issues) => issues.clone(),
            Self::NotFound { message } => one("not-found", "WARD-NOTFOUND", message),
            Self::Gone { .. } => one("deleted", "WARD-GONE", "the resource has been deleted"),
            Self::MethodNotAllowed { message } => one("not-supported", "WARD-METHOD", message),
            Self::Conflict { message } => one("conflict", "WARD-CONFLICT", message),
            Self::PreconditionFailed { message } => one("conflict", "WARD-PRECONDITION", message),
            Self::Unauthorized { code, message } => one("login", code, message),
            Self::Forbidden { message } => one("forbidden", "WARD-FORBIDDEN", message),
            Self::NotAcceptable => one(
                "not-supported",
                "WARD-ACCEPT",
                "only application/fhir+json and application/json can be returned",
            ),
            Self::UnsupportedMediaType => one(
                "not-supported",
                "WARD-CONTENT-TYPE",
                "the request body must be application/fhir+json or application/json",
            ),
            Self::PayloadTooLarge { limit } => one(
                "too-costly",
                "WARD-TOO-LARGE",
                &format!("the request body exceeds {limit} bytes"),
            ),
            Self::Timeout => one("timeout", "WARD-TIMEOUT", "the request took too long"),
            Self::AuditUnavailable => one(
                "transient",
                "WARD-AUDIT-UNAVAILABLE",
                "the audit trail cannot be written; the request was not carried out or its result is withheld",
            ),
            Self::NotImplemented { message } => one("not-supported", "WARD-UNSUPPORTED", message),
            Self::Store(e) => store_issues(e),
            Self::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error");
                one("exception", "WARD-INTERNAL", "an internal error occurred")
            }
        }
    }
}

fn store_status(e: &StoreError) -> u16 {
    match e {
        StoreError::VersionConflict => 409,
        StoreError::Unavailable => 503,
        _ => 500,
    }
}

fn store_issues(e: &StoreError) -> Vec<Issue> {
    let (code, text) = match e {
        StoreError::VersionConflict => ("conflict", "the resource was changed concurrently; retry"),
        StoreError::Unavailable => ("transient", "the data store is unavailable; retry later"),
        other => {
            tracing::error!(code = other.code(), error = %other, "storage failure");
            ("exception", "an internal storage error occurred")
        }
    };
    vec![Issue::error(code, format!("{}: {text}", e.code()))]
}

/// Result alias.
pub type CoreResult<T> = Result<T, CoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_outcome() {
        let e = CoreError::Internal("sqlite: no such table resources at /var/ward".into());
        let text = e.to_outcome().to_string();
        assert!(!text.contains("sqlite"));
        assert!(!text.contains("/var/ward"));
        assert_eq!(e.status(), 500);
        let e = CoreError::Store(StoreError::Internal("disk I/O error".into()));
        assert!(!e.to_outcome().to_string().contains("disk"));
    }

    #[test]
    fn statuses() {
        assert_eq!(CoreError::Gone { version: 2 }.status(), 410);
        assert_eq!(CoreError::Store(StoreError::Unavailable).status(), 503);
        assert_eq!(CoreError::Store(StoreError::VersionConflict).status(), 409);
        assert_eq!(CoreError::Invalid(vec![]).status(), 422);
    }
}
