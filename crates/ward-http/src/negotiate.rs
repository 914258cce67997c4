//! Content negotiation (http.html#mime-type): JSON only. `_format` overrides `Accept`; what
//! cannot be produced is 406, a body in an unsupported media type is 415.

use axum::http::{HeaderMap, header};
use ward_core::{CoreError, Interaction};

/// What the client asked for in the response format.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Format {
    pub pretty: bool,
}

fn is_json_type(media: &str) -> bool {
    let m = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        m.as_str(),
        "json" | "application/json" | "application/fhir+json" | "application/json+fhir"
    )
}

/// Checks `_format` / `Accept` and reads `_pretty`.
pub(crate) fn response_format(
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<Format, CoreError> {
    let param = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let pretty = param("_pretty") == Some("true");
    if let Some(f) = param("_format") {
        return if is_json_type(f) {
            Ok(Format { pretty })
        } else {
            Err(CoreError::NotAcceptable)
        };
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Format { pretty });
    };
    let acceptable = accept.split(',').any(|range| {
        let m = range.split(';').next().unwrap_or("").trim();
        is_json_type(m) || m == "*/*" || m == "application/*" || m.is_empty()
    });
    if acceptable {
        Ok(Format { pretty })
    } else {
        Err(CoreError::NotAcceptable)
    }
}

/// The media type a request body must have for this interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Resource,
    JsonPatch,
    Form,
}

/// Checks the body's `Content-Type` (when there is a body).
pub(crate) fn body_kind(
    headers: &HeaderMap,
    interaction: &Interaction,
) -> Result<BodyKind, CoreError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let ct = ct.as_deref().unwrap_or("");
    match interaction {
        Interaction::Patch(..) | Interaction::ConditionalPatch(_) => {
            if ct == "application/json-patch+json" {
                Ok(BodyKind::JsonPatch)
            } else {
                Err(CoreError::UnsupportedMediaType)
            }
        }
        Interaction::SearchType(_)
        | Interaction::SearchSystem
        | Interaction::SearchCompartment(..)
            if ct == "application/x-www-form-urlencoded" =>
        {
            Ok(BodyKind::Form)
        }
        _ if is_json_type(ct) => Ok(BodyKind::Resource),
        _ => Err(CoreError::UnsupportedMediaType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(name: header::HeaderName, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(name, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn accept_and_format() {
        let none = HeaderMap::new();
        assert!(response_format(&none, &[]).is_ok());
        assert!(response_format(&h(header::ACCEPT, "application/fhir+json"), &[]).is_ok());
        assert!(response_format(&h(header::ACCEPT, "text/html, */*;q=0.1"), &[]).is_ok());
        assert!(response_format(&h(header::ACCEPT, "application/fhir+xml"), &[]).is_err());
        let xml = vec![("_format".to_owned(), "xml".to_owned())];
        assert!(response_format(&none, &xml).is_err());
        let json = vec![("_format".to_owned(), "application/fhir+json".to_owned())];
        assert!(response_format(&h(header::ACCEPT, "application/fhir+xml"), &json).is_ok());
        let pretty = vec![("_pretty".to_owned(), "true".to_owned())];
        assert!(response_format(&none, &pretty).unwrap().pretty);
    }

    #[test]
    fn content_types() {
        let pt = ward_core::ResourceType::parse("Patient").unwrap();
        let create = Interaction::Create(pt);
        let patch = Interaction::Patch(pt, "x".into());
        let json = h(header::CONTENT_TYPE, "application/fhir+json; charset=utf-8");
        assert_eq!(body_kind(&json, &create).unwrap(), BodyKind::Resource);
        assert!(body_kind(&h(header::CONTENT_TYPE, "application/fhir+xml"), &create).is_err());
        assert!(body_kind(&HeaderMap::new(), &create).is_err());
        assert!(body_kind(&json, &patch).is_err());
        assert_eq!(
            body_kind(
                &h(header::CONTENT_TYPE, "application/json-patch+json"),
                &patch
            )
            .unwrap(),
            BodyKind::JsonPatch
        );
    }
}
