//! Authorization of an interaction from the principal's scopes (SMART v1/v2). Decided once per
//! interaction, from the typed [`Interaction`], before anything is written:
//!
//! - a `user/` or `system/` scope without granular parameters grants the type outright;
//! - a `patient/` scope grants it only inside the token's patient compartment, and a granular
//!   scope (`?category=laboratory`) only for resources whose element matches; such restricted
//!   access is checked on the resource itself for every instance interaction and on the
//!   written state of every write (so a write cannot move a resource out of the compartment);
//! - searches and conditional interactions with restricted access are narrowed in the query
//!   itself (`narrow.rs`), and every match, include and history entry is checked again on the
//!   resource before it is returned.
//!
//! A resource outside the allowed set answers 404 on reads (as if it did not exist: a
//! `patient/` token learns nothing about other patients); a write that would leave the
//! allowed set answers 403.

use serde_json::Value;
use ward_auth::{Permission, Principal, ScopeContext};

use crate::compartment::{in_patient_compartment, matches_params};
use crate::{CoreError, CoreResult, Interaction, OpTarget};

/// The permissions an interaction needs on its resource type.
fn needs(interaction: &Interaction) -> &'static [Permission] {
    use Interaction as I;
    use Permission::*;
    match interaction {
        I::Capabilities | I::BatchOrTransaction => &[],
        I::Read(..) | I::Vread(..) | I::HistoryInstance(..) => &[Read],
        I::SearchType(_)
        | I::SearchCompartment(..)
        | I::HistoryType(_)
        | I::SearchSystem
        | I::HistorySystem => &[Search],
        I::Create(_) => &[Create],
        I::Update(..) | I::Patch(..) => &[Update],
        I::ConditionalUpdate(_) | I::ConditionalPatch(_) => &[Update, Search],
        I::Delete(..) => &[Delete],
        I::ConditionalDelete(_) => &[Delete, Search],
        I::Operation(_, OpTarget::Instance(..)) => &[Read],
        I::Operation(_, OpTarget::Type(_) | OpTarget::System) => &[],
    }
}

/// One way a restricted scope admits a resource: inside a patient's compartment and/or with
/// matching granular parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    pub(crate) patient: Option<String>,
    pub(crate) params: Vec<(String, String)>,
}

/// What the principal may touch for one interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// Every resource of the type.
    Full,
    /// Only resources meeting one of the conditions.
    Restricted(Vec<Condition>),
}

impl Access {
    /// True if `resource` of type `rtype` is within reach.
    pub(crate) fn admits(&self, rtype: &str, resource: &Value) -> bool {
        match self {
            Self::Full => true,
            Self::Restricted(conds) => conds.iter().any(|c| {
                c.patient
                    .as_deref()
                    .is_none_or(|p| in_patient_compartment(rtype, resource, p))
                    && matches_params(rtype, resource, &c.params)
            }),
        }
    }
}

/// The access `principal` has to `perm` on `rtype`, if any.
pub(crate) fn access(principal: &Principal, rtype: &str, perm: Permission) -> Option<Access> {
    if principal.scopes.grants_unrestricted(rtype, perm) {
        return Some(Access::Full);
    }
    let conds: Vec<Condition> = principal
        .scopes
        .resource_scopes()
        .iter()
        .filter(|s| s.grants(rtype, perm))
        .filter_map(|s| match s.context {
            ScopeContext::Patient => principal.patient.clone().map(|p| Condition {
                patient: Some(p),
                params: s.params.clone(),
            }),
            ScopeContext::User | ScopeContext::System => Some(Condition {
                patient: None,
                params: s.params.clone(),
            }),
        })
        .collect();
    (!conds.is_empty()).then_some(Access::Restricted(conds))
}

fn forbidden(interaction: &Interaction) -> CoreError {
    CoreError::Forbidden {
        message: format!(
            "the token's scopes do not permit {} here",
            interaction.name()
        ),
    }
}

/// Checks the interaction against the principal's scopes. Batch and transaction bundles are
/// checked entry by entry; system-wide reads need an unrestricted wildcard scope.
pub(crate) fn authorize(principal: &Principal, interaction: &Interaction) -> CoreResult<Access> {
    let perms = needs(interaction);
    if interaction
        .resource_type()
        .is_some_and(|t| t.as_str() == AUDIT_EVENT)
    {
        audit_trail_access(principal, interaction)?;
    }
    if principal.scopes.resource_scopes().is_empty() {
        return Err(forbidden(interaction));
    }
    let rtype = match interaction {
        Interaction::SearchSystem | Interaction::HistorySystem => {
            return if perms.iter().all(|p| principal.scopes.grants_all_types(*p)) {
                Ok(Access::Full)
            } else {
                Err(forbidden(interaction))
            };
        }
        other => match other.resource_type() {
            Some(t) => t.as_str(),
            None => return Ok(Access::Full),
        },
    };
    let mut result = Access::Full;
    for p in perms {
        match access(principal, rtype, *p) {
            None => return Err(forbidden(interaction)),
            Some(Access::Full) => {}
            Some(r) => result = r,
        }
    }
    Ok(result)
}

/// The resource type of the audit trail.
pub(crate) const AUDIT_EVENT: &str = "AuditEvent";

/// True if the principal may read the audit trail: operators (`ward token issue`) and users
/// with the auditor or admin role.
pub(crate) fn may_read_audit(principal: &Principal) -> bool {
    principal.kind == ward_auth::PrincipalKind::Operator
        || matches!(principal.role.as_deref(), Some("auditor" | "admin"))
}

/// AuditEvents are immutable through the API (405 for every write) and readable only by the
/// audit roles (403 for everyone else), on top of the usual scope check.
fn audit_trail_access(principal: &Principal, interaction: &Interaction) -> CoreResult<()> {
    use Interaction as I;
    match interaction {
        I::Create(_)
        | I::Update(..)
        | I::ConditionalUpdate(_)
        | I::Patch(..)
        | I::ConditionalPatch(_)
        | I::Delete(..)
        | I::ConditionalDelete(_) => Err(CoreError::MethodNotAllowed {
            message: "AuditEvents are immutable through the API".into(),
        }),
        _ if may_read_audit(principal) => Ok(()),
        _ => Err(CoreError::Forbidden {
            message: "only the auditor and admin roles may read the audit trail".into(),
        }),
    }
}

/// Checks that the principal may create resources of `rtype` (update-as-create).
pub(crate) fn authorize_create(principal: &Principal, rtype: &str) -> CoreResult<()> {
    if access(principal, rtype, Permission::Create).is_some() {
        Ok(())
    } else {
        Err(CoreError::Forbidden {
            message: "the token's scopes do not permit create here".into(),
        })
    }
}
