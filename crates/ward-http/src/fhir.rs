//! The FHIR endpoint: maps HTTP to a typed [`FhirRequest`], calls the core once, and renders
//! the result. Authentication happens before the path is interpreted, so an anonymous caller
//! learns nothing beyond `/metadata`.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method as HttpMethod, Uri, header};
use axum::response::{IntoResponse, Response};
use ward_core::{
    CoreError, FhirRequest, Interaction, Method, PreferReturn, RequestContext, RequestHeaders,
    parse_interaction, parse_query,
};

use crate::layers::RequestId;
use crate::negotiate::{BodyKind, body_kind, response_format};
use crate::oauth::SourceAddr;
use crate::render::{self, InteractionName};
use crate::{AppState, auth};
use ward_audit::{Action, Actor, AuditRecord, EventKind, Outcome, SecurityEvent};
use ward_auth::Principal;

/// Parameters that shape the HTTP exchange rather than the FHIR request.
const HTTP_PARAMS: [&str; 2] = ["_format", "_pretty"];

pub(crate) async fn handle(
    State(app): State<AppState>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    request_id: axum::Extension<RequestId>,
    source: SourceAddr,
    body: Body,
) -> Response {
    let client = Client {
        ip: (source.0 != "unknown").then_some(source.0),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect()),
        request_id: request_id.0.0.clone(),
    };
    match run(&app, &method, &uri, &headers, &client, body).await {
        Ok(resp) => resp,
        Err((e, name)) => with_name(render::error(&e), name),
    }
}

type Failed = (CoreError, Named);

/// Interaction name and route template, once known.
type Named = (&'static str, String);

/// Who is calling, as far as the network tells.
struct Client {
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: String,
}

/// Records a request refused before it reached the core (bad token, bad path or body) as a
/// security event. If that record cannot be written the caller gets 503 instead.
async fn audit_rejection(
    app: &AppState,
    principal: Option<&Principal>,
    client: &Client,
    e: CoreError,
) -> CoreError {
    let rec = AuditRecord {
        kind: EventKind::Security(SecurityEvent::RequestRejected),
        action: Action::Execute,
        outcome: Outcome::from_status(e.status()),
        outcome_desc: Some(e.code().to_owned()),
        recorded: app.fhir.now_instant(),
        actor: Actor {
            subject: principal.map(|p| p.subject.clone()),
            fhir_user: principal.and_then(|p| p.fhir_user.clone()),
            client_id: principal.and_then(|p| p.client_id.clone()),
            roles: principal.and_then(|p| p.role.clone()).into_iter().collect(),
            source_ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
        },
        purpose_of_use: principal
            .and_then(|p| p.purpose_of_use.clone())
            .into_iter()
            .collect(),
        request_id: client.request_id.clone(),
        entities: Vec::new(),
        patients: Vec::new(),
        query: None,
        server: app.fhir.config().base_url.clone(),
    };
    match app.fhir.audit_security(rec).await {
        Ok(()) => e,
        Err(audit) => audit,
    }
}

async fn run(
    app: &AppState,
    method: &HttpMethod,
    uri: &Uri,
    headers: &HeaderMap,
    client: &Client,
    body: Body,
) -> Result<Response, Failed> {
    let fail = |e| (e, ("unknown", String::new()));
    let method = Method::parse(method.as_str()).ok_or_else(|| {
        fail(CoreError::MethodNotAllowed {
            message: "this method is not supported".into(),
        })
    })?;
    let path = uri
        .path()
        .strip_prefix("/fhir")
        .unwrap_or("")
        .trim_start_matches('/');
    let mut params = parse_query(uri.query().unwrap_or("")).map_err(fail)?;
    let format = response_format(headers, &params).map_err(fail)?;
    if matches!(method, Method::Get | Method::Head) && path == "metadata" {
        let named = ("capabilities", "metadata".to_owned());
        let resp = render::response(app.fhir.capabilities(), format.pretty);
        return Ok(with_name(resp, named));
    }
    let principal = match auth::authenticate(headers, &app.authn, (app.now)()).await {
        Ok(p) => p,
        Err(e) => return Err(fail(audit_rejection(app, None, client, e).await)),
    };
    params.retain(|(k, _)| !HTTP_PARAMS.contains(&k.as_str()));
    let interaction = match parse_interaction(method, path, !params.is_empty()) {
        Ok(i) => i,
        Err(e) => {
            return Err(fail(
                audit_rejection(app, Some(&principal), client, e).await,
            ));
        }
    };
    let name = (interaction.name(), interaction.route_template());
    let body = read_body(
        body,
        headers,
        &interaction,
        app.limits.max_body_bytes,
        &mut params,
    )
    .await;
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return Err((
                audit_rejection(app, Some(&principal), client, e).await,
                name,
            ));
        }
    };
    let req = FhirRequest {
        interaction,
        params,
        headers: request_headers(headers),
        body,
    };
    let ctx = RequestContext {
        principal,
        request_id: client.request_id.clone(),
        client_ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
    };
    let resp = match app.fhir.handle(&ctx, req).await {
        Ok(r) => r,
        Err(e) => return Err((e, name)),
    };
    Ok(with_name(render::response(resp, format.pretty), name))
}

fn with_name(mut r: Response, (name, route): Named) -> Response {
    r.extensions_mut().insert(InteractionName(name, route));
    r
}

/// Reads the body up to the limit (413 beyond), checking its media type. A form body of
/// `POST _search` is merged into the parameters.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    interaction: &Interaction,
    limit: usize,
    params: &mut Vec<(String, String)>,
) -> Result<Option<Bytes>, CoreError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(CoreError::PayloadTooLarge { limit });
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| CoreError::PayloadTooLarge { limit })?;
    if bytes.is_empty() {
        return Ok(None);
    }
    match body_kind(headers, interaction)? {
        BodyKind::Form => {
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                CoreError::bad_request("WARD-FORM", "the form body is not valid UTF-8")
            })?;
            params.extend(parse_query(text)?);
            Ok(None)
        }
        BodyKind::Resource | BodyKind::JsonPatch => Ok(Some(bytes)),
    }
}

fn request_headers(h: &HeaderMap) -> RequestHeaders {
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let since = text("if-modified-since")
        .and_then(|t| httpdate::parse_http_date(&t).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok());
    let prefer = text("prefer").unwrap_or_default();
    let mut out = RequestHeaders {
        if_match: text("if-match"),
        if_none_match: text("if-none-match"),
        if_modified_since: since,
        if_none_exist: text("if-none-exist"),
        ..RequestHeaders::default()
    };
    for part in prefer.split([',', ';']).map(str::trim) {
        match part {
            "return=minimal" => out.prefer_return = Some(PreferReturn::Minimal),
            "return=representation" => out.prefer_return = Some(PreferReturn::Representation),
            "return=OperationOutcome" => out.prefer_return = Some(PreferReturn::OperationOutcome),
            "handling=strict" => out.handling_strict = true,
            _ => {}
        }
    }
    out
}

/// `GET /metrics` (Prometheus text): operators and admins only — it reveals no PHI, but it
/// does reveal activity.
pub(crate) async fn metrics(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let principal = match auth::authenticate(&headers, &app.authn, (app.now)()).await {
        Ok(p) => p,
        Err(e) => return render::error(&e),
    };
    let allowed = principal.kind == ward_auth::PrincipalKind::Operator
        || principal.role.as_deref() == Some("admin");
    if !allowed {
        return render::error(&CoreError::Forbidden {
            message: "metrics are for operators and admins".into(),
        });
    }
    let mut r = Response::new(Body::from(ward_core::metrics::render()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// Anything outside `/fhir` (and not another mounted service) is 404.
pub(crate) async fn not_found() -> impl IntoResponse {
    render::error(&CoreError::NotFound {
        message: "no such endpoint".into(),
    })
}
