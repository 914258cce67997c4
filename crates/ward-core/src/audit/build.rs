//! Audit records for FHIR interactions: the BALP subtype and action of each interaction, and
//! who/what/outcome taken from the request context and the response.

use ward_audit::{Action, Actor, AuditRecord, EventKind, Outcome};

use crate::{Interaction, RequestContext, Touched};

/// `restful-interaction` code and BALP action of an interaction.
pub(crate) fn classify(i: &Interaction) -> (&'static str, Action) {
    use Interaction as I;
    match i {
        I::Capabilities => ("capabilities", Action::Read),
        I::Read(..) => ("read", Action::Read),
        I::Vread(..) => ("vread", Action::Read),
        I::Update(..) | I::ConditionalUpdate(_) => ("update", Action::Update),
        I::Patch(..) | I::ConditionalPatch(_) => ("patch", Action::Update),
        I::Delete(..) | I::ConditionalDelete(_) => ("delete", Action::Delete),
        I::Create(_) => ("create", Action::Create),
        I::SearchType(_) | I::SearchCompartment(..) => ("search-type", Action::Execute),
        I::SearchSystem => ("search-system", Action::Execute),
        I::HistoryInstance(..) => ("history-instance", Action::Read),
        I::HistoryType(_) => ("history-type", Action::Execute),
        I::HistorySystem => ("history-system", Action::Execute),
        I::BatchOrTransaction => ("batch", Action::Execute),
        I::Operation(..) => ("operation", Action::Execute),
    }
}

/// The actor of a request.
pub(crate) fn actor(ctx: &RequestContext) -> Actor {
    let p = &ctx.principal;
    Actor {
        subject: Some(p.subject.clone()),
        fhir_user: p.fhir_user.clone(),
        client_id: p.client_id.clone(),
        roles: p.role.iter().cloned().collect(),
        source_ip: ctx.client_ip.clone(),
        user_agent: ctx.user_agent.clone(),
    }
}

/// The reference an interaction names before it runs (for failures).
fn named(i: &Interaction) -> Option<String> {
    use Interaction as I;
    match i {
        I::Read(t, id)
        | I::Update(t, id)
        | I::Patch(t, id)
        | I::Delete(t, id)
        | I::HistoryInstance(t, id) => Some(format!("{t}/{id}")),
        I::Vread(t, id, v) => Some(format!("{t}/{id}/_history/{v}")),
        I::Operation(_, crate::OpTarget::Instance(t, id)) => Some(format!("{t}/{id}")),
        _ => None,
    }
}

/// Inputs of one interaction's record.
pub(crate) struct Outcomes<'a> {
    pub status: u16,
    /// A stable error code for failures.
    pub error: Option<&'a str>,
    pub touched: &'a [Touched],
    /// The query string of searches and history.
    pub query: Option<String>,
    pub subtype: Option<&'static str>,
}

/// Builds the record of one interaction.
pub(crate) fn interaction_record(
    ctx: &RequestContext,
    i: &Interaction,
    o: &Outcomes<'_>,
    recorded: String,
    server: &str,
) -> AuditRecord {
    let (code, action) = classify(i);
    let mut entities: Vec<String> = o.touched.iter().map(|t| t.reference.clone()).collect();
    if entities.is_empty()
        && let Some(n) = named(i)
    {
        entities.push(n);
    }
    let mut patients: Vec<String> = o
        .touched
        .iter()
        .flat_map(|t| t.patients.iter().cloned())
        .collect();
    patients.sort();
    patients.dedup();
    AuditRecord {
        kind: EventKind::Rest(o.subtype.unwrap_or(code)),
        action,
        outcome: Outcome::from_status(o.status),
        outcome_desc: o.error.map(str::to_owned),
        recorded,
        actor: actor(ctx),
        purpose_of_use: ctx.principal.purpose_of_use.iter().cloned().collect(),
        request_id: ctx.request_id.clone(),
        entities,
        patients,
        query: o.query.clone(),
        server: server.to_owned(),
    }
}
