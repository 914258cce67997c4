//! Audit records and their IHE BALP AuditEvent form (R4). A record names who (user, fhirUser,
//! client, roles, address, user agent), what (resources, patients, the query), the action,
//! outcome, time and purpose of use, and the request id that ties it to the logs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
const RESTFUL: &str = "http://hl7.org/fhir/restful-interaction";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
const BALP_ENTITY: &str = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType";
const PARTICIPATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const WARD_EVENTS: &str = "urn:ward:audit-event";

/// AuditEvent.action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
    Execute,
}

impl Action {
    fn code(self) -> &'static str {
        match self {
            Self::Create => "C",
            Self::Read => "R",
            Self::Update => "U",
            Self::Delete => "D",
            Self::Execute => "E",
        }
    }
}

/// AuditEvent.outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The request failed for a reason on the client's side (4xx).
    MinorFailure,
    /// The request failed on the server's side (5xx).
    SeriousFailure,
}

impl Outcome {
    /// From an HTTP status.
    pub fn from_status(status: u16) -> Self {
        match status {
            0..=399 => Self::Success,
            400..=499 => Self::MinorFailure,
            _ => Self::SeriousFailure,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Success => "0",
            Self::MinorFailure => "4",
            Self::SeriousFailure => "8",
        }
    }
}

/// Security events (DICOM 110113 security alert / 110114 user authentication / Ward codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityEvent {
    Login,
    Logout,
    LoginFailed,
    MfaFailed,
    Lockout,
    RequestRejected,
    TokenIssued,
    TokenRefreshed,
    TokenRevoked,
    TokenIntrospected,
    BreakGlassOpened,
    BreakGlassReviewed,
    ClientChanged,
    UserChanged,
    KeyRotation,
    Backup,
    Restore,
    AuditExport,
    AuditVerify,
    AuditPurge,
    /// An authorization request at `/auth/authorize`, accepted or refused.
    AuthorizationRequest,
    /// The user's answer on the consent page: allowed (outcome 0) or denied (4).
    ConsentDecision,
    /// A right password with a second factor still due (no session handed out yet as signed in).
    LoginPendingMfa,
    /// TOTP enrollment started (secret and recovery codes shown) and completed (first code).
    TotpEnrollmentStarted,
    TotpEnrolled,
    /// A login session ended by the idle or absolute timeout (automatic logoff).
    SessionExpired,
    /// An EHR launch context created.
    LaunchCreated,
    /// An admin list (clients, users, break-glass grants) read.
    AdminListRead,
}

impl SecurityEvent {
    /// `(type system, type code, type display)` and the subtype code.
    fn coding(self) -> ((&'static str, &'static str, &'static str), &'static str) {
        let auth = (DCM, "110114", "User Authentication");
        let alert = (DCM, "110113", "Security Alert");
        let ward = (WARD_EVENTS, "security", "Ward security event");
        match self {
            Self::Login => (auth, "110122"),
            Self::Logout => (auth, "110123"),
            Self::LoginFailed => (auth, "login-failed"),
            Self::MfaFailed => (auth, "mfa-failed"),
            Self::Lockout => (alert, "lockout"),
            Self::RequestRejected => (alert, "request-rejected"),
            Self::TokenIssued => (ward, "token-issued"),
            Self::TokenRefreshed => (ward, "token-refreshed"),
            Self::TokenRevoked => (ward, "token-revoked"),
            Self::TokenIntrospected => (ward, "token-introspected"),
            Self::BreakGlassOpened => (alert, "break-glass-opened"),
            Self::BreakGlassReviewed => (ward, "break-glass-reviewed"),
            Self::ClientChanged => (ward, "client-changed"),
            Self::UserChanged => (ward, "user-changed"),
            Self::KeyRotation => (ward, "key-rotation"),
            Self::Backup => (ward, "backup"),
            Self::Restore => (ward, "restore"),
            Self::AuditExport => (ward, "audit-export"),
            Self::AuditVerify => (ward, "audit-verify"),
            Self::AuditPurge => (ward, "audit-purge"),
            Self::AuthorizationRequest => (ward, "authorization-request"),
            Self::ConsentDecision => (ward, "consent-decision"),
            Self::LoginPendingMfa => (auth, "login-pending-mfa"),
            Self::TotpEnrollmentStarted => (auth, "totp-enrollment-started"),
            Self::TotpEnrolled => (auth, "totp-enrolled"),
            Self::SessionExpired => (auth, "session-expired"),
            Self::LaunchCreated => (ward, "launch-created"),
            Self::AdminListRead => (ward, "admin-list-read"),
        }
    }
}

/// What kind of event this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A FHIR RESTful interaction; the code is from `restful-interaction` (`read`, `search-type`,
    /// `transaction`, `operation`, …).
    Rest(&'static str),
    Security(SecurityEvent),
}

/// Who acted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// Token subject (user name, client id or operator).
    pub subject: Option<String>,
    /// `fhirUser` reference, e.g. `Practitioner/123`.
    pub fhir_user: Option<String>,
    pub client_id: Option<String>,
    pub roles: Vec<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// One audit record, before it becomes an AuditEvent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub kind: EventKind,
    pub action: Action,
    pub outcome: Outcome,
    /// A stable, PHI-free description (an error code), for failures.
    pub outcome_desc: Option<String>,
    /// FHIR instant.
    pub recorded: String,
    pub actor: Actor,
    /// `v3-ActReason` codes, e.g. `BTG` under break-glass.
    pub purpose_of_use: Vec<String>,
    pub request_id: String,
    /// References of the resources acted on (`Observation/1`, `Observation/1/_history/2`).
    pub entities: Vec<String>,
    /// Ids of every patient whose data is concerned.
    pub patients: Vec<String>,
    /// The query string of a search or history, as received.
    pub query: Option<String>,
    /// The server's FHIR base URL (the destination).
    pub server: String,
}

fn coding(system: &str, code: &str) -> Value {
    json!({"system": system, "code": code})
}

impl AuditRecord {
    /// The AuditEvent (R4, IHE BALP shape) for this record, without `id`/`meta`.
    pub fn to_audit_event(&self) -> Value {
        let mut ev = Map::new();
        ev.insert("resourceType".into(), json!("AuditEvent"));
        let (type_coding, subtype) = match &self.kind {
            EventKind::Rest(code) => (
                json!({"system": EVENT_TYPE, "code": "rest", "display": "Restful Operation"}),
                coding(RESTFUL, code),
            ),
            EventKind::Security(s) => {
                let ((sys, code, display), sub) = s.coding();
                (
                    json!({"system": sys, "code": code, "display": display}),
                    coding(
                        if sys == DCM && sub.starts_with("1101") {
                            DCM
                        } else {
                            WARD_EVENTS
                        },
                        sub,
                    ),
                )
            }
        };
        ev.insert("type".into(), type_coding);
        ev.insert("subtype".into(), json!([subtype]));
        ev.insert("action".into(), json!(self.action.code()));
        ev.insert("recorded".into(), json!(self.recorded));
        ev.insert("outcome".into(), json!(self.outcome.code()));
        if let Some(d) = &self.outcome_desc {
            ev.insert("outcomeDesc".into(), json!(d));
        }
        let purposes: Vec<Value> = self
            .purpose_of_use
            .iter()
            .map(|c| json!({"coding": [coding(ACT_REASON, c)]}))
            .collect();
        if !purposes.is_empty() {
            ev.insert("purposeOfEvent".into(), json!(purposes));
        }
        ev.insert("agent".into(), Value::Array(self.agents(&purposes)));
        ev.insert(
            "source".into(),
            json!({"site": self.server, "observer": {"display": "Ward"},
                   "type": [coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4")]}),
        );
        ev.insert("entity".into(), Value::Array(self.entity_list()));
        Value::Object(ev)
    }

    fn agents(&self, purposes: &[Value]) -> Vec<Value> {
        let a = &self.actor;
        let mut user = Map::new();
        user.insert(
            "type".into(),
            json!({"coding": [coding(PARTICIPATION, "IRCP")]}),
        );
        if let Some(f) = &a.fhir_user {
            user.insert("who".into(), json!({"reference": f}));
        } else if let Some(s) = &a.subject {
            user.insert(
                "who".into(),
                json!({"identifier": {"system": "urn:ward:subject", "value": s}}),
            );
        }
        if let Some(s) = &a.subject {
            user.insert("altId".into(), json!(s));
        }
        if !a.roles.is_empty() {
            let roles: Vec<Value> = a.roles.iter().map(|r| json!({"text": r})).collect();
            user.insert("role".into(), Value::Array(roles));
        }
        user.insert("requestor".into(), json!(true));
        if !purposes.is_empty() {
            user.insert("purposeOfUse".into(), json!(purposes));
        }
        let mut client = Map::new();
        client.insert("type".into(), json!({"coding": [coding(DCM, "110153")]}));
        if let Some(c) = &a.client_id {
            client.insert(
                "who".into(),
                json!({"identifier": {"system": "urn:ward:client", "value": c}}),
            );
        }
        client.insert("requestor".into(), json!(false));
        if let Some(ip) = &a.source_ip {
            client.insert("network".into(), json!({"address": ip, "type": "2"}));
        }
        let server = json!({"type": {"coding": [coding(DCM, "110152")]}, "who": {"display": "Ward"},
                            "requestor": false, "network": {"address": self.server, "type": "5"}});
        vec![Value::Object(user), Value::Object(client), server]
    }

    fn entity_list(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for p in &self.patients {
            out.push(json!({"what": {"reference": format!("Patient/{p}")},
                            "type": coding(ENTITY_TYPE, "1"), "role": coding(OBJECT_ROLE, "1")}));
        }
        for e in &self.entities {
            out.push(json!({"what": {"reference": e}, "type": coding(ENTITY_TYPE, "2"), "role": coding(OBJECT_ROLE, "4")}));
        }
        if let Some(q) = &self.query {
            out.push(
                json!({"type": coding(ENTITY_TYPE, "2"), "role": coding(OBJECT_ROLE, "24"),
                            "query": STANDARD.encode(q.as_bytes())}),
            );
        }
        let mut rid = Map::new();
        rid.insert(
            "what".into(),
            json!({"identifier": {"value": self.request_id}}),
        );
        rid.insert("type".into(), coding(BALP_ENTITY, "XrequestId"));
        if let Some(ua) = &self.actor.user_agent {
            rid.insert(
                "detail".into(),
                json!([{"type": "user-agent", "valueString": ua}]),
            );
        }
        out.push(Value::Object(rid));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AuditRecord {
        AuditRecord {
            kind: EventKind::Rest("search-type"),
            action: Action::Execute,
            outcome: Outcome::Success,
            outcome_desc: None,
            recorded: "2026-11-25T10:00:00.000000Z".into(),
            actor: Actor {
                subject: Some("dr-who".into()),
                fhir_user: Some("Practitioner/7".into()),
                client_id: Some("app-1".into()),
                roles: vec!["clinician".into()],
                source_ip: Some("127.0.0.1".into()),
                user_agent: Some("curl/8".into()),
            },
            purpose_of_use: vec!["BTG".into()],
            request_id: "req-1".into(),
            entities: vec!["Observation/o1".into()],
            patients: vec!["p1".into(), "p2".into()],
            query: Some("code=123".into()),
            server: "https://h/fhir".into(),
        }
    }

    #[test]
    fn balp_shape() {
        let ev = record().to_audit_event();
        assert_eq!(ev["type"]["code"], "rest");
        assert_eq!(ev["subtype"][0]["code"], "search-type");
        assert_eq!(ev["action"], "E");
        assert_eq!(ev["outcome"], "0");
        assert_eq!(ev["purposeOfEvent"][0]["coding"][0]["code"], "BTG");
        assert_eq!(ev["agent"][0]["who"]["reference"], "Practitioner/7");
        assert_eq!(ev["agent"][0]["requestor"], true);
        assert_eq!(ev["agent"][1]["network"]["address"], "127.0.0.1");
        assert_eq!(ev["entity"][0]["what"]["reference"], "Patient/p1");
        assert_eq!(ev["entity"][1]["what"]["reference"], "Patient/p2");
        assert_eq!(ev["entity"][3]["query"], "Y29kZT0xMjM=");
        assert_eq!(ev["entity"][4]["what"]["identifier"]["value"], "req-1");
    }

    #[test]
    fn events_are_valid_r4() {
        let mut r = record();
        assert_eq!(
            ward_model::validate(&r.to_audit_event(), Some("AuditEvent")),
            vec![]
        );
        r.kind = EventKind::Security(SecurityEvent::LoginFailed);
        r.actor = Actor::default();
        r.patients.clear();
        r.query = None;
        assert_eq!(
            ward_model::validate(&r.to_audit_event(), Some("AuditEvent")),
            vec![]
        );
    }

    #[test]
    fn access_control_events_have_their_own_subtypes() {
        let cases = [
            (SecurityEvent::AuthorizationRequest, "authorization-request"),
            (SecurityEvent::ConsentDecision, "consent-decision"),
            (SecurityEvent::LoginPendingMfa, "login-pending-mfa"),
            (
                SecurityEvent::TotpEnrollmentStarted,
                "totp-enrollment-started",
            ),
            (SecurityEvent::TotpEnrolled, "totp-enrolled"),
            (SecurityEvent::SessionExpired, "session-expired"),
            (SecurityEvent::LaunchCreated, "launch-created"),
            (SecurityEvent::AdminListRead, "admin-list-read"),
        ];
        for (event, code) in cases {
            let mut r = record();
            r.kind = EventKind::Security(event);
            let ev = r.to_audit_event();
            assert_eq!(ev["subtype"][0]["system"], WARD_EVENTS, "{code}");
            assert_eq!(ev["subtype"][0]["code"], code);
            assert_eq!(ward_model::validate(&ev, Some("AuditEvent")), vec![]);
        }
        let mut r = record();
        r.kind = EventKind::Security(SecurityEvent::SessionExpired);
        assert_eq!(
            r.to_audit_event()["type"]["code"],
            "110114",
            "user authentication"
        );
    }

    #[test]
    fn security_events_and_failures() {
        let mut r = record();
        r.kind = EventKind::Security(SecurityEvent::Login);
        r.outcome = Outcome::from_status(401);
        r.outcome_desc = Some("WARD-AUTH-INVALID".into());
        let ev = r.to_audit_event();
        assert_eq!(ev["type"]["code"], "110114");
        assert_eq!(ev["subtype"][0]["code"], "110122");
        assert_eq!(ev["outcome"], "4");
        assert_eq!(Outcome::from_status(503), Outcome::SeriousFailure);
    }
}
