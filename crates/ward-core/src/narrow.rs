//! Narrowing searches to what a restricted principal may see (SMART `patient/` and granular
//! scopes): the query gets an extra filter — the patient compartment and the scope's own
//! `?param=value` criteria, OR-ed across scopes — so paging and totals only ever count visible
//! resources; and every returned resource (matches, includes, history entries) is checked once
//! more on its content as a second line of defence.

use ward_auth::{Permission, Principal};
use ward_store::StoredResource;
use ward_store::search::Filter;

use crate::authz::{Access, access};
use crate::{CoreError, CoreResult, FhirService, ResourceType};

impl FhirService {
    /// The filters (AND-ed with the query's) that confine a search of `t` to `access`; empty
    /// for full access. One restricting scope adds its filters directly, so the compartment
    /// reference can drive the query; several are OR-ed.
    pub(crate) fn access_filters(&self, access: &Access, t: &str) -> CoreResult<Vec<Filter>> {
        let Access::Restricted(conds) = access else {
            return Ok(Vec::new());
        };
        let patient = ResourceType::parse("Patient")
            .ok_or_else(|| CoreError::Internal("no Patient type".into()))?;
        let mut groups = Vec::with_capacity(conds.len());
        for c in conds {
            let mut group = Vec::new();
            if let Some(pid) = &c.patient {
                group.push(crate::search::compartment_filter(patient, pid, t));
            }
            if !c.params.is_empty() {
                let opts = self.parse_options(true);
                let parsed =
                    ward_store::search::parse(Some(&[t]), &c.params, &opts).map_err(|_| {
                        CoreError::Forbidden {
                            message: "a granular scope names a search the server cannot apply"
                                .into(),
                        }
                    })?;
                group.extend(parsed.query.filters);
            }
            groups.push(group);
        }
        if groups.len() == 1 {
            return Ok(groups.pop().unwrap_or_default());
        }
        Ok(vec![Filter::Any(groups)])
    }
}

/// Whether `principal` may read `stored` (a match, an include or a history entry). Deletion
/// markers carry no content to check, so restricted principals do not see them.
pub(crate) fn may_read(principal: &Principal, stored: &StoredResource) -> bool {
    let rtype = stored.meta.rtype.as_str();
    if rtype == crate::authz::AUDIT_EVENT && !crate::authz::may_read_audit(principal) {
        return false;
    }
    match access(principal, rtype, Permission::Read) {
        Some(Access::Full) => true,
        None => false,
        Some(a) => stored
            .body
            .as_deref()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
            .is_some_and(|doc| a.admits(rtype, &doc)),
    }
}
