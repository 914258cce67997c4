//! Enforcement of restricted access (patient compartment, granular scopes) on one interaction,
//! before it runs: the stored resource must be within reach (else 404, revealing nothing), and
//! the state a write would leave must be within reach too (else 403).

use bytes::Bytes;
use serde_json::Value;
use ward_store::StoredResource;

use crate::authz::Access;
use crate::{CoreError, CoreResult, FhirRequest, FhirService, Interaction, OpTarget, ResourceType};

fn parse(body: Option<&Bytes>) -> Option<Value> {
    body.and_then(|b| serde_json::from_slice(b).ok())
}

fn hidden(t: ResourceType) -> CoreError {
    crate::read::not_found(t)
}

pub(crate) fn refused() -> CoreError {
    CoreError::Forbidden {
        message: "the token's scopes do not permit a resource in this state".into(),
    }
}

impl FhirService {
    /// Checks `req` against restricted `access`. `Access::Full` needs no check.
    pub(crate) async fn confine(&self, access: &Access, req: &FhirRequest) -> CoreResult<()> {
        if *access == Access::Full {
            return Ok(());
        }
        use Interaction as I;
        match &req.interaction {
            I::Read(t, id)
            | I::HistoryInstance(t, id)
            | I::Delete(t, id)
            | I::Operation(_, OpTarget::Instance(t, id)) => {
                let current = self.store.read(t.as_str(), id).await?;
                let current = self.last_content(t.as_str(), id, current).await?;
                self.stored_within(access, *t, current.as_ref())
            }
            I::Vread(t, id, v) => {
                let version = self.store.vread(t.as_str(), id, *v).await?;
                let version = self.last_content(t.as_str(), id, version).await?;
                self.stored_within(access, *t, version.as_ref())
            }
            I::Create(t) => self.body_within(access, *t, parse(req.body.as_ref()).as_ref()),
            I::Update(t, id) => {
                let current = self.store.read(t.as_str(), id).await?;
                self.stored_within(access, *t, current.as_ref())?;
                self.body_within(access, *t, parse(req.body.as_ref()).as_ref())
            }
            I::Patch(t, id) => {
                let current = self.store.read(t.as_str(), id).await?;
                self.stored_within(access, *t, current.as_ref())?;
                let patched = current
                    .and_then(|c| parse(c.body.as_ref()))
                    .zip(
                        req.body
                            .as_ref()
                            .and_then(|b| serde_json::from_slice::<json_patch::Patch>(b).ok()),
                    )
                    .and_then(|(mut doc, patch)| {
                        json_patch::patch(&mut doc, &patch).ok().map(|()| doc)
                    });
                match patched {
                    Some(doc) => self.body_within(access, *t, Some(&doc)),
                    // Unparseable or inapplicable patches fail later with their own error.
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// A deletion has no body to judge, so the version before it stands in: a deleted resource
    /// outside the token's reach answers 404 like a live one (not 410, which would confirm it
    /// existed).
    async fn last_content(
        &self,
        t: &str,
        id: &str,
        stored: Option<StoredResource>,
    ) -> CoreResult<Option<StoredResource>> {
        let mut cur = stored;
        while let Some(s) = &cur {
            if s.body.is_some() || s.meta.version <= 1 {
                break;
            }
            cur = self.store.vread(t, id, s.meta.version - 1).await?;
        }
        Ok(cur)
    }

    fn stored_within(
        &self,
        access: &Access,
        t: ResourceType,
        stored: Option<&StoredResource>,
    ) -> CoreResult<()> {
        match stored.and_then(|s| parse(s.body.as_ref())) {
            Some(doc) if !access.admits(t.as_str(), &doc) => Err(hidden(t)),
            _ => Ok(()),
        }
    }

    fn body_within(
        &self,
        access: &Access,
        t: ResourceType,
        body: Option<&Value>,
    ) -> CoreResult<()> {
        match body {
            Some(doc) if !access.admits(t.as_str(), doc) => Err(refused()),
            _ => Ok(()),
        }
    }
}
