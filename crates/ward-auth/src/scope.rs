//! SMART on FHIR scopes, v1 (`patient/Observation.read`) and v2 (`patient/Observation.rs`,
//! granular `?category=...`), parsed once into [`ScopeSet`] and queried per interaction.

use crate::AuthError;

/// The context prefix of a resource scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeContext {
    Patient,
    User,
    System,
}

/// One SMART v2 permission letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Permission {
    fn bit(self) -> u8 {
        match self {
            Self::Create => 1,
            Self::Read => 2,
            Self::Update => 4,
            Self::Delete => 8,
            Self::Search => 16,
        }
    }
}

/// One resource scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub context: ScopeContext,
    /// A resource type, or `None` for `*`.
    pub resource_type: Option<String>,
    perms: u8,
    /// Granular `?param=value` restriction (v2), kept as query pairs.
    pub params: Vec<(String, String)>,
}

impl Scope {
    /// Parses one resource scope. Returns `Ok(None)` for non-resource scopes such as `openid`,
    /// `launch/patient` or `offline_access`.
    pub fn parse(text: &str) -> Result<Option<Self>, AuthError> {
        let Some((ctx, rest)) = text.split_once('/') else {
            return Ok(None);
        };
        let context = match ctx {
            "patient" => ScopeContext::Patient,
            "user" => ScopeContext::User,
            "system" => ScopeContext::System,
            _ => return Ok(None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (rtype, perm) = rest.rsplit_once('.').ok_or(AuthError::BadScope)?;
        let resource_type = match rtype {
            "*" => None,
            t if !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphabetic()) => Some(t.to_owned()),
            _ => return Err(AuthError::BadScope),
        };
        let perms = parse_perms(perm)?;
        let params = match query {
            Some(q) => parse_query(q)?,
            None => Vec::new(),
        };
        Ok(Some(Self {
            context,
            resource_type,
            perms,
            params,
        }))
    }

    /// True if this scope grants `perm` on `rtype` (ignoring granular parameters).
    pub fn grants(&self, rtype: &str, perm: Permission) -> bool {
        self.perms & perm.bit() != 0 && self.resource_type.as_deref().is_none_or(|t| t == rtype)
    }

    /// The part of this (requested) scope that `allowed` permits, if any: same context, the
    /// narrower type, the common permissions, and `allowed`'s granular parameters.
    pub fn intersect(&self, allowed: &Scope) -> Option<Scope> {
        if self.context != allowed.context {
            return None;
        }
        let resource_type = match (&self.resource_type, &allowed.resource_type) {
            (Some(a), Some(b)) if a != b => return None,
            (Some(t), _) | (None, Some(t)) => Some(t.clone()),
            (None, None) => None,
        };
        let params = match (self.params.is_empty(), allowed.params.is_empty()) {
            (_, true) => self.params.clone(),
            (true, false) => allowed.params.clone(),
            (false, false) if self.params == allowed.params => self.params.clone(),
            (false, false) => return None,
        };
        let perms = self.perms & allowed.perms;
        (perms != 0).then_some(Scope {
            context: self.context,
            resource_type,
            perms,
            params,
        })
    }

    /// True if the scope grants create, update or delete.
    pub fn grants_write(&self) -> bool {
        self.perms & (1 | 4 | 8) != 0
    }

    /// True if the scope grants `perm` on some type.
    pub fn has(&self, perm: Permission) -> bool {
        self.perms & perm.bit() != 0
    }

    /// The scope in SMART v2 syntax.
    pub fn to_text(&self) -> String {
        scope_text(self)
    }

    /// Plain words for a consent page, e.g. "read and search your Observation records".
    pub fn describe(&self) -> String {
        let verbs: Vec<&str> = [
            (1u8, "create"),
            (2, "read"),
            (4, "update"),
            (8, "delete"),
            (16, "search"),
        ]
        .iter()
        .filter(|(b, _)| self.perms & b != 0)
        .map(|(_, w)| *w)
        .collect();
        let verbs = match verbs.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        };
        let ty = self.resource_type.as_deref();
        let what = match (self.context, ty) {
            (ScopeContext::Patient, Some(t)) => format!("the patient's {t} records"),
            (ScopeContext::Patient, None) => "all of the patient's records".to_owned(),
            (ScopeContext::User, Some(t)) => format!("{t} records you have access to"),
            (ScopeContext::User, None) => "all records you have access to".to_owned(),
            (ScopeContext::System, Some(t)) => format!("all {t} records"),
            (ScopeContext::System, None) => "all records".to_owned(),
        };
        let mut out = format!("{verbs} {what}");
        if !self.params.is_empty() {
            let q: Vec<String> = self
                .params
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            out.push_str(&format!(" (only {})", q.join(", ")));
        }
        out
    }
}

fn parse_perms(perm: &str) -> Result<u8, AuthError> {
    use Permission::*;
    match perm {
        "read" => return Ok(Read.bit() | Search.bit()),
        "write" => return Ok(Create.bit() | Update.bit() | Delete.bit()),
        "*" => return Ok(Create.bit() | Read.bit() | Update.bit() | Delete.bit() | Search.bit()),
        _ => {}
    }
    // v2: letters in the order c, r, u, d, s, each at most once.
    let order = [
        ('c', Create),
        ('r', Read),
        ('u', Update),
        ('d', Delete),
        ('s', Search),
    ];
    let mut bits = 0u8;
    let mut next = 0usize;
    for ch in perm.chars() {
        let pos = order
            .iter()
            .skip(next)
            .position(|(c, _)| *c == ch)
            .ok_or(AuthError::BadScope)?;
        let (_, p) = order.get(next + pos).ok_or(AuthError::BadScope)?;
        bits |= p.bit();
        next += pos + 1;
    }
    if bits == 0 {
        return Err(AuthError::BadScope);
    }
    Ok(bits)
}

fn parse_query(q: &str) -> Result<Vec<(String, String)>, AuthError> {
    q.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or(AuthError::BadScope)?;
            if k.is_empty() {
                return Err(AuthError::BadScope);
            }
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Every scope a token carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    resource: Vec<Scope>,
    other: Vec<String>,
}

impl ScopeSet {
    /// Parses a space-separated scope string. A malformed resource scope fails the whole set.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let mut set = Self::default();
        for word in text.split_ascii_whitespace() {
            match Scope::parse(word)? {
                Some(s) => set.resource.push(s),
                None => set.other.push(word.to_owned()),
            }
        }
        Ok(set)
    }

    /// The resource scopes.
    pub fn resource_scopes(&self) -> &[Scope] {
        &self.resource
    }

    /// The non-resource scopes (`openid`, `launch/patient`, `offline_access`, …).
    pub fn other_scopes(&self) -> &[String] {
        &self.other
    }

    /// A set made of the given parts.
    pub fn from_parts(resource: Vec<Scope>, other: Vec<String>) -> Self {
        Self { resource, other }
    }

    /// True if some `system/` or `user/` scope grants `perm` on `rtype` without granular
    /// restrictions. `patient/` scopes need a patient compartment and are decided by the
    /// authorization policy, not here.
    pub fn grants_unrestricted(&self, rtype: &str, perm: Permission) -> bool {
        self.resource.iter().any(|s| {
            s.context != ScopeContext::Patient && s.params.is_empty() && s.grants(rtype, perm)
        })
    }

    /// True if a wildcard (`*`) `system/` or `user/` scope grants `perm` on every type.
    pub fn grants_all_types(&self, perm: Permission) -> bool {
        self.resource.iter().any(|s| {
            s.context != ScopeContext::Patient
                && s.params.is_empty()
                && s.resource_type.is_none()
                && s.perms & perm.bit() != 0
        })
    }

    /// True if the set contains the non-resource scope `name` (e.g. `openid`).
    pub fn has(&self, name: &str) -> bool {
        self.other.iter().any(|s| s == name)
    }

    /// The scopes as a space-separated string, in the order given.
    pub fn to_scope_string(&self) -> String {
        let mut words: Vec<String> = self.resource.iter().map(scope_text).collect();
        words.extend(self.other.iter().cloned());
        words.join(" ")
    }
}

fn scope_text(s: &Scope) -> String {
    let ctx = match s.context {
        ScopeContext::Patient => "patient",
        ScopeContext::User => "user",
        ScopeContext::System => "system",
    };
    let letters: String = [('c', 1u8), ('r', 2), ('u', 4), ('d', 8), ('s', 16)]
        .iter()
        .filter(|(_, b)| s.perms & b != 0)
        .map(|(c, _)| *c)
        .collect();
    let mut out = format!(
        "{ctx}/{}.{letters}",
        s.resource_type.as_deref().unwrap_or("*")
    );
    if !s.params.is_empty() {
        let q: Vec<String> = s.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push('?');
        out.push_str(&q.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    #[test]
    fn v2_letters() {
        let s = ScopeSet::parse("system/*.cruds").unwrap();
        for p in [Create, Read, Update, Delete, Search] {
            assert!(s.grants_unrestricted("Patient", p));
        }
        let s = ScopeSet::parse("user/Observation.rs").unwrap();
        assert!(s.grants_unrestricted("Observation", Read));
        assert!(s.grants_unrestricted("Observation", Search));
        assert!(!s.grants_unrestricted("Observation", Create));
        assert!(!s.grants_unrestricted("Patient", Read));
    }

    #[test]
    fn v1_words() {
        let s = ScopeSet::parse("user/*.read system/Patient.write").unwrap();
        assert!(s.grants_unrestricted("Encounter", Read));
        assert!(s.grants_unrestricted("Encounter", Search));
        assert!(!s.grants_unrestricted("Encounter", Update));
        assert!(s.grants_unrestricted("Patient", Update));
        assert!(s.grants_unrestricted("Patient", Delete));
        assert!(
            ScopeSet::parse("system/*.*")
                .unwrap()
                .grants_unrestricted("X", Delete)
        );
    }

    #[test]
    fn malformed_scopes_are_rejected() {
        for bad in [
            "system/*.rc",
            "system/*.xyz",
            "system/*.",
            "system/Pat1ent.r",
            "system/*",
            "system/*.rr",
            "user/*.r?=x",
        ] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn patient_and_granular_scopes_are_not_unrestricted() {
        let s =
            ScopeSet::parse("patient/*.cruds user/Observation.rs?category=vital-signs").unwrap();
        assert!(!s.grants_unrestricted("Observation", Read));
        assert_eq!(
            s.resource_scopes()[1].params,
            vec![("category".into(), "vital-signs".into())]
        );
    }

    #[test]
    fn other_scopes_and_round_trip() {
        let s = ScopeSet::parse("openid fhirUser system/Patient.rs launch/patient").unwrap();
        assert!(s.has("openid"));
        assert!(s.has("launch/patient"));
        assert_eq!(
            s.to_scope_string(),
            "system/Patient.rs openid fhirUser launch/patient"
        );
        assert_eq!(
            ScopeSet::parse("system/*.read").unwrap().to_scope_string(),
            "system/*.rs"
        );
    }
}
