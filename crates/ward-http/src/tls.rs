//! TLS: the rustls server configuration (TLS 1.2 and 1.3 only, aws-lc-rs suites, ALPN h2 and
//! http/1.1), loading PEM files, and the local CA Ward creates on first run so that it can
//! serve HTTPS with no operator setup.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// TLS setup failures; messages name files, never key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("{path} holds no usable certificate or private key")]
    Pem { path: String },
    #[error("certificate generation failed: {0}")]
    Generate(String),
    #[error("the TLS configuration was rejected: {0}")]
    Config(String),
}

/// Paths of the generated local PKI under `DATA/tls/`.
#[derive(Debug, Clone)]
pub struct LocalPki {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl LocalPki {
    /// The standard layout in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }

    /// Creates the CA if absent and (re)issues the server certificate for `localhost`,
    /// `127.0.0.1`, `::1` and any `extra_names`. Keys are written with mode 0600.
    pub fn ensure(&self, extra_names: &[String]) -> Result<(), TlsError> {
        let gen_err = |e: rcgen::Error| TlsError::Generate(e.to_string());
        if !self.ca_cert.exists() || !self.ca_key.exists() {
            let key = KeyPair::generate().map_err(gen_err)?;
            let cert = ca_params().self_signed(&key).map_err(gen_err)?;
            write_file(&self.ca_key, key.serialize_pem().as_bytes(), 0o600)?;
            write_file(&self.ca_cert, cert.pem().as_bytes(), 0o644)?;
        }
        let ca_key_pem = read_text(&self.ca_key)?;
        let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(gen_err)?;
        let issuer = Issuer::new(ca_params(), ca_key);
        let key = KeyPair::generate().map_err(gen_err)?;
        let cert = server_params(extra_names)?
            .signed_by(&key, &issuer)
            .map_err(gen_err)?;
        write_file(&self.key, key.serialize_pem().as_bytes(), 0o600)?;
        let chain = format!("{}{}", cert.pem(), read_text(&self.ca_cert)?);
        write_file(&self.cert, chain.as_bytes(), 0o644)
    }
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Ward local CA");
    dn.push(DnType::OrganizationName, "Ward");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = rcgen::date_time_ymd(2026, 1, 1);
    p.not_after = rcgen::date_time_ymd(2036, 1, 1);
    p
}

fn server_params(extra: &[String]) -> Result<CertificateParams, TlsError> {
    let mut names = vec!["localhost".to_owned()];
    names.extend(
        extra
            .iter()
            .filter(|n| n.parse::<IpAddr>().is_err())
            .cloned(),
    );
    let mut p = CertificateParams::new(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut ips = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    ips.extend(extra.iter().filter_map(|n| n.parse::<IpAddr>().ok()));
    for ip in ips {
        p.subject_alt_names.push(SanType::IpAddress(ip));
    }
    p.distinguished_name.push(DnType::CommonName, "localhost");
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(365);
    Ok(p)
}

fn read_text(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| TlsError::Read {
        path: path.display().to_string(),
        reason: e.kind().to_string(),
    })
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let fail = |e: std::io::Error| TlsError::Write {
        path: path.display().to_string(),
        reason: e.kind().to_string(),
    };
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// Builds the server configuration from a PEM certificate chain and private key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let pem_err = |p: &Path| TlsError::Pem {
        path: p.display().to_string(),
    };
    let cert_pem = std::fs::read(cert).map_err(|e| TlsError::Read {
        path: cert.display().to_string(),
        reason: e.kind().to_string(),
    })?;
    let key_pem = std::fs::read(key).map_err(|e| TlsError::Read {
        path: key.display().to_string(),
        reason: e.kind().to_string(),
    })?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|_| pem_err(cert))?;
    if certs.is_empty() {
        return Err(pem_err(cert));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|_| pem_err(key))?
        .ok_or_else(|| pem_err(key))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
