//! Roles and the scopes each may hold, and how a granted scope set is computed:
//! requested ∩ what the client is registered for ∩ what the user's role allows.
//!
//! | role      | may hold                                   | MFA       |
//! |-----------|--------------------------------------------|-----------|
//! | admin     | `user/` scopes; the admin API              | mandatory |
//! | clinician | `user/` and `patient/` scopes; break-glass if granted | configurable |
//! | patient   | `patient/` scopes, bound to their own Patient | configurable |
//! | auditor   | `user/AuditEvent` and `user/Provenance` read/search | mandatory |
//!
//! `system/` scopes go only to backend clients (client_credentials).

use crate::{Scope, ScopeContext, ScopeSet};

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Clinician,
    Patient,
    Auditor,
}

impl Role {
    /// Parses a role name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "admin" => Self::Admin,
            "clinician" => Self::Clinician,
            "patient" => Self::Patient,
            "auditor" => Self::Auditor,
            _ => return None,
        })
    }

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Clinician => "clinician",
            Self::Patient => "patient",
            Self::Auditor => "auditor",
        }
    }

    /// MFA cannot be switched off for these roles.
    pub fn mfa_mandatory(self) -> bool {
        matches!(self, Self::Admin | Self::Auditor)
    }

    /// True if the role may hold `scope`.
    pub fn allows(self, scope: &Scope) -> bool {
        match (self, scope.context) {
            (_, ScopeContext::System) => false,
            (Self::Admin, ctx) => ctx == ScopeContext::User,
            (Self::Clinician, _) => true,
            (Self::Patient, ctx) => ctx == ScopeContext::Patient,
            (Self::Auditor, ctx) => {
                ctx == ScopeContext::User
                    && matches!(
                        scope.resource_type.as_deref(),
                        Some("AuditEvent" | "Provenance")
                    )
                    && !scope.grants_write()
            }
        }
    }
}

/// The scope that opens the admin API to an admin user's token. Only clients registered with
/// it can obtain it, and only for users with the admin role: an admin who signs in to an
/// ordinary SMART app does not hand that app the admin API.
pub const ADMIN_SCOPE: &str = "ward:admin";

/// Non-resource scopes any user-facing client may ask for.
const USER_FLOW_SCOPES: &[&str] = &[
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "online_access",
];

/// Who the scopes are granted to.
#[derive(Debug, Clone, Copy)]
pub enum Grantee {
    /// A backend service (client_credentials): `system/` scopes only.
    Backend,
    /// A user through an app.
    User(Role),
}

/// requested ∩ registered ∩ role. Unknown non-resource scopes are dropped; `offline_access`
/// needs the client's registration.
pub fn grant(requested: &ScopeSet, registered: &ScopeSet, who: Grantee) -> ScopeSet {
    let mut resource: Vec<Scope> = Vec::new();
    for r in requested.resource_scopes() {
        for a in registered.resource_scopes() {
            let Some(s) = r.intersect(a) else { continue };
            let ok = match who {
                Grantee::Backend => s.context == ScopeContext::System,
                Grantee::User(role) => role.allows(&s),
            };
            if ok && !resource.contains(&s) {
                resource.push(s);
            }
        }
    }
    let other = match who {
        Grantee::Backend => Vec::new(),
        Grantee::User(_) => requested
            .other_scopes()
            .iter()
            .filter(|w| {
                USER_FLOW_SCOPES.contains(&w.as_str())
                    || (w.as_str() == "offline_access" && registered.has("offline_access"))
                    || (w.as_str() == ADMIN_SCOPE
                        && registered.has(ADMIN_SCOPE)
                        && matches!(who, Grantee::User(Role::Admin)))
            })
            .cloned()
            .collect(),
    };
    ScopeSet::from_parts(resource, other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(req: &str, reg: &str, who: Grantee) -> String {
        grant(
            &ScopeSet::parse(req).unwrap(),
            &ScopeSet::parse(reg).unwrap(),
            who,
        )
        .to_scope_string()
    }

    #[test]
    fn intersection_of_request_client_and_role() {
        let clin = Grantee::User(Role::Clinician);
        assert_eq!(
            g("patient/*.cruds openid", "patient/*.rs", clin),
            "patient/*.rs openid"
        );
        assert_eq!(
            g("patient/Observation.rs", "patient/*.rs", clin),
            "patient/Observation.rs"
        );
        assert_eq!(g("user/*.rs", "patient/*.rs", clin), "");
        assert_eq!(
            g("user/*.rs offline_access", "user/*.rs", clin),
            "user/*.rs",
            "offline_access needs registration"
        );
        assert_eq!(
            g("user/*.rs offline_access", "user/*.rs offline_access", clin),
            "user/*.rs offline_access"
        );
        assert_eq!(
            g(
                "user/*.rs patient/*.rs",
                "user/*.rs patient/*.rs",
                Grantee::User(Role::Patient)
            ),
            "patient/*.rs"
        );
        assert_eq!(g("system/*.rs", "system/*.rs", clin), "");
        assert_eq!(
            g("system/*.rs", "system/*.rs", Grantee::Backend),
            "system/*.rs"
        );
        assert_eq!(
            g("user/*.cruds", "user/*.cruds", Grantee::User(Role::Auditor)),
            ""
        );
        assert_eq!(
            g(
                "user/AuditEvent.rs",
                "user/*.rs",
                Grantee::User(Role::Auditor)
            ),
            "user/AuditEvent.rs"
        );
        assert_eq!(
            g(
                "user/Observation.rs",
                "user/Observation.rs?category=laboratory",
                clin
            ),
            "user/Observation.rs?category=laboratory"
        );
        assert_eq!(g("bogus launch/patient", "", clin), "launch/patient");
        let admin = Grantee::User(Role::Admin);
        assert_eq!(
            g("ward:admin", "user/*.rs", admin),
            "",
            "needs registration"
        );
        assert_eq!(
            g("ward:admin", "ward:admin", clin),
            "",
            "needs the admin role"
        );
        assert_eq!(g("ward:admin", "ward:admin", admin), "ward:admin");
    }
}
