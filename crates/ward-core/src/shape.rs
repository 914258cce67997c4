//! `_summary` and `_elements` (search.html#summary, #elements) for read responses, search and
//! history entries.

use serde_json::Value;

use crate::{CoreError, CoreResult, FhirRequest};

/// A requested subset of a resource.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    Summary(ward_model::SummaryMode),
    Elements(Vec<String>),
}

impl Shape {
    /// Reads `_summary` / `_elements` from the request (400 on an unknown `_summary` value).
    pub(crate) fn from_request(req: &FhirRequest) -> CoreResult<Option<Self>> {
        if let Some(mode) = req.param("_summary") {
            return match ward_model::SummaryMode::parse(mode) {
                Some(ward_model::SummaryMode::False) => Ok(None),
                Some(m) => Ok(Some(Self::Summary(m))),
                None if mode == "count" => Err(CoreError::bad_request(
                    "WARD-SUMMARY",
                    "_summary=count applies to searches only",
                )),
                None => Err(CoreError::bad_request(
                    "WARD-SUMMARY",
                    "_summary must be true, text, data, count or false",
                )),
            };
        }
        if let Some(list) = req.param("_elements") {
            let names: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            return Ok(Some(Self::Elements(names)));
        }
        Ok(None)
    }

    /// Applies the shape to a parsed resource.
    pub(crate) fn apply(&self, resource: &Value) -> Value {
        match self {
            Self::Summary(mode) => ward_model::summarize(resource, *mode),
            Self::Elements(names) => {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                ward_model::select_elements(resource, &refs)
            }
        }
    }

    /// Applies the shape to stored JSON text.
    pub(crate) fn apply_bytes(&self, body: &[u8]) -> CoreResult<Value> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|_| CoreError::Internal("stored body is not JSON".into()))?;
        Ok(self.apply(&v))
    }
}
