//! FHIR interactions as typed data, parsed once from method and path. Authorization, audit and
//! dispatch all decide from an [`Interaction`] value and never look at the URL again.

use ward_spec::{TypeKind, r4};

use crate::{CoreError, CoreResult};

/// A resource type known to the specification, interned as a `'static` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceType(&'static str);

impl ResourceType {
    /// Looks up a concrete resource type name (abstract `Resource`/`DomainResource` excluded).
    pub fn parse(name: &str) -> Option<Self> {
        let def = r4().type_def(name)?;
        if def.kind != TypeKind::Resource || def.is_abstract {
            return None;
        }
        Some(Self(def.name.as_str()))
    }

    /// The type name.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The HTTP methods FHIR uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// Parses an HTTP method name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            _ => return None,
        })
    }
}

/// Where an operation is invoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpTarget {
    System,
    Type(ResourceType),
    Instance(ResourceType, String),
}

/// A FHIR RESTful interaction (R4 http.html) with its typed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    Capabilities,
    Read(ResourceType, String),
    Vread(ResourceType, String, u64),
    Update(ResourceType, String),
    ConditionalUpdate(ResourceType),
    Patch(ResourceType, String),
    ConditionalPatch(ResourceType),
    Delete(ResourceType, String),
    ConditionalDelete(ResourceType),
    Create(ResourceType),
    SearchType(ResourceType),
    SearchSystem,
    /// `GET [base]/[Compartment]/[id]/[type]` (compartment, its id, the searched type).
    SearchCompartment(ResourceType, String, ResourceType),
    HistoryInstance(ResourceType, String),
    HistoryType(ResourceType),
    HistorySystem,
    /// `POST [base]` with a batch or transaction Bundle.
    BatchOrTransaction,
    Operation(String, OpTarget),
}

impl Interaction {
    /// A short, PHI-free name for logs and metrics (e.g. `read`, `search-type`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Capabilities => "capabilities",
            Self::Read(..) => "read",
            Self::Vread(..) => "vread",
            Self::Update(..) => "update",
            Self::ConditionalUpdate(..) => "update-conditional",
            Self::Patch(..) => "patch",
            Self::ConditionalPatch(..) => "patch-conditional",
            Self::Delete(..) => "delete",
            Self::ConditionalDelete(..) => "delete-conditional",
            Self::Create(..) => "create",
            Self::SearchType(..) => "search-type",
            Self::SearchSystem => "search-system",
            Self::SearchCompartment(..) => "search-compartment",
            Self::HistoryInstance(..) => "history-instance",
            Self::HistoryType(..) => "history-type",
            Self::HistorySystem => "history-system",
            Self::BatchOrTransaction => "batch-transaction",
            Self::Operation(..) => "operation",
        }
    }

    /// The route template with the resource type filled in and ids left as placeholders,
    /// e.g. `Patient/{id}/_history/{vid}`: safe to log (no ids, no query values).
    pub fn route_template(&self) -> String {
        use Interaction as I;
        match self {
            I::Capabilities => "metadata".into(),
            I::Read(t, _) | I::Update(t, _) | I::Patch(t, _) | I::Delete(t, _) => {
                format!("{t}/{{id}}")
            }
            I::Vread(t, ..) => format!("{t}/{{id}}/_history/{{vid}}"),
            I::ConditionalUpdate(t)
            | I::ConditionalPatch(t)
            | I::ConditionalDelete(t)
            | I::Create(t)
            | I::SearchType(t) => format!("{t}"),
            I::HistoryInstance(t, _) => format!("{t}/{{id}}/_history"),
            I::SearchCompartment(c, _, t) => format!("{c}/{{id}}/{t}"),
            I::HistoryType(t) => format!("{t}/_history"),
            I::HistorySystem => "_history".into(),
            I::SearchSystem | I::BatchOrTransaction => String::new(),
            I::Operation(op, OpTarget::System) => format!("${op}"),
            I::Operation(op, OpTarget::Type(t)) => format!("{t}/${op}"),
            I::Operation(op, OpTarget::Instance(t, _)) => format!("{t}/{{id}}/${op}"),
        }
    }

    /// The resource type the interaction concerns, if any.
    pub fn resource_type(&self) -> Option<ResourceType> {
        match self {
            Self::Read(t, ..)
            | Self::Vread(t, ..)
            | Self::Update(t, ..)
            | Self::ConditionalUpdate(t)
            | Self::Patch(t, ..)
            | Self::ConditionalPatch(t)
            | Self::Delete(t, ..)
            | Self::ConditionalDelete(t)
            | Self::Create(t)
            | Self::SearchType(t)
            | Self::SearchCompartment(_, _, t)
            | Self::HistoryInstance(t, ..)
            | Self::HistoryType(t) => Some(*t),
            Self::Operation(_, OpTarget::Type(t) | OpTarget::Instance(t, _)) => Some(*t),
            _ => None,
        }
    }
}

/// Checks a logical id (FHIR `id`: 1–64 of `[A-Za-z0-9\-\.]`).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn rtype(segment: &str) -> CoreResult<ResourceType> {
    ResourceType::parse(segment).ok_or_else(|| CoreError::NotFound {
        message: "unknown resource type".into(),
    })
}

fn id(segment: &str) -> CoreResult<String> {
    if valid_id(segment) {
        Ok(segment.to_owned())
    } else {
        Err(CoreError::bad_request(
            "WARD-ID",
            "the logical id is not a valid FHIR id",
        ))
    }
}

fn op_name(segment: &str) -> Option<String> {
    segment
        .strip_prefix('$')
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

/// Parses `method` and the path below the FHIR base (`Patient/123/_history/2`, no leading `/`).
/// `has_query` tells a conditional update/delete/patch apart from a malformed one.
pub fn parse(method: Method, path: &str, has_query: bool) -> CoreResult<Interaction> {
    use Interaction as I;
    use Method as M;
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let not_allowed = || CoreError::MethodNotAllowed {
        message: "this method is not allowed on this path".into(),
    };
    Ok(match (method, segs.as_slice()) {
        (M::Get | M::Head, []) => I::SearchSystem,
        (M::Post, []) => I::BatchOrTransaction,
        (M::Get | M::Head, ["metadata"]) => I::Capabilities,
        (M::Get | M::Head, ["_history"]) => I::HistorySystem,
        (M::Post, ["_search"]) => I::SearchSystem,
        (M::Get | M::Post, [op]) if op.starts_with('$') => {
            I::Operation(op_name(op).ok_or_else(not_allowed)?, OpTarget::System)
        }
        (M::Get | M::Head, [t]) => I::SearchType(rtype(t)?),
        (M::Post, [t]) => I::Create(rtype(t)?),
        (M::Put, [t]) if has_query => I::ConditionalUpdate(rtype(t)?),
        (M::Patch, [t]) if has_query => I::ConditionalPatch(rtype(t)?),
        (M::Delete, [t]) if has_query => I::ConditionalDelete(rtype(t)?),
        (M::Post, [t, "_search"]) => I::SearchType(rtype(t)?),
        (M::Get | M::Head, [t, "_history"]) => I::HistoryType(rtype(t)?),
        (M::Get | M::Post, [t, op]) if op.starts_with('$') => I::Operation(
            op_name(op).ok_or_else(not_allowed)?,
            OpTarget::Type(rtype(t)?),
        ),
        (M::Get | M::Head, [t, i]) => I::Read(rtype(t)?, id(i)?),
        (M::Put, [t, i]) => I::Update(rtype(t)?, id(i)?),
        (M::Patch, [t, i]) => I::Patch(rtype(t)?, id(i)?),
        (M::Delete, [t, i]) => I::Delete(rtype(t)?, id(i)?),
        (M::Get | M::Post, [t, i, op]) if op.starts_with('$') => I::Operation(
            op_name(op).ok_or_else(not_allowed)?,
            OpTarget::Instance(rtype(t)?, id(i)?),
        ),
        (M::Get | M::Head, [t, i, "_history"]) => I::HistoryInstance(rtype(t)?, id(i)?),
        (M::Get | M::Head, [c, i, t]) | (M::Post, [c, i, t, "_search"]) if is_compartment(c) => {
            I::SearchCompartment(rtype(c)?, id(i)?, rtype(t)?)
        }
        (M::Get | M::Head, [t, i, "_history", v]) => {
            let v =
                v.parse::<u64>()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| CoreError::NotFound {
                        message: "no such version".into(),
                    })?;
            I::Vread(rtype(t)?, id(i)?, v)
        }
        _ if known_shape(&segs) => return Err(not_allowed()),
        _ => {
            return Err(CoreError::NotFound {
                message: "no such endpoint".into(),
            });
        }
    })
}

/// True if `name` is a compartment type (Patient, Encounter, RelatedPerson, ...).
fn is_compartment(name: &str) -> bool {
    ward_spec::r4().compartments().contains(&name)
}

fn known_shape(segs: &[&str]) -> bool {
    match segs {
        [] | ["metadata"] | ["_history"] | ["_search"] => true,
        [t, ..] => ResourceType::parse(t).is_some() && segs.len() <= 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(m: Method, path: &str) -> CoreResult<Interaction> {
        parse(m, path, false)
    }

    #[test]
    fn parses_every_interaction() {
        let pt = ResourceType::parse("Patient").unwrap();
        assert_eq!(
            p(Method::Get, "metadata").unwrap(),
            Interaction::Capabilities
        );
        assert_eq!(
            p(Method::Get, "Patient/a1").unwrap(),
            Interaction::Read(pt, "a1".into())
        );
        assert_eq!(
            p(Method::Get, "Patient/a1/_history/3").unwrap(),
            Interaction::Vread(pt, "a1".into(), 3)
        );
        assert_eq!(
            p(Method::Put, "Patient/a1").unwrap(),
            Interaction::Update(pt, "a1".into())
        );
        assert_eq!(
            parse(Method::Put, "Patient", true).unwrap(),
            Interaction::ConditionalUpdate(pt)
        );
        assert_eq!(
            parse(Method::Delete, "Patient", true).unwrap(),
            Interaction::ConditionalDelete(pt)
        );
        assert_eq!(p(Method::Post, "Patient").unwrap(), Interaction::Create(pt));
        assert_eq!(
            p(Method::Get, "Patient").unwrap(),
            Interaction::SearchType(pt)
        );
        assert_eq!(
            p(Method::Post, "Patient/_search").unwrap(),
            Interaction::SearchType(pt)
        );
        assert_eq!(
            p(Method::Get, "_history").unwrap(),
            Interaction::HistorySystem
        );
        let obs = ResourceType::parse("Observation").unwrap();
        assert_eq!(
            p(Method::Get, "Patient/p1/Observation").unwrap(),
            Interaction::SearchCompartment(pt, "p1".into(), obs)
        );
        assert_eq!(
            p(Method::Post, "Patient/p1/Observation/_search").unwrap(),
            Interaction::SearchCompartment(pt, "p1".into(), obs)
        );
        assert_eq!(
            p(Method::Get, "Patient/_history").unwrap(),
            Interaction::HistoryType(pt)
        );
        assert_eq!(
            p(Method::Get, "Patient/x/_history").unwrap(),
            Interaction::HistoryInstance(pt, "x".into())
        );
        assert_eq!(
            p(Method::Post, "").unwrap(),
            Interaction::BatchOrTransaction
        );
        assert_eq!(
            p(Method::Post, "Patient/$validate").unwrap(),
            Interaction::Operation("validate".into(), OpTarget::Type(pt))
        );
        assert_eq!(
            p(Method::Post, "Patient/x/$validate").unwrap(),
            Interaction::Operation("validate".into(), OpTarget::Instance(pt, "x".into()))
        );
    }

    #[test]
    fn route_templates_hide_ids() {
        let pt = ResourceType::parse("Patient").unwrap();
        assert_eq!(
            Interaction::Vread(pt, "secret-id".into(), 2).route_template(),
            "Patient/{id}/_history/{vid}"
        );
        assert_eq!(
            Interaction::Operation("validate".into(), OpTarget::Instance(pt, "x".into()))
                .route_template(),
            "Patient/{id}/$validate"
        );
    }

    #[test]
    fn rejects_bad_paths() {
        assert_eq!(p(Method::Get, "Nope/1").unwrap_err().status(), 404);
        assert_eq!(p(Method::Get, "Resource/1").unwrap_err().status(), 404);
        assert_eq!(p(Method::Get, "Patient/bad id!").unwrap_err().status(), 400);
        assert_eq!(
            p(Method::Get, &format!("Patient/{}", "a".repeat(65)))
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            p(Method::Get, "Patient/x/_history/0").unwrap_err().status(),
            404
        );
        assert_eq!(
            p(Method::Get, "Patient/x/_history/abc")
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(p(Method::Delete, "Patient").unwrap_err().status(), 405);
        assert_eq!(p(Method::Put, "Patient").unwrap_err().status(), 405);
        assert_eq!(p(Method::Post, "Patient/x").unwrap_err().status(), 405);
        assert_eq!(p(Method::Get, "a/b/c/d/e/f").unwrap_err().status(), 404);
    }
}
