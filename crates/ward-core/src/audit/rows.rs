//! The search index rows of an audit record's AuditEvent, computed from the typed record
//! instead of by FHIRPath over its JSON (docs/design/011-audit-file.md): every audited request
//! pays for them, and FHIRPath costs ~14 µs a record where this costs ~2 µs.
//!
//! The rows must be exactly those the shared indexer computes from the AuditEvent text: the
//! test below compares both on generated records covering every field and every event kind.
//! Anything this module does not model (a reference that is not `Type/id[/_history/v]`, a
//! custom SearchParameter on AuditEvent) makes it answer `None`, and the record is indexed
//! by FHIRPath like any other resource.

use ward_audit::AuditRecord;
use ward_store::index::text::normalize;
use ward_store::index::time::parse_range;
use ward_store::index::{
    DateRow, IDENTIFIER_SUFFIX, IndexRows, RefRow, SortDateRow, StringRow, TEXT_SUFFIX, TokenRow,
    param_key,
};

const T: &str = "AuditEvent";
const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";

/// The parameter keys of AuditEvent's indexed parameters.
struct Keys {
    action: i64,
    address: i64,
    agent: i64,
    agent_identifier: i64,
    altid: i64,
    date: i64,
    entity: i64,
    entity_identifier: i64,
    outcome: i64,
    patient: i64,
    subtype: i64,
    type_: i64,
    type_text: i64,
    purpose: i64,
}

fn keys() -> &'static Keys {
    static KEYS: std::sync::LazyLock<Keys> = std::sync::LazyLock::new(|| {
        let k = |code: &str| param_key(T, code);
        Keys {
            action: k("action"),
            address: k("address"),
            agent: k("agent"),
            agent_identifier: k(&format!("agent{IDENTIFIER_SUFFIX}")),
            altid: k("altid"),
            date: k("date"),
            entity: k("entity"),
            entity_identifier: k(&format!("entity{IDENTIFIER_SUFFIX}")),
            outcome: k("outcome"),
            patient: k("patient"),
            subtype: k("subtype"),
            type_: k("type"),
            type_text: k(&format!("type{TEXT_SUFFIX}")),
            purpose: k("purpose"),
        }
    });
    &KEYS
}

/// A local reference `Type/id` or `Type/id/_history/v`: its type and id. `None` for anything
/// else (absolute, contained, URNs, malformed), which this module leaves to FHIRPath.
fn local(reference: &str) -> Option<(&str, &str)> {
    match ward_model::parse_reference(reference) {
        Ok(ward_model::reference::Reference::Relative {
            resource_type, id, ..
        }) => Some((resource_type, id)),
        _ => None,
    }
}

struct Rows {
    rows: IndexRows,
}

impl Rows {
    fn string(&mut self, pkey: i64, s: &str) {
        if !s.is_empty() {
            self.rows.strings.push(StringRow {
                pkey,
                grp: None,
                norm: normalize(s),
                exact: s.to_owned(),
            });
        }
    }

    fn token(&mut self, pkey: i64, system: Option<&str>, code: &str) {
        if !code.is_empty() {
            self.rows.tokens.push(TokenRow {
                pkey,
                grp: None,
                system: system.filter(|s| !s.is_empty()).map(str::to_owned),
                code: code.to_owned(),
            });
        }
    }

    fn reference(&mut self, pkey: i64, (ttype, tid): (&str, &str)) {
        self.rows.refs.push(RefRow {
            pkey,
            grp: None,
            ttype: Some(ttype.to_owned()),
            tid: tid.to_owned(),
            ver: None,
        });
    }
}

/// The rows the shared indexer would compute for `rec`'s AuditEvent, or `None` when the record
/// holds something this module does not model.
pub(crate) fn typed_rows(rec: &AuditRecord) -> Option<IndexRows> {
    let k = keys();
    let a = &rec.actor;
    let mut r = Rows {
        rows: IndexRows::default(),
    };
    // Every reference first: any this module cannot parse sends the record to FHIRPath.
    let fhir_user = match &a.fhir_user {
        Some(f) => Some(local(f)?),
        None => None,
    };
    let entities = rec
        .entities
        .iter()
        .map(|e| local(e))
        .collect::<Option<Vec<_>>>()?;
    let patients: Vec<String> = rec
        .patients
        .iter()
        .map(|p| format!("Patient/{p}"))
        .collect();
    let patient_refs = patients
        .iter()
        .map(|p| local(p))
        .collect::<Option<Vec<_>>>()?;

    // type (Coding, with its display as `:text`) and subtype
    let ((type_system, type_code, type_display), (sub_system, sub_code)) = rec.kind.codings();
    r.token(k.type_, Some(type_system), type_code);
    r.string(k.type_text, type_display);
    r.token(k.subtype, Some(sub_system), sub_code);
    r.token(k.action, None, rec.action.code());
    let (lo, hi) = parse_range(&rec.recorded)?;
    r.rows.dates.push(DateRow {
        pkey: k.date,
        grp: None,
        lo,
        hi,
    });
    r.token(k.outcome, None, rec.outcome.code());
    // agent.who: the user (fhirUser, or the subject as an identifier) and the client
    match (fhir_user, &a.subject) {
        (Some(l), _) => r.reference(k.agent, l),
        (None, Some(s)) => r.token(k.agent_identifier, Some("urn:ward:subject"), s),
        (None, None) => {}
    }
    if let Some(c) = &a.client_id {
        r.token(k.agent_identifier, Some("urn:ward:client"), c);
    }
    if let Some(s) = &a.subject {
        r.token(k.altid, None, s);
    }
    // agent.network.address: the client's, then the server's
    if let Some(ip) = &a.source_ip {
        r.string(k.address, ip);
    }
    r.string(k.address, &rec.server);
    // entity.what: the patients, the resources, the request id
    for l in patient_refs.iter().chain(&entities) {
        r.reference(k.entity, *l);
    }
    r.token(k.entity_identifier, None, &rec.request_id);
    // patient: `agent.who | entity.what` where each resolves to a Patient. FHIRPath's union
    // drops repeated nodes, not equal values, so every such reference gives a row (equal rows
    // go in `dedup` below, as they do for the indexer).
    let entity_refs = patient_refs.iter().chain(&entities).copied();
    for l in fhir_user.into_iter().chain(entity_refs) {
        if l.0 == "Patient" {
            r.reference(k.patient, l);
        }
    }
    // purpose: `purposeOfEvent | agent.purposeOfUse`, the same concepts twice
    for _ in 0..2 {
        for p in &rec.purpose_of_use {
            r.token(k.purpose, Some(ACT_REASON), p);
        }
    }
    let mut rows = r.rows;
    rows.sort_dates = vec![SortDateRow {
        pkey: k.date,
        lo,
        hi,
    }];
    rows.dedup();
    Some(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::sync::Arc;

    use ward_audit::{Action, Actor, AuditRecord, EventKind, Outcome, SecurityEvent};
    use ward_store::index::{IndexRows, Indexer};
    use ward_store::search::Registry;

    use super::typed_rows;

    const SECURITY: [SecurityEvent; 28] = [
        SecurityEvent::Login,
        SecurityEvent::Logout,
        SecurityEvent::LoginFailed,
        SecurityEvent::MfaFailed,
        SecurityEvent::Lockout,
        SecurityEvent::RequestRejected,
        SecurityEvent::TokenIssued,
        SecurityEvent::TokenRefreshed,
        SecurityEvent::TokenRevoked,
        SecurityEvent::TokenIntrospected,
        SecurityEvent::BreakGlassOpened,
        SecurityEvent::BreakGlassReviewed,
        SecurityEvent::ClientChanged,
        SecurityEvent::UserChanged,
        SecurityEvent::KeyRotation,
        SecurityEvent::Backup,
        SecurityEvent::Restore,
        SecurityEvent::AuditExport,
        SecurityEvent::AuditVerify,
        SecurityEvent::AuditPurge,
        SecurityEvent::AuthorizationRequest,
        SecurityEvent::ConsentDecision,
        SecurityEvent::LoginPendingMfa,
        SecurityEvent::TotpEnrollmentStarted,
        SecurityEvent::TotpEnrolled,
        SecurityEvent::SessionExpired,
        SecurityEvent::LaunchCreated,
        SecurityEvent::AdminListRead,
    ];
    const REST: [&str; 9] = [
        "read",
        "vread",
        "search-type",
        "create",
        "update",
        "delete",
        "history-instance",
        "transaction",
        "operation",
    ];

    /// A small deterministic generator (xorshift).
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
            let i = usize::try_from(self.next() % xs.len() as u64).unwrap();
            xs[i].clone()
        }
        fn maybe<T: Clone>(&mut self, x: T) -> Option<T> {
            self.next().is_multiple_of(2).then_some(x)
        }
        fn some<T: Clone>(&mut self, xs: &[T], most: usize) -> Vec<T> {
            let n = usize::try_from(self.next() % (most as u64 + 1)).unwrap();
            (0..n).map(|_| self.pick(xs)).collect()
        }
    }

    fn record(g: &mut Gen) -> AuditRecord {
        let kind = if g.next().is_multiple_of(3) {
            EventKind::Security(g.pick(&SECURITY))
        } else {
            EventKind::Rest(g.pick(&REST))
        };
        let mut patients = g.some(&["p1".to_owned(), "p2".into(), "p-3".into()], 3);
        if g.next().is_multiple_of(25) {
            // a search page naming many patients: more rows than the indexer dedups
            patients = (0..200).map(|i| format!("many{i}")).collect();
        }
        patients.sort();
        patients.dedup();
        AuditRecord {
            kind,
            action: g.pick(&[
                Action::Create,
                Action::Read,
                Action::Update,
                Action::Delete,
                Action::Execute,
            ]),
            outcome: g.pick(&[
                Outcome::Success,
                Outcome::MinorFailure,
                Outcome::SeriousFailure,
            ]),
            outcome_desc: g.maybe("WARD-AUTH-SCOPE".to_owned()),
            recorded: g.pick(&[
                "2026-11-25T10:00:00.123456Z".to_owned(),
                "2026-01-01T00:00:00.000000Z".into(),
                "2025-12-31T23:59:59.999999Z".into(),
            ]),
            actor: Actor {
                subject: g.pick(&[None, Some("dr-who".to_owned()), Some("Zoë Ärger".into())]),
                fhir_user: g.pick(&[
                    None,
                    Some("Practitioner/7".to_owned()),
                    Some("Patient/p1".into()),
                    Some("Patient/p9".into()),
                ]),
                client_id: g.maybe("app-1".to_owned()),
                roles: g.some(&["clinician".to_owned(), "admin".into()], 2),
                source_ip: g.pick(&[None, Some("127.0.0.1".to_owned()), Some("::1".into())]),
                user_agent: g.maybe("curl/8".to_owned()),
            },
            purpose_of_use: g.some(&["BTG".to_owned(), "TREAT".into()], 3),
            request_id: g.pick(&[
                "01a24b74-6d30-742f-8537-eff66b6b2c11".to_owned(),
                "r".into(),
            ]),
            entities: g.some(
                &[
                    "Observation/o1".to_owned(),
                    "Patient/p1/_history/2".into(),
                    "Patient/p2".into(),
                    "Encounter/e-1/_history/3".into(),
                    "AuditEvent/a1".into(),
                ],
                4,
            ),
            patients,
            query: g.maybe("name=smi&_count=5".to_owned()),
            server: g.pick(&[
                "https://h.example/fhir".to_owned(),
                "http://127.0.0.1:8080/fhir".into(),
            ]),
        }
    }

    /// Each kind of row as a sorted list of its debug forms (order is not meaningful).
    fn canonical(rows: &IndexRows) -> Vec<Vec<String>> {
        fn sorted<T: std::fmt::Debug>(v: &[T]) -> Vec<String> {
            let mut out: Vec<String> = v.iter().map(|r| format!("{r:?}")).collect();
            out.sort();
            out
        }
        vec![
            sorted(&rows.strings),
            sorted(&rows.tokens),
            sorted(&rows.refs),
            sorted(&rows.dates),
            sorted(&rows.numbers),
            sorted(&rows.quantities),
            sorted(&rows.uris),
            sorted(&rows.sort_dates),
        ]
    }

    fn indexer() -> Indexer {
        let registry = Arc::new(Registry::new());
        registry
            .register(&super::super::purpose_search_parameter())
            .unwrap();
        Indexer::with_registry("https://h.example/fhir", registry)
    }

    #[test]
    fn typed_rows_are_the_rows_fhirpath_computes() {
        let indexer = indexer();
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        let mut compared = 0;
        for _ in 0..3000 {
            let rec = record(&mut g);
            let fhirpath = indexer.index("AuditEvent", &rec.to_audit_event());
            let typed = typed_rows(&rec).unwrap();
            let (a, b) = (canonical(&typed), canonical(&fhirpath));
            if a != b {
                let only = |x: &[Vec<String>], y: &[Vec<String>]| -> Vec<String> {
                    x.iter()
                        .zip(y)
                        .flat_map(|(p, q)| p.iter().filter(|r| !q.contains(r)).cloned())
                        .collect()
                };
                let counts: Vec<(usize, usize)> =
                    a.iter().zip(&b).map(|(p, q)| (p.len(), q.len())).collect();
                panic!(
                    "typed only: {:?}\nfhirpath only: {:?}\ncounts {counts:?}\n{rec:?}",
                    only(&a, &b),
                    only(&b, &a)
                );
            }
            compared += 1;
        }
        assert_eq!(compared, 3000);
    }

    #[test]
    fn references_it_does_not_model_go_to_fhirpath() {
        let mut g = Gen(7);
        let mut rec = record(&mut g);
        rec.actor.fhir_user = Some("https://idp.example.org/fhir/Practitioner/1".into());
        assert!(typed_rows(&rec).is_none());
        let mut rec = record(&mut g);
        rec.actor.fhir_user = None;
        rec.entities = vec!["#contained".into()];
        assert!(typed_rows(&rec).is_none());
    }
}
