//! Custom SearchParameter resources (issue 3 item 8): a stored, `active` SearchParameter
//! becomes live for new writes and for queries; `$reindex` (admin) backfills existing data.

use std::sync::Arc;

use serde_json::{Value, json};
use ward_auth::Permission;
use ward_store::search::{ParseOptions, SearchQuery};

use crate::{
    CoreError, CoreResult, FhirResponse, FhirService, OpTarget, RequestContext, ResourceType,
};

impl FhirService {
    /// Called for every resource version written: a SearchParameter updates the live set.
    /// It takes effect at once (before the write commits; a rolled-back transaction leaves it
    /// live until the next restart). A definition Ward cannot use is stored but not made live.
    pub(crate) fn search_parameter_written(&self, t: ResourceType, resource: &Value) {
        if t.as_str() != "SearchParameter" {
            return;
        }
        match self.search_params.register(resource) {
            Ok(types) => self.indexer.invalidate(&types),
            Err(code) => tracing::warn!(code, "SearchParameter stored but not made live"),
        }
    }

    /// Makes every stored `active` SearchParameter live; call once at startup. Returns how
    /// many SearchParameter resources were read.
    pub async fn load_search_parameters(&self) -> CoreResult<usize> {
        let opts = ParseOptions {
            base_url: &self.config.base_url,
            now_us: self.now().0,
            default_count: 500,
            max_count: 500,
            strict: true,
            registry: None,
        };
        let params = [("status".to_owned(), "active".to_owned())];
        let mut query: SearchQuery =
            ward_store::search::parse(Some(&["SearchParameter"]), &params, &opts)
                .map_err(|e| CoreError::Internal(e.code.into()))?
                .query;
        let mut n = 0;
        loop {
            let page = self.store.search(&query).await?;
            for m in &page.matches {
                let Some(body) = &m.body else { continue };
                if let Ok(v) = serde_json::from_slice::<Value>(body) {
                    self.search_parameter_written(
                        ResourceType::parse("SearchParameter")
                            .ok_or_else(|| CoreError::Internal("spec".into()))?,
                        &v,
                    );
                    n += 1;
                }
            }
            match page.next {
                Some(t) => query.page = Some(t),
                None => return Ok(n),
            }
        }
    }

    /// `POST [base]/$reindex` or `POST [base]/[type]/$reindex`: recomputes the index rows of
    /// every current resource (of the type). Needs system-wide update rights.
    pub(crate) async fn reindex(
        &self,
        ctx: &RequestContext,
        target: &OpTarget,
    ) -> CoreResult<FhirResponse> {
        if !ctx.principal.scopes.grants_all_types(Permission::Update) {
            return Err(CoreError::Forbidden {
                message: "$reindex needs system-wide update rights".into(),
            });
        }
        let rtype = match target {
            OpTarget::System => None,
            OpTarget::Type(t) => Some(t.as_str()),
            OpTarget::Instance(..) => {
                return Err(CoreError::NotFound {
                    message: "no such operation here".into(),
                });
            }
        };
        let indexer = self.indexer.clone();
        let f: Arc<ward_store::ReindexFn> = Arc::new(move |t: &str, body: &[u8]| {
            serde_json::from_slice::<Value>(body)
                .map(|v| indexer.index(t, &v))
                .unwrap_or_default()
        });
        let n = self.store.reindex(rtype, f).await?;
        let out = json!({"resourceType": "Parameters", "parameter": [
            {"name": "reindexed", "valueInteger": n}
        ]});
        let mut r = FhirResponse::json(200, out);
        r.phi = false;
        Ok(r)
    }
}
