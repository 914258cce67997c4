//! Protective layers around every request: a request id, a timeout (503), panic containment
//! (500), security headers, and one structured log line per request that names the route and
//! interaction but never resource content or query values.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::FutureExt;
use ward_core::CoreError;

use crate::HttpLimits;
use crate::render::{self, InteractionName};

/// The id of a request, echoed as `X-Request-Id` and recorded in logs (and audit).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Accepts a client-supplied id only if it is short and plain; otherwise makes one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// The outermost layer.
pub(crate) async fn protect(
    State(limits): State<HttpLimits>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    req.extensions_mut().insert(RequestId(id.clone()));
    let run = AssertUnwindSafe(next.run(req)).catch_unwind();
    let mut resp = match tokio::time::timeout(limits.request_timeout, run).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(_panic)) => {
            tracing::error!(request_id = %id, "handler panicked");
            render::error(&CoreError::Internal("handler panicked".into()))
        }
        Err(_elapsed) => render::error(&CoreError::Timeout),
    };
    let h = resp.headers_mut();
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Pages under /auth/ set their own (still strict) policy; everything else gets this one.
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(X_REQUEST_ID.clone(), v);
    }
    let (interaction, route) = resp
        .extensions()
        .get::<InteractionName>()
        .map_or(("none", ""), |n| (n.0, n.1.as_str()));
    tracing::info!(
        request_id = %id,
        method = %method,
        interaction,
        route,
        status = resp.status().as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    resp
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    fn app(timeout: Duration) -> Router {
        async fn boom() -> &'static str {
            panic!("handler bug with secret detail")
        }
        async fn slow() -> &'static str {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }
        let limits = HttpLimits {
            request_timeout: timeout,
            ..HttpLimits::default()
        };
        Router::new()
            .route("/boom", get(boom))
            .route("/slow", get(slow))
            .route("/ok", get(|| async { "fine" }))
            .layer(axum::middleware::from_fn_with_state(limits, protect))
    }

    async fn body_text(r: Response) -> String {
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_panic_becomes_a_500_outcome_and_the_service_lives_on() {
        let app = app(Duration::from_secs(5));
        let r = app
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = body_text(r).await;
        assert!(text.contains("OperationOutcome"));
        assert!(!text.contains("secret detail"));
        let ok = app
            .oneshot(Request::get("/ok").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn slow_requests_time_out_with_503_and_headers_are_set() {
        let app = app(Duration::from_millis(50));
        let r = app
            .clone()
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(body_text(r).await.contains("timeout"));
        let ok = app
            .oneshot(
                Request::get("/ok")
                    .header("x-request-id", "abc-123")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(ok.headers()["x-request-id"], "abc-123");
        assert_eq!(ok.headers()["x-content-type-options"], "nosniff");
        assert!(
            ok.headers()["strict-transport-security"]
                .to_str()
                .unwrap()
                .contains("max-age")
        );
    }

    #[test]
    fn request_ids_from_clients_must_be_plain() {
        let with = |v: &str| {
            request_id(
                &Request::get("/")
                    .header("x-request-id", v)
                    .body(Body::empty())
                    .unwrap(),
            )
        };
        assert_eq!(with("abc_1-2"), "abc_1-2");
        assert_ne!(with("bad id with spaces"), "bad id with spaces");
        assert_ne!(with(&"a".repeat(65)), "a".repeat(65));
    }
}
