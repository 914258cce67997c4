//! `[audit]`: checkpoints, the external checkpoint log, and export sinks.

use std::path::PathBuf;

use serde::Deserialize;
use ward_core::AuditSettings;

use crate::config::ConfigError;

/// The `[audit]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFile {
    /// Benchmarks only: `false` stops writing audit records. Accepted only by a binary built
    /// with the `bench-unaudited` feature (the server then warns at start-up); refused otherwise.
    pub enabled: Option<bool>,
    pub checkpoint_every: Option<u64>,
    pub checkpoint_secs: Option<u64>,
    /// Append-only file that receives a copy of every signed checkpoint.
    pub checkpoint_file: Option<PathBuf>,
    /// Directory of the JSON-lines export sink (rotated by size and date).
    pub export_dir: Option<PathBuf>,
    pub export_max_bytes: Option<u64>,
    /// RFC 5424 over TLS export sink.
    pub syslog: Option<SyslogFile>,
    /// How long records are kept before `ward audit purge` may remove them (after a verified
    /// archive): a number with a unit, `s`, `m`, `h`, `d` or `y` (365.25 days). Default `6y`.
    pub retention: Option<String>,
}

/// `[audit.syslog]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogFile {
    /// `host:port` of the TLS syslog receiver.
    pub address: String,
    /// The name in its certificate.
    pub server_name: String,
    /// PEM CA that issued its certificate.
    pub ca_file: PathBuf,
}

/// The validated `[audit]` settings.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub settings: AuditSettings,
    pub export_dir: Option<PathBuf>,
    pub export_max_bytes: u64,
    pub syslog: Option<SyslogFile>,
    /// Retention period, in seconds.
    pub retention_secs: i64,
}

/// The default retention: six years (HIPAA §164.316(b)(2) documentation retention).
pub const DEFAULT_RETENTION: &str = "6y";

/// Parses a retention period (`90d`, `6y`, …) into seconds.
pub fn parse_retention(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().ok()?;
    let unit: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "y" => 31_557_600,
        _ => return None,
    };
    n.checked_mul(unit).filter(|s| *s > 0)
}

/// Validates `[audit]`.
pub fn resolve_audit(f: AuditFile) -> Result<AuditConfig, ConfigError> {
    let every = f.checkpoint_every.unwrap_or(1000);
    let secs = f.checkpoint_secs.unwrap_or(60);
    if every == 0 || secs == 0 {
        return Err(ConfigError::Invalid {
            key: "audit.checkpoint_every",
            reason: "checkpoint_every and checkpoint_secs must be positive".into(),
        });
    }
    let retention = f.retention.as_deref().unwrap_or(DEFAULT_RETENTION);
    let retention_secs = parse_retention(retention).ok_or_else(|| ConfigError::Invalid {
        key: "audit.retention",
        reason: "a positive number with a unit: s, m, h, d or y (for example \"6y\")".into(),
    })?;
    let enabled = f.enabled.unwrap_or(true);
    if !enabled && !cfg!(feature = "bench-unaudited") {
        return Err(ConfigError::Invalid {
            key: "audit.enabled",
            reason: "the audit trail cannot be switched off (only a benchmark build with the \
                     `bench-unaudited` feature accepts `enabled = false`)"
                .into(),
        });
    }
    Ok(AuditConfig {
        settings: AuditSettings {
            enabled,
            checkpoint_every: every,
            checkpoint_secs: secs,
            checkpoint_file: f.checkpoint_file,
            sync_checkpoints: false,
        },
        export_dir: f.export_dir,
        export_max_bytes: f.export_max_bytes.unwrap_or(64 * 1024 * 1024),
        syslog: f.syslog,
        retention_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_rejections() {
        let c = resolve_audit(AuditFile::default()).unwrap();
        assert!(c.settings.enabled);
        assert_eq!(c.settings.checkpoint_every, 1000);
        let f: AuditFile = toml::from_str("checkpoint_every = 0").unwrap();
        assert!(resolve_audit(f).is_err());
        assert!(toml::from_str::<AuditFile>("checkpoint_evry = 3").is_err());
        let f: AuditFile = toml::from_str(
            "[syslog]\naddress = \"127.0.0.1:6514\"\nserver_name = \"s\"\nca_file = \"ca.pem\"",
        )
        .unwrap();
        assert!(resolve_audit(f).unwrap().syslog.is_some());
    }

    #[test]
    fn retention_defaults_to_six_years_and_rejects_nonsense() {
        let c = resolve_audit(AuditFile::default()).unwrap();
        assert_eq!(c.retention_secs, 6 * 31_557_600);
        assert_eq!(parse_retention("90d"), Some(90 * 86_400));
        assert_eq!(parse_retention("2s"), Some(2));
        for bad in [
            "",
            "6",
            "y",
            "0d",
            "-1d",
            "6 years",
            "1.5y",
            "99999999999999999y",
        ] {
            assert_eq!(parse_retention(bad), None, "{bad:?}");
        }
        let f: AuditFile = toml::from_str("retention = \"forever\"").unwrap();
        let e = resolve_audit(f).unwrap_err().to_string();
        assert!(e.contains("audit.retention"), "{e}");
    }

    #[test]
    fn the_trail_cannot_be_switched_off_outside_a_benchmark_build() {
        let f: AuditFile = toml::from_str("enabled = false").unwrap();
        let r = resolve_audit(f);
        if cfg!(feature = "bench-unaudited") {
            assert!(!r.unwrap().settings.enabled);
        } else {
            let e = r.unwrap_err().to_string();
            assert!(e.contains("audit.enabled"), "{e}");
        }
        let f: AuditFile = toml::from_str("enabled = true").unwrap();
        assert!(resolve_audit(f).unwrap().settings.enabled);
    }
}
