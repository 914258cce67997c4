//! search-type, search-system and compartment search (search.html, http.html#search):
//! searchset Bundles with `search.mode` match/include/outcome, `total`, `self`/`next` links
//! with signed expiring cursors, `_summary`/`_elements`; and [`FhirService::match_ids`] for
//! conditional operations.

use serde::{Deserialize, Serialize};
use ward_spec::r4;
use ward_store::StoreTx;
use ward_store::index::param_key;
use ward_store::search::{
    Filter, Modifier, PageToken, ParamFilter, ParseOptions, SearchError, SearchPage, SearchQuery,
    TokenSystem, Value,
};

use crate::authz::Access;
use crate::bundle::{BundleWriter, Entry};
use crate::error::operation_outcome;
use crate::history::self_link;
use crate::narrow::may_read;
use crate::response::ResponseBody;
use crate::shape::Shape;
use crate::{
    CoreError, CoreResult, FhirRequest, FhirResponse, FhirService, Interaction, Issue,
    RequestContext, ResourceType,
};

/// What a `next` link carries: the search's path and parameters and the page position.
#[derive(Debug, Serialize, Deserialize)]
struct SearchCursor {
    path: String,
    params: Vec<(String, String)>,
    token: PageToken,
}

fn search_error(e: SearchError) -> CoreError {
    CoreError::bad_request(e.code, e.message)
}

/// Where a search runs: the types searched and the compartment, if any.
struct Scope {
    types: Option<Vec<&'static str>>,
    compartment: Option<(ResourceType, String)>,
    path: String,
}

fn scope(i: &Interaction) -> CoreResult<Scope> {
    Ok(match i {
        Interaction::SearchType(t) => Scope {
            types: Some(vec![t.as_str()]),
            compartment: None,
            path: t.as_str().to_owned(),
        },
        Interaction::SearchSystem => Scope {
            types: None,
            compartment: None,
            path: String::new(),
        },
        Interaction::SearchCompartment(c, id, t) => Scope {
            types: Some(vec![t.as_str()]),
            compartment: Some((*c, id.clone())),
            path: format!("{c}/{id}/{t}"),
        },
        _ => return Err(CoreError::Internal("search: wrong interaction".into())),
    })
}

/// The filter that restricts `t` to the compartment `c/id` (compartmentdefinition.html).
pub(crate) fn compartment_filter(c: ResourceType, id: &str, t: &str) -> Filter {
    let codes = r4().compartment_params(c.as_str(), t);
    // The compartment's own resource is in it (its `link` parameter is not followed).
    if t == c.as_str() || codes.iter().any(|p| p == "{def}") {
        return Filter::Param(ParamFilter {
            code: "_id".into(),
            kind: ward_spec::SearchParamType::Token,
            pkeys: Vec::new(),
            modifier: Modifier::None,
            values: vec![Value::Token {
                system: TokenSystem::Any,
                code: Some(id.to_owned()),
            }],
            components: Vec::new(),
        });
    }
    Filter::Param(ParamFilter {
        code: "_compartment".into(),
        kind: ward_spec::SearchParamType::Reference,
        pkeys: codes.iter().map(|p| param_key(t, p)).collect(),
        modifier: Modifier::None,
        values: vec![Value::Ref {
            ttype: Some(c.as_str().to_owned()),
            id: id.to_owned(),
        }],
        components: Vec::new(),
    })
}

impl FhirService {
    pub(crate) fn parse_options(&self, strict: bool) -> ParseOptions<'_> {
        ParseOptions {
            base_url: &self.config.base_url,
            now_us: self.now().0,
            default_count: self.config.default_count,
            max_count: self.config.max_count,
            strict,
            registry: Some(&self.search_params),
        }
    }

    pub(crate) async fn search(
        &self,
        ctx: &RequestContext,
        req: &FhirRequest,
        access: &Access,
    ) -> CoreResult<FhirResponse> {
        let sc = scope(&req.interaction)?;
        let now = self.now();
        let (params, token) = match req.param("_page") {
            Some(c) => {
                let c: SearchCursor = self.cursors.open(c, now.unix_seconds())?;
                if c.path != sc.path {
                    return Err(CoreError::bad_request(
                        "WARD-CURSOR",
                        "the paging cursor is invalid or expired",
                    ));
                }
                (c.params, Some(c.token))
            }
            None => (req.params.clone(), None),
        };
        let opts = self.parse_options(req.headers.handling_strict);
        let parsed =
            ward_store::search::parse(sc.types.as_deref(), &params, &opts).map_err(search_error)?;
        let mut query = parsed.query;
        if let Some((c, id)) = &sc.compartment {
            let t = query.types.first().cloned().unwrap_or_default();
            query.filters.push(compartment_filter(*c, id, &t));
        }
        if !crate::authz::may_read_audit(&ctx.principal) {
            query.types.retain(|t| t != crate::authz::AUDIT_EVENT);
            if query.types.is_empty() {
                return Err(CoreError::Forbidden {
                    message: "only the auditor and admin roles may read the audit trail".into(),
                });
            }
        }
        if let Some(t) = query.types.first().cloned()
            && query.types.len() == 1
        {
            query.filters.extend(self.access_filters(access, &t)?);
        }
        query.page = token;
        let mut page = self.search_store(&query).await?;
        if *access != Access::Full || !page.included.is_empty() {
            let p = &ctx.principal;
            page.matches.retain(|r| may_read(p, r));
            page.included.retain(|r| may_read(p, r));
        }
        let shaped = FhirRequest {
            params: params.clone(),
            ..req.clone()
        };
        let shape = if parsed.summary_count {
            None
        } else {
            Shape::from_request(&shaped)?
        };
        let base = &self.config.base_url;
        let mut own = self_link(base, &sc.path, &shaped);
        if sc.path.is_empty() {
            own = own.replacen(&format!("{base}/"), base, 1);
        }
        let mut links = vec![("self", own)];
        if let Some(next) = page.next.clone() {
            let c = SearchCursor {
                path: sc.path.clone(),
                params,
                token: next,
            };
            let sealed = self
                .cursors
                .seal(&c, now.unix_seconds() + self.config.cursor_ttl_secs);
            let sep = if sc.path.is_empty() { "" } else { "/" };
            links.push(("next", format!("{base}{sep}{}?_page={sealed}", sc.path)));
        }
        let body = searchset(base, now, &page, shape.as_ref(), &parsed.warnings, &links)?;
        let mut r = FhirResponse::new(200, Some(ResponseBody::Raw(body)));
        r.touched = page
            .matches
            .iter()
            .chain(&page.included)
            .map(crate::Touched::of)
            .collect();
        Ok(r)
    }

    /// The ids of the `t` resources matching `params` (a search query string's pairs), for
    /// conditional create (`If-None-Exist`), conditional update/delete/patch and transaction
    /// entries. Parsing is strict: an unknown parameter is a 400 (acting on a wider match
    /// than the client meant would be unsafe). Result parameters (`_sort`, `_count`, ...) are
    /// ignored. Runs inside `tx` when given, so a transaction sees its own writes. Returns
    /// at most `max_count` + 1 ids, which is enough to tell none, one and several apart.
    pub(crate) async fn match_ids(
        &self,
        tx: Option<&mut dyn StoreTx>,
        t: ResourceType,
        params: &[(String, String)],
        access: &Access,
    ) -> CoreResult<Vec<String>> {
        let opts = self.parse_options(true);
        let parsed =
            ward_store::search::parse(Some(&[t.as_str()]), params, &opts).map_err(search_error)?;
        let mut filters = parsed.query.filters;
        if filters.is_empty() {
            return Err(CoreError::bad_request(
                "WARD-CONDITIONAL",
                "a conditional interaction needs at least one search criterion",
            ));
        }
        filters.extend(self.access_filters(access, t.as_str())?);
        let query = SearchQuery {
            filters,
            types: parsed.query.types,
            count: self.config.max_count.saturating_add(1),
            now_us: parsed.query.now_us,
            ..SearchQuery::default()
        };
        let page = match tx {
            Some(tx) => tx.search(&query).await?,
            None => self.search_store(&query).await?,
        };
        Ok(page.matches.into_iter().map(|m| m.meta.id).collect())
    }

    /// Runs `query` on the store, first bringing the AuditEvent search index up to the audit
    /// chain's head when AuditEvents can take part (their index rows are written after the
    /// record, docs/design/007-audit.md "Deferred index"): a search sees every record appended
    /// before it started.
    pub(crate) async fn search_store(&self, query: &SearchQuery) -> CoreResult<SearchPage> {
        if query.mentions_type("AuditEvent") {
            self.auditor.index_caught_up().await?;
        }
        Ok(self.store.search(query).await?)
    }
}

fn searchset(
    base: &str,
    now: ward_store::Timestamp,
    page: &SearchPage,
    shape: Option<&Shape>,
    warnings: &[String],
    links: &[(&str, String)],
) -> CoreResult<bytes::Bytes> {
    let mut w = BundleWriter::new("searchset", now, page.total, links);
    let groups = [(&page.matches, "match"), (&page.included, "include")];
    for (list, mode) in groups {
        for r in list.iter() {
            let Some(body) = r.body.as_deref() else {
                continue;
            };
            let shaped = match shape {
                Some(s) => Some(
                    serde_json::to_vec(&s.apply_bytes(body)?)
                        .map_err(|_| CoreError::Internal("serialise shaped entry".into()))?,
                ),
                None => None,
            };
            w.entry(&Entry {
                full_url: Some(format!("{base}/{}/{}", r.meta.rtype, r.meta.id)),
                resource: Some(shaped.as_deref().unwrap_or(body)),
                search_mode: Some(mode),
                ..Default::default()
            });
        }
    }
    if !warnings.is_empty() {
        let issues: Vec<Issue> = warnings
            .iter()
            .map(|m| Issue::warning("not-supported", m.clone()))
            .collect();
        let oo = serde_json::to_vec(&operation_outcome(&issues))
            .map_err(|_| CoreError::Internal("serialise outcome".into()))?;
        w.entry(&Entry {
            resource: Some(&oo),
            search_mode: Some("outcome"),
            ..Default::default()
        });
    }
    Ok(w.finish())
}
