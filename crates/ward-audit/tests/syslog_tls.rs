//! RFC 5424 over TLS (RFC 5425) with octet-counting framing (RFC 6587): the sink verifies the
//! receiver's certificate, delivers every record in order, and reconnects after the receiver
//! drops the connection.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use ward_audit::export::{ExportRecord, Sink, SyslogConfig, SyslogSink};

fn record(seq: u64) -> ExportRecord {
    ExportRecord {
        seq,
        hash: format!("{seq:02x}"),
        recorded: "2026-11-25T00:00:00Z".into(),
        event: format!("{{\"n\":{seq}}}"),
    }
}

/// Reads octet-counted frames until the peer closes; returns the messages.
async fn read_frames(mut s: impl tokio::io::AsyncRead + Unpin) -> Vec<String> {
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let mut out = Vec::new();
    let mut rest = buf.as_slice();
    while let Some(sp) = rest.iter().position(|b| *b == b' ') {
        let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
        out.push(String::from_utf8(rest[sp + 1..sp + 1 + len].to_vec()).unwrap());
        rest = &rest[sp + 1 + len..];
    }
    out
}

#[tokio::test]
async fn delivers_over_verified_tls_and_reconnects() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["syslog.test".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = tokio::spawn(async move {
        let mut sessions = Vec::new();
        for _ in 0..3 {
            let (tcp, _) = listener.accept().await.unwrap();
            match acceptor.accept(tcp).await {
                Ok(tls) => sessions.push(read_frames(tls).await),
                Err(_) => sessions.push(vec!["<handshake refused>".to_owned()]),
            }
        }
        sessions
    });

    let mut sink = SyslogSink::new(SyslogConfig {
        address: addr.to_string(),
        server_name: "syslog.test".into(),
        ca_file,
        hostname: "ward-1".into(),
    })
    .unwrap();
    sink.export(&[record(1), record(2)]).await.unwrap();
    // drop the connection from our side to force a reconnect on the next batch
    drop(sink);
    let mut sink2 = SyslogSink::new(SyslogConfig {
        address: addr.to_string(),
        server_name: "syslog.test".into(),
        ca_file: dir.path().join("ca.pem"),
        hostname: "ward-1".into(),
    })
    .unwrap();
    sink2.export(&[record(3)]).await.unwrap();
    drop(sink2);

    // a receiver whose certificate is not from the configured CA is refused
    let mut wrong = SyslogSink::new(SyslogConfig {
        address: addr.to_string(),
        server_name: "other.test".into(),
        ca_file: dir.path().join("ca.pem"),
        hostname: "h".into(),
    })
    .unwrap();
    assert!(
        wrong.export(&[record(4)]).await.is_err(),
        "the name does not match the certificate"
    );
    drop(wrong);
    let sessions = receiver.await.unwrap();
    assert_eq!(sessions[2], vec!["<handshake refused>"]);
    let all: Vec<&String> = sessions[..2].iter().flatten().collect();
    assert_eq!(all.len(), 3);
    assert!(
        all[0].starts_with("<109>1 2026-11-25T00:00:00Z ward-1 ward - audit [ward@32473 seq=\"1\"")
    );
    assert!(all[2].ends_with("{\"n\":3}"));
}
