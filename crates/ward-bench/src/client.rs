//! The HTTP client: hyper 1 connections over TCP or rustls (aws-lc-rs). With HTTP/1.1 each
//! session owns one keep-alive connection (no pool, no lock on the hot path); with HTTP/2 the
//! sessions share a few multiplexed connections. A broken connection is reopened on next use.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

use crate::error::BenchError;
use crate::target::Target;

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub http2: bool,
    /// Number of shared HTTP/2 connections (ignored for HTTP/1.1).
    pub h2_connections: usize,
    pub cacert: Option<std::path::PathBuf>,
    pub timeout: Duration,
}

/// A request that got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// TCP connect, TLS handshake or HTTP handshake failed.
    Connect,
    /// The connection broke while sending or receiving.
    Io,
    /// No complete response within the timeout.
    Timeout,
    /// The request could not be built (e.g. an invalid URI).
    Request,
}

impl Failure {
    /// The key under which the report counts this failure.
    pub fn as_str(&self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Io => "io",
            Failure::Timeout => "timeout",
            Failure::Request => "request",
        }
    }
}

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
    pub location: Option<String>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

type H2Sender = http2::SendRequest<Full<Bytes>>;

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(H2Sender),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

struct Inner {
    target: Target,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    http2: bool,
    auth: Option<HeaderValue>,
    timeout: Duration,
    shared_h2: Vec<Mutex<Option<H2Sender>>>,
}

/// A cheap-to-clone handle that opens connections to one target.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// Reads a PEM CA file into a rustls client configuration (aws-lc-rs, TLS 1.2/1.3).
fn tls_config(cacert: &Path, http2: bool) -> Result<rustls::ClientConfig, BenchError> {
    let read_err = |reason: String| BenchError::Read {
        path: cacert.display().to_string(),
        reason,
    };
    let pem = std::fs::read(cacert).map_err(|e| read_err(e.kind().to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|_| read_err("not a PEM certificate file".into()))?;
        roots
            .add(cert)
            .map_err(|e| BenchError::Tls(format!("unusable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(read_err("no certificate in the file".into()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BenchError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![if http2 {
        b"h2".to_vec()
    } else {
        b"http/1.1".to_vec()
    }];
    Ok(cfg)
}

impl Client {
    /// A client for `target`; `token` is sent as `Authorization: Bearer` on every request.
    pub fn new(
        target: Target,
        opts: &ClientOptions,
        token: Option<&str>,
    ) -> Result<Self, BenchError> {
        let tls = if target.https {
            let cacert = opts.cacert.as_deref().ok_or_else(|| {
                BenchError::Option("an https base needs --cacert FILE (the server's CA)".into())
            })?;
            let cfg = tls_config(cacert, opts.http2)?;
            let name = ServerName::try_from(target.host.clone()).map_err(|_| {
                BenchError::Tls(format!("{} is not a valid server name", target.host))
            })?;
            Some((TlsConnector::from(Arc::new(cfg)), name))
        } else {
            None
        };
        let auth = match token {
            Some(t) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                    BenchError::Option("the token is not a valid header value".into())
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let n = if opts.http2 {
            opts.h2_connections.max(1)
        } else {
            0
        };
        Ok(Self {
            inner: Arc::new(Inner {
                target,
                tls,
                http2: opts.http2,
                auth,
                timeout: opts.timeout,
                shared_h2: (0..n).map(|_| Mutex::new(None)).collect(),
            }),
        })
    }

    /// The target this client drives.
    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    /// Whether requests use HTTP/2.
    pub fn http2(&self) -> bool {
        self.inner.http2
    }

    async fn connect(&self) -> Result<Sender, Failure> {
        let tcp = TcpStream::connect(&self.inner.target.addrs[..])
            .await
            .map_err(|_| Failure::Connect)?;
        let _ = tcp.set_nodelay(true);
        match &self.inner.tls {
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|_| Failure::Connect)?;
                self.handshake(TokioIo::new(tls)).await
            }
            None => self.handshake(TokioIo::new(tcp)).await,
        }
    }

    async fn handshake<I>(&self, io: I) -> Result<Sender, Failure>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        if self.inner.http2 {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .initial_stream_window_size(1 << 20)
                .initial_connection_window_size(4 << 20)
                .handshake(io)
                .await
                .map_err(|_| Failure::Connect)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Sender::H2(sender))
        } else {
            let (sender, conn) = http1::handshake(io).await.map_err(|_| Failure::Connect)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Sender::H1(sender))
        }
    }

    fn request(
        &self,
        method: Method,
        rel: &str,
        body: Option<Bytes>,
    ) -> Result<Request<Full<Bytes>>, Failure> {
        let t = &self.inner.target;
        let uri = if self.inner.http2 {
            t.url(rel)
        } else {
            t.path(rel)
        };
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::ACCEPT, "application/fhir+json")
            .header(header::USER_AGENT, "ward-bench");
        if !self.inner.http2 {
            b = b.header(header::HOST, t.authority.as_str());
        }
        if let Some(a) = &self.inner.auth {
            b = b.header(header::AUTHORIZATION, a.clone());
        }
        let body = match body {
            Some(bytes) => {
                b = b.header(header::CONTENT_TYPE, "application/fhir+json");
                Full::new(bytes)
            }
            None => Full::new(Bytes::new()),
        };
        b.body(body).map_err(|_| Failure::Request)
    }
}

/// One logical client (a worker): sends one request at a time.
pub struct Session {
    client: Client,
    sender: Option<Sender>,
    slot: usize,
}

impl Session {
    /// A session; `index` spreads HTTP/2 sessions over the shared connections.
    pub fn new(client: Client, index: usize) -> Self {
        Self {
            client,
            sender: None,
            slot: index,
        }
    }

    /// Opens the connection now (so that the first measured request does not pay for it).
    pub async fn connect(&mut self) -> Result<(), Failure> {
        self.ensure().await
    }

    async fn ensure(&mut self) -> Result<(), Failure> {
        if self.sender.as_ref().is_some_and(|s| !s.is_closed()) {
            return Ok(());
        }
        self.sender = None;
        let shared = &self.client.inner.shared_h2;
        let Some(slot) = shared.get(self.slot % shared.len().max(1)) else {
            self.sender = Some(self.client.connect().await?);
            return Ok(());
        };
        let mut guard = slot.lock().await;
        let live = guard.as_ref().filter(|s| !s.is_closed()).cloned();
        let sender = match live {
            Some(s) => s,
            None => match self.client.connect().await? {
                Sender::H2(s) => {
                    *guard = Some(s.clone());
                    s
                }
                Sender::H1(_) => return Err(Failure::Connect),
            },
        };
        self.sender = Some(Sender::H2(sender));
        Ok(())
    }

    /// Sends a request to `rel` (relative to the base) and reads the whole response.
    pub async fn send(
        &mut self,
        method: Method,
        rel: &str,
        body: Option<Bytes>,
    ) -> Result<Response, Failure> {
        let req = self.client.request(method, rel, body)?;
        let timeout = self.client.inner.timeout;
        let result = match tokio::time::timeout(timeout, self.exchange(req)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        };
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn exchange(&mut self, req: Request<Full<Bytes>>) -> Result<Response, Failure> {
        self.ensure().await?;
        let resp = match self.sender.as_mut() {
            Some(Sender::H1(s)) => {
                s.ready().await.map_err(|_| Failure::Io)?;
                s.send_request(req).await
            }
            Some(Sender::H2(s)) => {
                s.ready().await.map_err(|_| Failure::Io)?;
                s.send_request(req).await
            }
            None => return Err(Failure::Connect),
        }
        .map_err(|_| Failure::Io)?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|_| Failure::Io)?
            .to_bytes();
        Ok(Response {
            status,
            body,
            location,
        })
    }
}

/// Runs `cmd` with `sh -c` once and returns its standard output, trimmed. The output is a
/// secret: it is never printed, and a failure reports only the exit status.
pub fn token_from_command(cmd: &str) -> Result<String, BenchError> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| BenchError::TokenCommand(format!("cannot run sh: {e}")))?;
    if !out.status.success() {
        return Err(BenchError::TokenCommand(format!(
            "exited with {}",
            out.status
        )));
    }
    let token = String::from_utf8(out.stdout)
        .map_err(|_| BenchError::TokenCommand("the output is not UTF-8".into()))?
        .trim()
        .to_owned();
    if token.is_empty() {
        return Err(BenchError::TokenCommand("printed nothing".into()));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_command_output_is_trimmed() {
        assert_eq!(
            token_from_command("printf '  abc.def \\n'").unwrap(),
            "abc.def"
        );
        assert!(token_from_command("exit 3").is_err());
        assert!(token_from_command("true").is_err());
    }
}
