//! Syslog sink: RFC 5424 messages over TCP with TLS (RFC 5425), octet-counting framing
//! (RFC 6587). Facility 13 (log audit), severity 5 (notice). The server certificate is verified
//! against a configured CA; the connection is re-established after any failure.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{ExportError, ExportRecord, Sink};

/// Where to send.
#[derive(Debug, Clone)]
pub struct SyslogConfig {
    /// `host:port`.
    pub address: String,
    /// Server name to verify in the certificate.
    pub server_name: String,
    /// PEM file of the CA that issued the syslog server's certificate.
    pub ca_file: PathBuf,
    /// HOSTNAME field.
    pub hostname: String,
}

/// The syslog sink.
pub struct SyslogSink {
    config: SyslogConfig,
    connector: TlsConnector,
    conn: Option<TlsStream<TcpStream>>,
}

impl std::fmt::Debug for SyslogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogSink")
            .field("address", &self.config.address)
            .finish()
    }
}

/// One RFC 5424 message with RFC 6587 octet-counting framing.
pub fn frame_rfc5424(hostname: &str, r: &ExportRecord) -> Vec<u8> {
    const PRI: u8 = 13 * 8 + 5;
    let msg = format!(
        "<{PRI}>1 {} {} ward - audit [ward@32473 seq=\"{}\" hash=\"{}\"] {}",
        r.recorded,
        sanitize(hostname),
        r.seq,
        r.hash,
        r.event
    );
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg.as_bytes());
    out
}

/// HOSTNAME must be printable US-ASCII without spaces (RFC 5424 §6).
fn sanitize(h: &str) -> String {
    let s: String = h
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if s.is_empty() { "-".into() } else { s }
}

impl SyslogSink {
    /// Builds the sink (reads the CA file; connects lazily).
    pub fn new(config: SyslogConfig) -> Result<Self, ExportError> {
        let pem = std::fs::read(&config.ca_file).map_err(|e| {
            ExportError::Config(format!("cannot read the syslog CA file: {}", e.kind()))
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert =
                cert.map_err(|_| ExportError::Config("the syslog CA file is not PEM".into()))?;
            roots
                .add(cert)
                .map_err(|_| ExportError::Config("bad CA certificate".into()))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ExportError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            config,
            connector: TlsConnector::from(Arc::new(tls)),
            conn: None,
        })
    }

    async fn connect(&self) -> Result<TlsStream<TcpStream>, ExportError> {
        let tcp = TcpStream::connect(&self.config.address)
            .await
            .map_err(|e| ExportError::Io(e.kind().to_string()))?;
        let name = ServerName::try_from(self.config.server_name.clone())
            .map_err(|_| ExportError::Config("invalid syslog server name".into()))?;
        self.connector
            .connect(name, tcp)
            .await
            .map_err(|e| ExportError::Io(e.kind().to_string()))
    }
}

#[async_trait]
impl Sink for SyslogSink {
    fn name(&self) -> &str {
        "syslog"
    }

    async fn export(&mut self, batch: &[ExportRecord]) -> Result<(), ExportError> {
        let mut bytes = Vec::new();
        for r in batch {
            bytes.extend(frame_rfc5424(&self.config.hostname, r));
        }
        if self.conn.is_none() {
            self.conn = Some(self.connect().await?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(ExportError::Io("not connected".into()));
        };
        let sent = async {
            conn.write_all(&bytes).await?;
            conn.flush().await
        }
        .await;
        if let Err(e) = sent {
            self.conn = None;
            return Err(ExportError::Io(e.kind().to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5424_framing() {
        let r = ExportRecord {
            seq: 9,
            hash: "cafe".into(),
            recorded: "2026-11-25T10:00:00.000000Z".into(),
            event: "{\"a\":1}".into(),
        };
        let f = String::from_utf8(frame_rfc5424("ward host", &r)).unwrap();
        let (len, msg) = f.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), msg.len());
        assert!(msg.starts_with("<109>1 2026-11-25T10:00:00.000000Z wardhost ward - audit [ward@32473 seq=\"9\" hash=\"cafe\"] {\"a\":1}"), "{msg}");
    }
}
