//! Audit records and their IHE BALP AuditEvent form (R4). A record names who (user, fhirUser,
//! client, roles, address, user agent), what (resources, patients, the query), the action,
//! outcome, time and purpose of use, and the request id that ties it to the logs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;

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
    /// The `AuditEvent.action` code.
    pub fn code(self) -> &'static str {
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

    /// The `AuditEvent.outcome` code.
    pub fn code(self) -> &'static str {
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

/// A `Coding` with a system and code (and a display where BALP gives one).
#[derive(Serialize)]
struct Coding<'a> {
    system: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<&'a str>,
}

fn coding<'a>(system: &'a str, code: &'a str) -> Coding<'a> {
    Coding {
        system,
        code,
        display: None,
    }
}

#[derive(Serialize)]
struct Concept<'a> {
    coding: [Coding<'a>; 1],
}

#[derive(Serialize)]
struct Meta<'a> {
    #[serde(rename = "versionId")]
    version_id: &'a str,
    #[serde(rename = "lastUpdated")]
    last_updated: &'a str,
}

#[derive(Serialize)]
struct IdentifierValue<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    value: &'a str,
}

/// `Reference`: by reference, by identifier, or by display.
#[derive(Serialize)]
struct Who<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identifier: Option<IdentifierValue<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<&'a str>,
}

#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct Network<'a> {
    address: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct Agent<'a> {
    #[serde(rename = "type")]
    kind: Concept<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    who: Option<Who<'a>>,
    #[serde(rename = "altId", skip_serializing_if = "Option::is_none")]
    alt_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    role: Vec<Text<'a>>,
    requestor: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<Network<'a>>,
    #[serde(rename = "purposeOfUse", skip_serializing_if = "<[_]>::is_empty")]
    purpose_of_use: &'a [Concept<'a>],
}

#[derive(Serialize)]
struct Observer<'a> {
    display: &'a str,
}

#[derive(Serialize)]
struct Source<'a> {
    site: &'a str,
    observer: Observer<'a>,
    #[serde(rename = "type")]
    kind: [Coding<'a>; 1],
}

#[derive(Serialize)]
struct Detail<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(rename = "valueString")]
    value: &'a str,
}

#[derive(Serialize)]
struct Entity<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    what: Option<Who<'a>>,
    #[serde(rename = "type")]
    kind: Coding<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<Coding<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<[Detail<'a>; 1]>,
}

/// The AuditEvent, field by field in the order it is written.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Meta<'a>>,
    #[serde(rename = "type")]
    kind: Coding<'a>,
    subtype: [Coding<'a>; 1],
    action: &'static str,
    recorded: &'a str,
    outcome: &'static str,
    #[serde(rename = "outcomeDesc", skip_serializing_if = "Option::is_none")]
    outcome_desc: Option<&'a str>,
    #[serde(rename = "purposeOfEvent", skip_serializing_if = "<[_]>::is_empty")]
    purpose_of_event: &'a [Concept<'a>],
    agent: [Agent<'a>; 3],
    source: Source<'a>,
    entity: Vec<Entity<'a>>,
}

impl EventKind {
    /// `((type system, type code, type display), (subtype system, subtype code))`.
    pub fn codings(&self) -> ((&'static str, &str, &'static str), (&'static str, &str)) {
        match self {
            Self::Rest(code) => ((EVENT_TYPE, "rest", "Restful Operation"), (RESTFUL, code)),
            Self::Security(s) => {
                let ((sys, code, display), sub) = s.coding();
                let sub_system = if sys == DCM && sub.starts_with("1101") {
                    DCM
                } else {
                    WARD_EVENTS
                };
                ((sys, code, display), (sub_system, sub))
            }
        }
    }
}

impl AuditRecord {
    /// The AuditEvent (R4, IHE BALP shape) for this record, without `id`/`meta`.
    pub fn to_audit_event(&self) -> Value {
        let purposes = self.purposes();
        let patients = self.patient_refs();
        serde_json::to_value(self.event(None, &purposes, &patients)).unwrap_or(Value::Null)
    }

    /// The JSON text of this record as version 1 of AuditEvent `id`, last updated at the
    /// FHIR instant `last_updated`: `resourceType`, `id` and `meta` first, then the fields of
    /// [`AuditRecord::to_audit_event`] in the same order.
    pub fn to_json(&self, id: &str, last_updated: &str) -> Vec<u8> {
        let purposes = self.purposes();
        let patients = self.patient_refs();
        let meta = Meta {
            version_id: "1",
            last_updated,
        };
        let ev = self.event(Some((id, meta)), &purposes, &patients);
        let mut out = Vec::with_capacity(2048);
        // (serialising these structs cannot fail: only strings, booleans and arrays)
        if serde_json::to_writer(&mut out, &ev).is_err() {
            out.clear();
        }
        out
    }

    fn purposes(&self) -> Vec<Concept<'_>> {
        self.purpose_of_use
            .iter()
            .map(|c| Concept {
                coding: [coding(ACT_REASON, c)],
            })
            .collect()
    }

    fn patient_refs(&self) -> Vec<String> {
        self.patients
            .iter()
            .map(|p| format!("Patient/{p}"))
            .collect()
    }

    fn event<'a>(
        &'a self,
        stamp: Option<(&'a str, Meta<'a>)>,
        purposes: &'a [Concept<'a>],
        patients: &'a [String],
    ) -> Event<'a> {
        let ((system, code, display), (sub_system, sub_code)) = self.kind.codings();
        let kind = Coding {
            system,
            code,
            display: Some(display),
        };
        let subtype = coding(sub_system, sub_code);
        let (id, meta) = match stamp {
            Some((id, meta)) => (Some(id), Some(meta)),
            None => (None, None),
        };
        Event {
            resource_type: "AuditEvent",
            id,
            meta,
            kind,
            subtype: [subtype],
            action: self.action.code(),
            recorded: &self.recorded,
            outcome: self.outcome.code(),
            outcome_desc: self.outcome_desc.as_deref(),
            purpose_of_event: purposes,
            agent: self.agents(purposes),
            source: Source {
                site: &self.server,
                observer: Observer { display: "Ward" },
                kind: [coding(
                    "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "4",
                )],
            },
            entity: self.entity_list(patients),
        }
    }

    fn agents<'a>(&'a self, purposes: &'a [Concept<'a>]) -> [Agent<'a>; 3] {
        let a = &self.actor;
        let who = match (&a.fhir_user, &a.subject) {
            (Some(f), _) => Some(Who {
                reference: Some(f),
                identifier: None,
                display: None,
            }),
            (None, Some(s)) => Some(Who {
                reference: None,
                identifier: Some(IdentifierValue {
                    system: Some("urn:ward:subject"),
                    value: s,
                }),
                display: None,
            }),
            (None, None) => None,
        };
        let user = Agent {
            kind: Concept {
                coding: [coding(PARTICIPATION, "IRCP")],
            },
            who,
            alt_id: a.subject.as_deref(),
            role: a.roles.iter().map(|r| Text { text: r }).collect(),
            requestor: true,
            network: None,
            purpose_of_use: purposes,
        };
        let client = Agent {
            kind: Concept {
                coding: [coding(DCM, "110153")],
            },
            who: a.client_id.as_deref().map(|c| Who {
                reference: None,
                identifier: Some(IdentifierValue {
                    system: Some("urn:ward:client"),
                    value: c,
                }),
                display: None,
            }),
            alt_id: None,
            role: Vec::new(),
            requestor: false,
            network: a.source_ip.as_deref().map(|ip| Network {
                address: ip,
                kind: "2",
            }),
            purpose_of_use: &[],
        };
        let server = Agent {
            kind: Concept {
                coding: [coding(DCM, "110152")],
            },
            who: Some(Who {
                reference: None,
                identifier: None,
                display: Some("Ward"),
            }),
            alt_id: None,
            role: Vec::new(),
            requestor: false,
            network: Some(Network {
                address: &self.server,
                kind: "5",
            }),
            purpose_of_use: &[],
        };
        [user, client, server]
    }

    fn entity_list<'a>(&'a self, patients: &'a [String]) -> Vec<Entity<'a>> {
        let by_ref = |r: &'a str| {
            Some(Who {
                reference: Some(r),
                identifier: None,
                display: None,
            })
        };
        let mut out = Vec::with_capacity(patients.len() + self.entities.len() + 2);
        for p in patients {
            out.push(Entity {
                what: by_ref(p),
                kind: coding(ENTITY_TYPE, "1"),
                role: Some(coding(OBJECT_ROLE, "1")),
                query: None,
                detail: None,
            });
        }
        for e in &self.entities {
            out.push(Entity {
                what: by_ref(e),
                kind: coding(ENTITY_TYPE, "2"),
                role: Some(coding(OBJECT_ROLE, "4")),
                query: None,
                detail: None,
            });
        }
        if let Some(q) = &self.query {
            out.push(Entity {
                what: None,
                kind: coding(ENTITY_TYPE, "2"),
                role: Some(coding(OBJECT_ROLE, "24")),
                query: Some(STANDARD.encode(q.as_bytes())),
                detail: None,
            });
        }
        out.push(Entity {
            what: Some(Who {
                reference: None,
                identifier: Some(IdentifierValue {
                    system: None,
                    value: &self.request_id,
                }),
                display: None,
            }),
            kind: coding(BALP_ENTITY, "XrequestId"),
            role: None,
            query: None,
            detail: self.actor.user_agent.as_deref().map(|ua| {
                [Detail {
                    kind: "user-agent",
                    value: ua,
                }]
            }),
        });
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
    fn the_stored_text_is_the_event_with_id_and_meta_first() {
        let r = record();
        let text = r.to_json("ae-1", "2026-11-25T10:00:00.000001Z");
        let text = std::str::from_utf8(&text).unwrap();
        assert!(
            text.starts_with(
                r#"{"resourceType":"AuditEvent","id":"ae-1","meta":{"versionId":"1","lastUpdated":"2026-11-25T10:00:00.000001Z"},"type":"#
            ),
            "{text}"
        );
        let mut parsed: Value = serde_json::from_str(text).unwrap();
        let obj = parsed.as_object_mut().unwrap();
        assert_eq!(obj.remove("id").unwrap(), "ae-1");
        assert!(obj.remove("meta").is_some());
        assert_eq!(parsed, r.to_audit_event());
        assert_eq!(
            ward_model::validate(&serde_json::from_str(text).unwrap(), Some("AuditEvent")),
            vec![]
        );
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
