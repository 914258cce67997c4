//! The record a retention purge leaves in the chain. Purging removes a prefix of the trail
//! (records `from..=through`); the first record kept then links to `through`'s hash instead
//! of the genesis hash. The verifier accepts such a start only when a purge record in the kept
//! trail names exactly that position and hash, and a signed checkpoint covers that record —
//! so deleting old records by hand, or forging a purge record, is still caught.
//!
//! The note travels in the AuditEvent's `outcomeDesc`, as one fixed, PHI-free line:
//! `purged seq FROM-THROUGH (N records) through hash HEX; archive sha256 HEX`.

use serde_json::Value;

/// The subtype code of a purge record (`urn:ward:audit-event`).
pub const PURGE_SUBTYPE: &str = "audit-purge";

/// What one purge removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeNote {
    /// First purged record.
    pub from: u64,
    /// Last purged record.
    pub through: u64,
    /// The hash of record `through` (the `prev_hash` of the first record kept).
    pub through_hash: [u8; 32],
    /// SHA-256 of the verified archive that holds the purged records.
    pub archive_sha256: [u8; 32],
}

impl PurgeNote {
    /// The `outcomeDesc` text.
    pub fn to_desc(&self) -> String {
        format!(
            "purged seq {}-{} ({} records) through hash {}; archive sha256 {}",
            self.from,
            self.through,
            self.through.saturating_sub(self.from).saturating_add(1),
            hex::encode(self.through_hash),
            hex::encode(self.archive_sha256)
        )
    }

    /// Parses [`PurgeNote::to_desc`]'s text.
    pub fn parse(desc: &str) -> Option<Self> {
        let rest = desc.strip_prefix("purged seq ")?;
        let (range, rest) = rest.split_once(" (")?;
        let (from, through) = range.split_once('-')?;
        let (_, rest) = rest.split_once(" records) through hash ")?;
        let (hash, archive) = rest.split_once("; archive sha256 ")?;
        let hex32 = |s: &str| -> Option<[u8; 32]> {
            <[u8; 32]>::try_from(hex::decode(s).ok()?.as_slice()).ok()
        };
        let note = Self {
            from: from.parse().ok()?,
            through: through.parse().ok()?,
            through_hash: hex32(hash)?,
            archive_sha256: hex32(archive)?,
        };
        (note.from >= 1 && note.through >= note.from).then_some(note)
    }

    /// The note of a stored AuditEvent body, when it is a successful purge record.
    pub fn from_event(body: &[u8]) -> Option<Self> {
        // Cheap test first: almost no record is a purge record.
        let needle = PURGE_SUBTYPE.as_bytes();
        if !body.windows(needle.len()).any(|w| w == needle) {
            return None;
        }
        let ev: Value = serde_json::from_slice(body).ok()?;
        let subtype_is_purge = ev.get("subtype")?.as_array()?.iter().any(|c| {
            c.get("code").and_then(Value::as_str) == Some(PURGE_SUBTYPE)
                && c.get("system").and_then(Value::as_str) == Some("urn:ward:audit-event")
        });
        if !subtype_is_purge || ev.get("outcome").and_then(Value::as_str) != Some("0") {
            return None;
        }
        Self::parse(ev.get("outcomeDesc")?.as_str()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Actor, AuditRecord, EventKind, Outcome, SecurityEvent};

    fn note() -> PurgeNote {
        PurgeNote {
            from: 3,
            through: 120,
            through_hash: [7; 32],
            archive_sha256: [9; 32],
        }
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let n = note();
        let d = n.to_desc();
        assert!(d.starts_with("purged seq 3-120 (118 records) through hash 0707"));
        assert_eq!(PurgeNote::parse(&d), Some(n));
        assert_eq!(
            PurgeNote::parse("purged seq 5-4 (0 records) through hash 00; archive sha256 00"),
            None
        );
        assert_eq!(PurgeNote::parse(&d.replace("0707", "07")), None);
        assert_eq!(PurgeNote::parse("something else"), None);
    }

    #[test]
    fn found_only_in_successful_purge_events() {
        let rec = |kind, outcome| AuditRecord {
            kind: EventKind::Security(kind),
            action: Action::Execute,
            outcome,
            outcome_desc: Some(note().to_desc()),
            recorded: "2026-12-03T10:00:00Z".into(),
            actor: Actor::default(),
            purpose_of_use: Vec::new(),
            request_id: "r".into(),
            entities: Vec::new(),
            patients: Vec::new(),
            query: None,
            server: "https://x/fhir".into(),
        };
        let body = |r: AuditRecord| serde_json::to_vec(&r.to_audit_event()).unwrap_or_default();
        assert_eq!(
            PurgeNote::from_event(&body(rec(SecurityEvent::AuditPurge, Outcome::Success))),
            Some(note())
        );
        assert_eq!(
            PurgeNote::from_event(&body(rec(
                SecurityEvent::AuditPurge,
                Outcome::SeriousFailure
            ))),
            None
        );
        assert_eq!(
            PurgeNote::from_event(&body(rec(SecurityEvent::AuditVerify, Outcome::Success))),
            None
        );
    }
}
