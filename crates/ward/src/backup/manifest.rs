//! The backup manifest (`FILE.manifest.json`): what the copy is, its SHA-256 and the head of the
//! audit chain inside it, under an HMAC-SHA-256 whose key is derived from the data directory's
//! master key (`ward/backup-manifest/v1`), so only that directory's keys can produce it.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ward_crypto::{Mac, MasterKey};

/// HKDF label of the manifest's MAC key (and the domain separator of what it signs).
pub const LABEL: &str = "ward/backup-manifest/v1";
/// `format` of every manifest.
pub const FORMAT: &str = "ward-backup";
/// The manifest version this Ward writes (version 2 names the audit trail file beside the
/// database copy; version 1, a single-file backup of an earlier Ward, is still read).
pub const VERSION: u32 = 2;
/// A manifest is a few hundred bytes; anything much larger is not one.
const MAX_BYTES: u64 = 64 * 1024;

/// The signed part of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    pub format: String,
    pub version: u32,
    /// When the copy was taken (RFC 3339, UTC).
    pub created: String,
    pub ward_version: String,
    /// The backup's file name when it was written (informational; it may be renamed).
    pub file: String,
    pub bytes: u64,
    /// SHA-256 of the backup file, hex.
    pub sha256: String,
    /// Resources in the copy (current, not deleted, AuditEvents apart).
    pub resources: u64,
    /// The first audit chain record in the copy (`0` when empty; above `1` after a purge).
    pub audit_first: u64,
    /// The last audit chain record in the copy, and its hash (hex).
    pub audit_seq: u64,
    pub audit_hash: String,
    /// The copy of the audit trail file beside the backup file (version 2): its size and
    /// SHA-256 (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_sha256: Option<String>,
}

/// The manifest file: the body and its HMAC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub manifest: Body,
    pub hmac_sha256: String,
}

/// Where the manifest of the backup at `file` lives.
pub fn path_for(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".manifest.json");
    PathBuf::from(s)
}

/// The MAC key of a data directory's manifests.
pub fn mac_key(master: &MasterKey) -> Result<Mac, String> {
    master
        .derive(LABEL)
        .map(|k| Mac::new(&k))
        .map_err(|e| e.to_string())
}

fn signed_bytes(body: &Body) -> Result<Vec<u8>, String> {
    let mut out = LABEL.as_bytes().to_vec();
    out.push(b'\n');
    out.extend(serde_json::to_vec(body).map_err(|e| e.to_string())?);
    Ok(out)
}

impl Manifest {
    /// Signs `body`.
    pub fn sign(body: Body, mac: &Mac) -> Result<Self, String> {
        let tag = mac.sign(&signed_bytes(&body)?);
        Ok(Self {
            manifest: body,
            hmac_sha256: hex::encode(tag),
        })
    }

    /// True when the HMAC is this data directory's over exactly this body.
    pub fn verify(&self, mac: &Mac) -> bool {
        let Ok(tag) = hex::decode(&self.hmac_sha256) else {
            return false;
        };
        signed_bytes(&self.manifest).is_ok_and(|b| mac.verify(&b, &tag))
    }

    /// Writes the manifest to `path`, which must not exist (mode 0600, synced).
    pub fn write_new(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(&text)?;
        f.sync_all()
    }

    /// Reads and parses the manifest at `path`; checks its format and version.
    pub fn read(path: &Path) -> Result<Self, String> {
        let f = std::fs::File::open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "no manifest at {}: the backup is incomplete, or its manifest was not copied with it",
                    path.display()
                )
            } else {
                format!("cannot read {}: {e}", path.display())
            }
        })?;
        let mut text = Vec::new();
        f.take(MAX_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if text.len() as u64 > MAX_BYTES {
            return Err(format!("{} is too large to be a manifest", path.display()));
        }
        let m: Self = serde_json::from_slice(&text)
            .map_err(|e| format!("{} is not a Ward backup manifest: {e}", path.display()))?;
        let two_files = m.manifest.audit_bytes.is_some() && m.manifest.audit_sha256.is_some();
        let known = match m.manifest.version {
            1 => m.manifest.audit_bytes.is_none() && m.manifest.audit_sha256.is_none(),
            VERSION => two_files,
            _ => false,
        };
        if m.manifest.format != FORMAT || !known {
            return Err(format!(
                "{} has format {:?} version {}; this Ward reads {FORMAT:?} versions 1 and {VERSION}",
                path.display(),
                m.manifest.format,
                m.manifest.version
            ));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Body {
        Body {
            format: FORMAT.into(),
            version: VERSION,
            created: "2026-12-03T10:00:00Z".into(),
            ward_version: "0.1.0".into(),
            file: "b.db".into(),
            bytes: 4096,
            sha256: "00".repeat(32),
            resources: 3,
            audit_first: 1,
            audit_seq: 7,
            audit_hash: "11".repeat(32),
            audit_bytes: Some(1024),
            audit_sha256: Some("22".repeat(32)),
        }
    }

    fn key(b: u8) -> Mac {
        let hex = format!("{b:02x}").repeat(32);
        mac_key(&MasterKey::from_hex(hex.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn only_the_same_key_over_the_same_body_verifies() {
        let m = Manifest::sign(body(), &key(1)).unwrap();
        assert!(m.verify(&key(1)));
        assert!(!m.verify(&key(2)));
        let mut changed = m.clone();
        changed.manifest.audit_seq = 6;
        assert!(!changed.verify(&key(1)));
        let mut bad = m;
        bad.hmac_sha256 = "zz".into();
        assert!(!bad.verify(&key(1)));
    }

    #[test]
    fn round_trips_through_the_file_and_refuses_to_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let p = path_for(&tmp.path().join("b.db"));
        assert!(p.ends_with("b.db.manifest.json"));
        let m = Manifest::sign(body(), &key(1)).unwrap();
        m.write_new(&p).unwrap();
        assert!(m.write_new(&p).is_err());
        let back = Manifest::read(&p).unwrap();
        assert_eq!(back.manifest, m.manifest);
        assert!(back.verify(&key(1)));
        std::fs::write(&p, b"{}").unwrap();
        assert!(
            Manifest::read(&p)
                .unwrap_err()
                .contains("not a Ward backup manifest")
        );
    }

    #[test]
    fn a_version_1_manifest_is_read_and_must_not_name_a_trail_file() {
        let tmp = tempfile::tempdir().unwrap();
        let write = |name: &str, b: Body| {
            let p = path_for(&tmp.path().join(name));
            Manifest::sign(b, &key(1)).unwrap().write_new(&p).unwrap();
            Manifest::read(&p)
        };
        let v1 = Body {
            version: 1,
            audit_bytes: None,
            audit_sha256: None,
            ..body()
        };
        assert!(write("v1.db", v1.clone()).is_ok());
        let mixed = Body {
            audit_bytes: Some(1),
            ..v1
        };
        assert!(write("mixed.db", mixed).is_err());
        let v2_without = Body {
            audit_sha256: None,
            ..body()
        };
        assert!(write("v2.db", v2_without).is_err());
    }
}
