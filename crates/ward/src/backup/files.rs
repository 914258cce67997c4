//! File handling for backups: hashing copies, no-clobber publication, the database's WAL and
//! SHM companions, its audit trail file (docs/design/011-audit-file.md), and moving a database
//! aside.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ward_crypto::Sha256;

const CHUNK: usize = 1 << 20;

/// The companions SQLite keeps next to a database file, in the order they are moved.
pub const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Size and SHA-256 of the file at `path`, read in chunks.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, [u8; 32])> {
    ward_crypto::sha256_reader(std::fs::File::open(path)?)
}

/// Copies `from` to `to` (which must not exist; created 0600, synced), returning the size and
/// SHA-256 of what was written, so the copy itself is what gets checked.
pub fn copy_hashing(from: &Path, to: &Path) -> std::io::Result<(u64, [u8; 32])> {
    let mut src = std::fs::File::open(from)?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        dst.write_all(chunk)?;
        h.update(chunk);
        total += n as u64;
    }
    dst.sync_all()?;
    Ok((total, h.finish()))
}

/// Publishes `tmp` as `to` without ever replacing an existing `to` (a hard link fails when the
/// name exists), then removes the temporary name.
pub fn publish(tmp: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::hard_link(tmp, to)?;
    std::fs::remove_file(tmp)
}

/// Makes renames and new names in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Removes `path` if it exists; other failures are logged, not returned (clean-up paths).
pub fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(file = %path.display(), error = %e.kind(), "could not remove a temporary file");
    }
}

/// The audit trail file that belongs to the database at `path`.
pub fn trail_of(path: &Path) -> PathBuf {
    ward_store_sqlite::trail_path(path)
}

/// Every file of the database at `path`: the file, its audit trail file, and the companions of
/// both.
fn family(path: &Path) -> Vec<PathBuf> {
    let trail = trail_of(path);
    [path, trail.as_path()]
        .into_iter()
        .flat_map(|f| {
            std::iter::once("")
                .chain(COMPANIONS)
                .map(move |s| with_suffix(f, s))
        })
        .collect()
}

/// Removes a database file, its audit trail file and their companions.
pub fn remove_db(path: &Path) {
    for f in family(path) {
        remove_quietly(&f);
    }
}

/// True when any file of the database at `path` exists.
pub fn db_present(path: &Path) -> bool {
    family(path).iter().any(|f| f.exists())
}

/// Renames every file of the database at `from` (its trail file too) to the same names for
/// `to`. Refuses when any target name exists. On a failure half-way, the files already moved
/// are moved back.
pub fn move_db(from: &Path, to: &Path) -> std::io::Result<()> {
    let pairs: Vec<(PathBuf, PathBuf)> = family(from)
        .into_iter()
        .zip(family(to))
        .filter(|(f, _)| f.exists())
        .collect();
    if let Some((_, t)) = pairs.iter().find(|(_, t)| t.exists()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists", t.display()),
        ));
    }
    for (i, (f, t)) in pairs.iter().enumerate() {
        if let Err(e) = std::fs::rename(f, t) {
            for (f, t) in pairs.iter().take(i) {
                let _ = std::fs::rename(t, f);
            }
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_hash_what_they_wrote_and_never_clobber() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        std::fs::write(&a, b"abc").unwrap();
        let b = tmp.path().join("b");
        let (n, h) = copy_hashing(&a, &b).unwrap();
        assert_eq!((n, h), (3, ward_crypto::sha256(b"abc")));
        assert_eq!(hash_file(&b).unwrap(), (n, h));
        assert!(copy_hashing(&a, &b).is_err());
        let c = tmp.path().join("c");
        std::fs::write(&c, b"x").unwrap();
        assert!(publish(&a, &c).is_err());
        assert_eq!(std::fs::read(&c).unwrap(), b"x");
        let d = tmp.path().join("d");
        publish(&a, &d).unwrap();
        assert!(!a.exists());
        assert_eq!(std::fs::read(&d).unwrap(), b"abc");
    }

    #[test]
    fn moves_a_database_with_its_wal_and_trail_and_refuses_existing_targets() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("ward.db");
        std::fs::write(&db, b"db").unwrap();
        std::fs::write(with_suffix(&db, "-wal"), b"wal").unwrap();
        std::fs::write(tmp.path().join("ward-audit.db"), b"trail").unwrap();
        let aside = tmp.path().join("ward.db.old");
        move_db(&db, &aside).unwrap();
        assert!(!db_present(&db));
        assert_eq!(std::fs::read(with_suffix(&aside, "-wal")).unwrap(), b"wal");
        assert_eq!(std::fs::read(trail_of(&aside)).unwrap(), b"trail");
        assert!(!tmp.path().join("ward-audit.db").exists());
        std::fs::write(&db, b"new").unwrap();
        assert!(move_db(&db, &aside).is_err());
        assert_eq!(std::fs::read(&db).unwrap(), b"new");
    }
}
