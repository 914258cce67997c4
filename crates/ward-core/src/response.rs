//! What the core answers, independent of HTTP.

use bytes::Bytes;
use serde_json::Value;
use ward_store::Timestamp;

/// A response body: stored JSON text passed through untouched, or a built value.
#[derive(Debug, Clone)]
pub enum ResponseBody {
    /// JSON text (a stored resource or a bundle written directly).
    Raw(Bytes),
    /// A JSON value (OperationOutcome, CapabilityStatement, shaped resources).
    Json(Value),
}

impl ResponseBody {
    /// The body as bytes.
    pub fn into_bytes(self) -> Bytes {
        match self {
            Self::Raw(b) => b,
            Self::Json(v) => Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
        }
    }

    /// The body as a JSON value (parsing raw text).
    pub fn into_value(self) -> Option<Value> {
        match self {
            Self::Raw(b) => serde_json::from_slice(&b).ok(),
            Self::Json(v) => Some(v),
        }
    }
}

/// A FHIR response.
#[derive(Debug, Clone)]
pub struct FhirResponse {
    pub status: u16,
    pub body: Option<ResponseBody>,
    /// Version for `ETag: W/"n"`.
    pub version: Option<u64>,
    pub last_modified: Option<Timestamp>,
    /// `Location` (absolute URL with `_history/n` on writes).
    pub location: Option<String>,
    /// Whether the body may carry PHI (`Cache-Control: no-store`). True unless set otherwise.
    pub phi: bool,
    /// What the interaction touched, for its audit record.
    pub touched: Vec<Touched>,
    /// True when the interaction's audit record was committed together with its writes.
    pub audited: bool,
}

/// One resource an interaction read or wrote: its versioned reference and the Patients whose
/// compartment it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    /// `Type/id/_history/n`.
    pub reference: String,
    pub patients: Vec<String>,
}

impl Touched {
    /// From a stored version.
    pub fn of(stored: &ward_store::StoredResource) -> Self {
        let m = &stored.meta;
        Self {
            reference: format!("{}/{}/_history/{}", m.rtype, m.id, m.version),
            patients: m.patients.clone(),
        }
    }
}

impl FhirResponse {
    /// A response with a status and body.
    pub fn new(status: u16, body: Option<ResponseBody>) -> Self {
        Self {
            status,
            body,
            version: None,
            last_modified: None,
            location: None,
            phi: true,
            touched: Vec::new(),
            audited: false,
        }
    }

    /// A JSON body.
    pub fn json(status: u16, value: Value) -> Self {
        Self::new(status, Some(ResponseBody::Json(value)))
    }
}
