//! Compact storage of AuditEvent texts on the embedded store (docs/design/011-audit-file.md).
//!
//! An audited read writes its AuditEvent twice (the trail of record and the projection), and
//! at ~1.9 KB each text filled a page of its own (SQLCipher leaves 4,016 bytes a page, two
//! texts did not fit). Compressed with LZ4 against a fixed dictionary of AuditEvent text, a
//! read's record is ~200 bytes: the pages written, encrypted and synced per record fall
//! tenfold.
//!
//! Format: `0x00 0x01` then an LZ4 block with its uncompressed size prepended (little-endian
//! u32), compressed against [`DICT_V1`]. JSON text never starts with `0x00`, so a stored body
//! either is the text itself (resources, records written before this format) or starts with
//! the marker. The dictionary is part of the format: it never changes; a new one needs a new
//! version byte.

use ward_store::{StoreError, StoreResult};

/// The version-1 dictionary: five typical AuditEvent texts (security events, a create, a
/// search and a read).
const DICT_V1: &[u8] = include_bytes!("audit-dict-v1.json");

const MARK: u8 = 0x00;
const V1: u8 = 0x01;
/// The largest text a stored body may expand to.
const MAX_TEXT: usize = 64 << 20;

/// The stored form of an AuditEvent text.
pub(crate) fn pack(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 + 16);
    out.push(MARK);
    out.push(V1);
    out.extend_from_slice(&lz4_flex::block::compress_prepend_size_with_dict(
        text, DICT_V1,
    ));
    out
}

/// The text of a stored body: unpacked when it was packed, as it is otherwise.
pub fn unpack(stored: Vec<u8>) -> StoreResult<Vec<u8>> {
    match stored.as_slice() {
        [MARK, V1, block @ ..] => {
            let size = block
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_le_bytes)
                .ok_or(StoreError::Integrity)?;
            if usize::try_from(size).map_or(true, |s| s > MAX_TEXT) {
                return Err(StoreError::Integrity);
            }
            lz4_flex::block::decompress_size_prepended_with_dict(block, DICT_V1)
                .map_err(|_| StoreError::Integrity)
        }
        [MARK, ..] => Err(StoreError::Integrity),
        _ => Ok(stored),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn packs_small_and_round_trips() {
        let text = br#"{"resourceType":"AuditEvent","id":"01a24c00-0000-7000-8000-000000000001","meta":{"versionId":"1","lastUpdated":"2026-12-07T09:00:00.000001Z"},"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest","display":"Restful Operation"},"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"read"}],"action":"R","recorded":"2026-12-07T09:00:00.000000Z","outcome":"0","agent":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"who":{"identifier":{"system":"urn:ward:subject","value":"operator"}},"altId":"operator","requestor":true},{"type":{"coding":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110153"}]},"requestor":false,"network":{"address":"127.0.0.1","type":"2"}},{"type":{"coding":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110152"}]},"who":{"display":"Ward"},"requestor":false,"network":{"address":"https://fhir.example.org/fhir","type":"5"}}],"source":{"site":"https://fhir.example.org/fhir","observer":{"display":"Ward"},"type":[{"system":"http://terminology.hl7.org/CodeSystem/security-source-type","code":"4"}]},"entity":[{"what":{"reference":"Patient/p1"},"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"1"},"role":{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"1"}},{"what":{"reference":"Observation/o1/_history/1"},"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"2"},"role":{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"4"}},{"what":{"identifier":{"value":"01a24c00-0000-7000-8000-000000000002"}},"type":{"system":"https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType","code":"XrequestId"}}]}"#;
        let packed = pack(text);
        assert!(
            packed.len() < text.len() / 5,
            "{} bytes packed from {}",
            packed.len(),
            text.len()
        );
        assert_eq!(unpack(packed).unwrap(), text.to_vec());
    }

    #[test]
    fn plain_text_passes_and_damage_is_an_integrity_error() {
        assert_eq!(unpack(b"{}".to_vec()).unwrap(), b"{}".to_vec());
        assert!(matches!(
            unpack(vec![0, 9, 1, 2]),
            Err(StoreError::Integrity)
        ));
        let mut packed = pack(b"{\"resourceType\":\"AuditEvent\"}");
        packed.truncate(packed.len() - 3);
        assert!(unpack(packed).is_err());
        // a size beyond the bound is refused before anything is allocated
        assert!(matches!(
            unpack(vec![0, 1, 0xff, 0xff, 0xff, 0xff, 0]),
            Err(StoreError::Integrity)
        ));
    }
}
