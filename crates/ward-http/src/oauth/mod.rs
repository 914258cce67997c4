//! The authorization server's HTTP side: routes under `/auth/`, the public discovery
//! documents, and CORS for the origins an operator allows (browser apps call the token
//! endpoint and the FHIR API from their own origin).

mod admin;
mod audit;
mod authorize;
mod endpoints;
mod pages;
mod picker;
mod web;

pub(crate) use web::SourceAddr;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::AppState;

/// Routes of `/auth/*` and the discovery documents (mounted before the FHIR catch-all).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/fhir/.well-known/smart-configuration",
            get(endpoints::smart_config),
        )
        .route(
            "/.well-known/openid-configuration",
            get(endpoints::openid_config),
        )
        .route("/auth/jwks", get(endpoints::jwks))
        .route("/auth/token", post(endpoints::token))
        .route("/auth/introspect", post(endpoints::introspect))
        .route("/auth/revoke", post(endpoints::revoke))
        .route(
            "/auth/userinfo",
            get(endpoints::userinfo_handler).post(endpoints::userinfo_handler),
        )
        .route("/auth/static/ward.css", get(endpoints::stylesheet))
        .route(
            "/auth/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/auth/login", get(pages::login_get).post(pages::login_post))
        .route("/auth/mfa", get(pages::mfa_get).post(pages::mfa_post))
        .route("/auth/totp", get(pages::totp_get).post(pages::mfa_post))
        .route(
            "/auth/patient",
            get(pages::patient_get).post(pages::patient_post),
        )
        .route(
            "/auth/consent",
            get(authorize::consent_get).post(authorize::consent_post),
        )
        .route("/auth/logout", post(pages::logout))
        .route(
            "/auth/break-glass",
            get(pages::break_glass_get).post(pages::break_glass_post),
        )
        .route(
            "/auth/admin/clients",
            get(admin::list_clients).post(admin::add_client),
        )
        .route(
            "/auth/admin/users",
            get(admin::list_users).post(admin::add_user),
        )
        .route("/auth/admin/launches", post(admin::create_launch))
        .route("/auth/admin/break-glass", get(admin::list_break_glass))
        .route(
            "/auth/admin/break-glass/{id}/review",
            post(admin::review_break_glass),
        )
        .route_layer(axum::middleware::from_fn(name_route))
}

/// Names the route template (never a token, code or id) for the request log line.
async fn name_route(path: MatchedPath, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let route = path.as_str().trim_start_matches('/').to_owned();
    resp.extensions_mut()
        .insert(crate::render::InteractionName("oauth", route));
    resp
}

/// CORS for allowed origins on the FHIR API, the token endpoint and the discovery documents.
/// Pages are never opened to other origins.
pub(crate) async fn cors(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| app.cors_origins.iter().any(|a| a == o))
        .map(str::to_owned);
    let path = req.uri().path();
    let api = path.starts_with("/fhir")
        || path.starts_with("/.well-known")
        || matches!(
            path,
            "/auth/token" | "/auth/revoke" | "/auth/userinfo" | "/auth/jwks"
        );
    let Some(origin) = origin.filter(|_| api) else {
        return next.run(req).await;
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "authorization, content-type, accept, prefer, if-match, if-none-match",
            ),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    } else {
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("location, etag, content-location"),
        );
    }
    resp
}
