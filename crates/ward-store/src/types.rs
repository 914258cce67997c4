//! Value types that cross the storage boundary.

use bytes::Bytes;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A point in time with microsecond precision (UTC), as stored: microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From an `OffsetDateTime`, truncated to microseconds.
    pub fn from_datetime(t: OffsetDateTime) -> Self {
        let micros = t.unix_timestamp_nanos() / 1_000;
        Self(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    /// As an `OffsetDateTime` in UTC.
    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// FHIR `instant` text, e.g. `2026-11-25T02:30:00.123456Z`.
    pub fn to_fhir_instant(self) -> String {
        let t = self.to_datetime();
        let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
        let (h, mi, s, us) = (t.hour(), t.minute(), t.second(), t.microsecond());
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z")
    }

    /// Whole seconds since the epoch (HTTP dates have second precision).
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// Parses an RFC 3339 / FHIR instant with a time zone.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .map(Self::from_datetime)
    }
}

/// How a version came to be; echoed in history bundles as `request.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMethod {
    Create,
    Update,
    Patch,
    Delete,
}

impl WriteMethod {
    /// The HTTP verb shown in history entries.
    pub fn http_verb(self) -> &'static str {
        match self {
            Self::Create => "POST",
            Self::Update => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    /// Compact storage code.
    pub fn code(self) -> i64 {
        match self {
            Self::Create => 1,
            Self::Update => 2,
            Self::Patch => 3,
            Self::Delete => 4,
        }
    }

    /// Inverse of [`WriteMethod::code`].
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            1 => Self::Create,
            2 => Self::Update,
            3 => Self::Patch,
            4 => Self::Delete,
            _ => return None,
        })
    }
}

/// Metadata of one stored version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta {
    pub rtype: String,
    pub id: String,
    pub version: u64,
    pub last_updated: Timestamp,
    pub method: WriteMethod,
    /// Store-wide position of this version (orders system history).
    pub seq: i64,
    /// Ids of the Patients whose compartment this version is in (for audit and access
    /// decisions without re-reading the body).
    pub patients: Vec<String>,
}

impl VersionMeta {
    /// True if this version is a deletion marker.
    pub fn deleted(&self) -> bool {
        self.method == WriteMethod::Delete
    }
}

/// A stored version: its metadata and, unless it is a deletion, the resource's JSON text
/// (with `id` and `meta.versionId`/`meta.lastUpdated` already set).
#[derive(Debug, Clone)]
pub struct StoredResource {
    pub meta: VersionMeta,
    pub body: Option<Bytes>,
}

/// A version to append.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub rtype: String,
    pub id: String,
    pub version: u64,
    pub last_updated: Timestamp,
    pub method: WriteMethod,
    /// The JSON text; `None` for a deletion.
    pub body: Option<Bytes>,
    /// Search index rows of this version (empty for a deletion, which removes the resource's
    /// rows). Computed by [`crate::index::Indexer`].
    pub index: crate::index::IndexRows,
    /// Ids of the Patients whose compartment this version is in
    /// ([`crate::index::patient_compartment`]).
    pub patients: Vec<String>,
}

/// One record of the audit chain as stored: its position, links, and the exact AuditEvent
/// text that was hashed (`None` when the AuditEvent version row is missing or its envelope
/// does not open), with the AuditEvent's id, time and patients as stored beside it.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub seq: u64,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
    pub body: Option<Bytes>,
    /// The AuditEvent's id (`None` when its row is missing).
    pub id: Option<String>,
    /// Its `meta.lastUpdated` (`None` when its row is missing).
    pub recorded: Option<Timestamp>,
    /// The Patients whose data the record concerns (its compartment).
    pub patients: Vec<String>,
}

/// One chain record handed to the projection (`StoreTx::index_audit`): its position and, when
/// it can be projected, the AuditEvent to make readable and searchable. A record whose text is
/// missing or unreadable (the verifier reports it) has none: the projection only moves past it.
#[derive(Debug, Clone)]
pub struct AuditIndexed {
    pub seq: u64,
    pub hash: [u8; 32],
    pub event: Option<AuditProjection>,
}

/// The AuditEvent of a chain record, as its projection stores it. A backend that keeps the
/// trail apart from the data stores it as version 1 of an `AuditEvent` resource.
#[derive(Debug, Clone)]
pub struct AuditProjection {
    pub id: String,
    pub recorded: Timestamp,
    /// The exact AuditEvent text that was hashed.
    pub body: Bytes,
    pub patients: Vec<String>,
    pub index: crate::index::IndexRows,
}

/// Which history to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryScope {
    System,
    Type(String),
    Instance(String, String),
}

/// A history request.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub scope: HistoryScope,
    /// Only versions updated at or after this instant.
    pub since: Option<Timestamp>,
    /// Only versions strictly before this store position (the paging cursor).
    pub before_seq: Option<i64>,
    /// Page size.
    pub count: usize,
}

/// One page of history, newest first.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub entries: Vec<StoredResource>,
    /// The cursor for the next page, when there is one.
    pub next_before_seq: Option<i64>,
}

/// The stored form of a version's patient list (`None` when empty): ids joined by commas
/// (FHIR ids hold no comma).
pub fn join_patients(patients: &[String]) -> Option<String> {
    (!patients.is_empty()).then(|| patients.join(","))
}

/// Inverse of [`join_patients`].
pub fn split_patients(stored: Option<&str>) -> Vec<String> {
    stored
        .map(|p| p.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_formatting_and_parsing() {
        let t = Timestamp::parse_rfc3339("2026-11-25T02:30:05.123456Z").unwrap();
        assert_eq!(t.to_fhir_instant(), "2026-11-25T02:30:05.123456Z");
        assert_eq!(t.unix_seconds(), 1_795_573_805);
        let z = Timestamp::parse_rfc3339("2026-11-25T04:30:05+02:00").unwrap();
        assert_eq!(z.to_fhir_instant(), "2026-11-25T02:30:05.000000Z");
        assert!(Timestamp::parse_rfc3339("2026-11-25").is_none());
    }

    #[test]
    fn method_codes_round_trip() {
        for m in [
            WriteMethod::Create,
            WriteMethod::Update,
            WriteMethod::Patch,
            WriteMethod::Delete,
        ] {
            assert_eq!(WriteMethod::from_code(m.code()), Some(m));
        }
        assert_eq!(WriteMethod::from_code(9), None);
    }
}
