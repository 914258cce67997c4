//! Reference strings (`Reference.reference`) parsed into typed forms (R4 references.html).

use thiserror::Error;

/// A parsed `Reference.reference` value. Borrowed slices of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference<'a> {
    /// `Type/id` or `Type/id/_history/vid`, relative to the server base.
    Relative {
        /// A known R4 resource type.
        resource_type: &'a str,
        /// Logical id (FHIR `id` syntax).
        id: &'a str,
        /// Version id, from `/_history/{vid}`.
        version: Option<&'a str>,
    },
    /// `Type?search` — a conditional reference, allowed inside transaction Bundles.
    Conditional {
        /// A known R4 resource type.
        resource_type: &'a str,
        /// The query after `?` (not parsed here).
        query: &'a str,
    },
    /// An absolute URL. When it ends in `Type/id[/_history/vid]` those parts are given too.
    Absolute {
        /// The whole URL.
        url: &'a str,
        /// Resource type of a RESTful URL, if recognised.
        resource_type: Option<&'a str>,
        /// Id of a RESTful URL, if recognised.
        id: Option<&'a str>,
        /// Version of a RESTful URL with `/_history/`, if present.
        version: Option<&'a str>,
    },
    /// `#id` → a contained resource (`#` alone: the container itself).
    Fragment(&'a str),
    /// `urn:uuid:…` (Bundle-local identity); the slice is the whole reference.
    UrnUuid(&'a str),
    /// `urn:oid:…`; the slice is the whole reference.
    UrnOid(&'a str),
}

/// Why a reference string is malformed. Messages never echo the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReferenceError {
    /// Empty, or contains whitespace.
    #[error("reference is empty or contains whitespace")]
    Blank,
    /// Not `Type/id`, an absolute URL, a fragment or a URN.
    #[error("reference is not of the form Type/id, an absolute URL, #id or a URN")]
    Syntax,
    /// `Type` is not an R4 resource type.
    #[error("reference names an unknown resource type")]
    UnknownType,
    /// The id or version id is not a valid FHIR id.
    #[error("reference has an invalid id")]
    InvalidId,
    /// A `urn:uuid:` that is not a lowercase RFC 4122 UUID, or a malformed `urn:oid:`.
    #[error("reference has a malformed URN")]
    InvalidUrn,
}

impl ReferenceError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            ReferenceError::Blank => "reference.blank",
            ReferenceError::Syntax => "reference.syntax",
            ReferenceError::UnknownType => "reference.unknown-type",
            ReferenceError::InvalidId => "reference.invalid-id",
            ReferenceError::InvalidUrn => "reference.invalid-urn",
        }
    }
}

/// Parses a reference string.
pub fn parse_reference(s: &str) -> Result<Reference<'_>, ReferenceError> {
    if s.is_empty() || s.chars().any(char::is_whitespace) {
        return Err(ReferenceError::Blank);
    }
    if let Some(frag) = s.strip_prefix('#') {
        return Ok(Reference::Fragment(frag));
    }
    if s.starts_with("urn:uuid:") {
        return if crate::primitive::is_uuid(s) {
            Ok(Reference::UrnUuid(s))
        } else {
            Err(ReferenceError::InvalidUrn)
        };
    }
    if s.starts_with("urn:oid:") {
        return if crate::primitive::is_oid(s) {
            Ok(Reference::UrnOid(s))
        } else {
            Err(ReferenceError::InvalidUrn)
        };
    }
    if has_scheme(s) {
        let (resource_type, id, version) =
            restful_tail(s).map_or((None, None, None), |(t, i, v)| (Some(t), Some(i), v));
        return Ok(Reference::Absolute {
            url: s,
            resource_type,
            id,
            version,
        });
    }
    if let Some((ty, query)) = s.split_once('?') {
        check_type(ty)?;
        return Ok(Reference::Conditional {
            resource_type: ty,
            query,
        });
    }
    let mut parts = s.split('/');
    let (Some(ty), Some(id)) = (parts.next(), parts.next()) else {
        return Err(ReferenceError::Syntax);
    };
    let version = match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => None,
        (Some("_history"), Some(v), None) => Some(v),
        _ => return Err(ReferenceError::Syntax),
    };
    check_type(ty)?;
    if !crate::primitive::is_id(id) || version.is_some_and(|v| !crate::primitive::is_id(v)) {
        return Err(ReferenceError::InvalidId);
    }
    Ok(Reference::Relative {
        resource_type: ty,
        id,
        version,
    })
}

impl Reference<'_> {
    /// The referenced resource type, where the reference says it.
    pub fn resource_type(&self) -> Option<&str> {
        match self {
            Reference::Relative { resource_type, .. }
            | Reference::Conditional { resource_type, .. } => Some(resource_type),
            Reference::Absolute { resource_type, .. } => *resource_type,
            _ => None,
        }
    }
}

fn check_type(ty: &str) -> Result<(), ReferenceError> {
    if ty.is_empty() || !ty.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ReferenceError::Syntax);
    }
    if ward_spec::r4().is_resource_type(ty) {
        Ok(())
    } else {
        Err(ReferenceError::UnknownType)
    }
}

/// `scheme:` per RFC 3986 followed by something.
fn has_scheme(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    !rest.is_empty()
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// `…/Type/id` or `…/Type/id/_history/vid` at the end of an absolute URL.
fn restful_tail(url: &str) -> Option<(&str, &str, Option<&str>)> {
    let path = url.split(['?', '#']).next()?;
    let mut rev = path.rsplit('/');
    let last = rev.next()?;
    let prev = rev.next()?;
    let (ty, id, version) = if prev == "_history" {
        let id = rev.next()?;
        (rev.next()?, id, Some(last))
    } else {
        (prev, last, None)
    };
    let spec = ward_spec::r4();
    (spec.is_resource_type(ty) && crate::primitive::is_id(id)).then_some((ty, id, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_forms() {
        assert_eq!(
            parse_reference("Patient/123"),
            Ok(Reference::Relative {
                resource_type: "Patient",
                id: "123",
                version: None
            })
        );
        assert_eq!(
            parse_reference("Patient/a.b-1/_history/2"),
            Ok(Reference::Relative {
                resource_type: "Patient",
                id: "a.b-1",
                version: Some("2")
            })
        );
        assert_eq!(parse_reference("Foo/1"), Err(ReferenceError::UnknownType));
        assert_eq!(parse_reference("Patient/"), Err(ReferenceError::InvalidId));
        assert_eq!(
            parse_reference("Patient/a_b"),
            Err(ReferenceError::InvalidId)
        );
        assert_eq!(
            parse_reference(&format!("Patient/{}", "a".repeat(65))),
            Err(ReferenceError::InvalidId)
        );
        assert_eq!(
            parse_reference("Patient/1/_history/"),
            Err(ReferenceError::InvalidId)
        );
        assert_eq!(parse_reference("Patient/1/2"), Err(ReferenceError::Syntax));
        assert_eq!(parse_reference("Patient"), Err(ReferenceError::Syntax));
        assert_eq!(parse_reference("Patient 1"), Err(ReferenceError::Blank));
        assert_eq!(parse_reference(""), Err(ReferenceError::Blank));
    }

    #[test]
    fn absolute_fragment_urn_conditional() {
        let r = parse_reference("http://example.org/fhir/Observation/7/_history/3").unwrap();
        assert_eq!(
            r,
            Reference::Absolute {
                url: "http://example.org/fhir/Observation/7/_history/3",
                resource_type: Some("Observation"),
                id: Some("7"),
                version: Some("3"),
            }
        );
        assert_eq!(r.resource_type(), Some("Observation"));
        let r = parse_reference("https://example.org/logo.png").unwrap();
        assert!(matches!(
            r,
            Reference::Absolute {
                resource_type: None,
                ..
            }
        ));
        assert_eq!(parse_reference("#p1"), Ok(Reference::Fragment("p1")));
        assert_eq!(parse_reference("#"), Ok(Reference::Fragment("")));
        let u = "urn:uuid:6b2f2d8c-6c8e-4f39-9a7e-2b1d0c3a4e5f";
        assert_eq!(parse_reference(u), Ok(Reference::UrnUuid(u)));
        assert_eq!(
            parse_reference("urn:uuid:not-a-uuid"),
            Err(ReferenceError::InvalidUrn)
        );
        assert_eq!(
            parse_reference("urn:oid:1.2.3"),
            Ok(Reference::UrnOid("urn:oid:1.2.3"))
        );
        assert_eq!(
            parse_reference("urn:oid:1.02"),
            Err(ReferenceError::InvalidUrn)
        );
        assert_eq!(
            parse_reference("Patient?identifier=x|1"),
            Ok(Reference::Conditional {
                resource_type: "Patient",
                query: "identifier=x|1"
            })
        );
        assert_eq!(ReferenceError::UnknownType.code(), "reference.unknown-type");
    }
}
