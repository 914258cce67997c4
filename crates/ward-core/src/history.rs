//! history at instance, type and system level (http.html#history): newest first, `_since`,
//! `_count`, and paging through signed cursors.

use serde::{Deserialize, Serialize};
use ward_store::{HistoryQuery, HistoryScope, StoredResource, Timestamp};

use crate::authz::Access;
use crate::bundle::{BundleWriter, Entry, EntryResponse};
use crate::narrow::may_read;
use crate::response::ResponseBody;
use crate::{
    CoreError, CoreResult, FhirRequest, FhirResponse, FhirService, Interaction, RequestContext,
};

#[derive(Debug, Serialize, Deserialize)]
struct HistoryCursor {
    /// The history's path below the base; must match the request's.
    path: String,
    since: Option<i64>,
    before: i64,
    count: usize,
}

fn scope_and_path(i: &Interaction) -> CoreResult<(HistoryScope, String)> {
    Ok(match i {
        Interaction::HistorySystem => (HistoryScope::System, "_history".into()),
        Interaction::HistoryType(t) => (
            HistoryScope::Type(t.as_str().into()),
            format!("{t}/_history"),
        ),
        Interaction::HistoryInstance(t, id) => (
            HistoryScope::Instance(t.as_str().into(), id.clone()),
            format!("{t}/{id}/_history"),
        ),
        _ => return Err(CoreError::Internal("history: wrong interaction".into())),
    })
}

/// Parses `_count` (a non-negative integer, capped at `max`).
pub(crate) fn parse_count(req: &FhirRequest, default: usize, max: usize) -> CoreResult<usize> {
    match req.param("_count") {
        None => Ok(default),
        Some(v) => v.parse::<usize>().map(|n| n.min(max)).map_err(|_| {
            CoreError::bad_request("WARD-COUNT", "_count must be a non-negative integer")
        }),
    }
}

impl FhirService {
    pub(crate) async fn history(
        &self,
        ctx: &RequestContext,
        req: &FhirRequest,
        access: &Access,
    ) -> CoreResult<FhirResponse> {
        let (scope, path) = scope_and_path(&req.interaction)?;
        let now = self.now();
        let cursor = match req.param("_page") {
            Some(c) => {
                let c: HistoryCursor = self.cursors.open(c, now.unix_seconds())?;
                if c.path != path {
                    return Err(CoreError::bad_request(
                        "WARD-CURSOR",
                        "the paging cursor is invalid or expired",
                    ));
                }
                c
            }
            None => HistoryCursor {
                path: path.clone(),
                since: parse_since(req)?,
                before: i64::MAX,
                count: parse_count(req, self.config.default_count, self.config.max_count)?,
            },
        };
        if let Interaction::HistoryInstance(t, id) = &req.interaction
            && self.store.read(t.as_str(), id).await?.is_none()
        {
            return Err(crate::read::not_found(*t));
        }
        let query = HistoryQuery {
            scope,
            since: cursor.since.map(Timestamp),
            before_seq: Some(cursor.before),
            count: cursor.count,
        };
        let mut page = self.store.history(&query).await?;
        if *access != Access::Full || !crate::authz::may_read_audit(&ctx.principal) {
            // Restricted principals see only versions whose content they may read; a
            // deletion marker has no content to check.
            page.entries.retain(|e| may_read(&ctx.principal, e));
        }
        let base = &self.config.base_url;
        let mut links = vec![("self", self_link(base, &path, req))];
        if let Some(next) = page.next_before_seq {
            let c = HistoryCursor {
                before: next,
                ..cursor
            };
            let token = self
                .cursors
                .seal(&c, now.unix_seconds() + self.config.cursor_ttl_secs);
            links.push(("next", format!("{base}/{path}?_page={token}")));
        }
        let mut w = BundleWriter::new("history", now, None, &links);
        for e in &page.entries {
            w.entry(&history_entry(base, e));
        }
        let mut r = FhirResponse::new(200, Some(ResponseBody::Raw(w.finish())));
        r.touched = page.entries.iter().map(crate::Touched::of).collect();
        Ok(r)
    }
}

fn parse_since(req: &FhirRequest) -> CoreResult<Option<i64>> {
    match req.param("_since") {
        None => Ok(None),
        Some(v) => Timestamp::parse_rfc3339(v)
            .map(|t| Some(t.0))
            .ok_or_else(|| {
                CoreError::bad_request("WARD-SINCE", "_since must be an instant with a time zone")
            }),
    }
}

fn history_entry<'a>(base: &str, e: &'a StoredResource) -> Entry<'a> {
    let m = &e.meta;
    let url = if m.method == ward_store::WriteMethod::Create {
        m.rtype.clone()
    } else {
        format!("{}/{}", m.rtype, m.id)
    };
    let status = match m.method {
        ward_store::WriteMethod::Delete => "204",
        _ if m.version == 1 => "201",
        _ => "200",
    };
    Entry {
        full_url: Some(format!("{base}/{}/{}", m.rtype, m.id)),
        resource: e.body.as_deref(),
        search_mode: None,
        request: Some((m.method.http_verb(), url)),
        response: Some(EntryResponse {
            status: status.into(),
            etag: Some(format!("W/\"{}\"", m.version)),
            last_modified: Some(m.last_updated.to_fhir_instant()),
            ..Default::default()
        }),
    }
}

/// The request's own URL, rebuilt from its path and parameters (for `Bundle.link` self).
pub(crate) fn self_link(base: &str, path: &str, req: &FhirRequest) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const QUERY: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let mut url = format!("{base}/{path}");
    for (i, (k, v)) in req.params.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&utf8_percent_encode(k, QUERY).to_string());
        url.push('=');
        url.push_str(&utf8_percent_encode(v, QUERY).to_string());
    }
    url
}
