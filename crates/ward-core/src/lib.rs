//! FHIR interactions as services: the one place where authorization, validation, storage (and,
//! later, audit) meet. Every path — REST, batch entry, transaction entry, operation — goes
//! through [`FhirService::handle`], so each gets the same checks.

mod audit;
mod authz;
mod batch;
mod bundle;
mod capability;
mod compartment;
mod conditional;
mod confine;
mod cursor;
mod custom_params;
mod disclosures;
mod error;
mod history;
mod interaction;
pub mod metrics;
mod narrow;
mod operation;
mod query;
mod read;
mod request;
mod resource;
mod response;
mod search;
mod shape;
mod tx_resolve;
mod write;

use std::sync::Arc;

use ward_store::{Store, Timestamp};

pub use audit::{
    ArchiveSummary, AuditKeys, AuditSettings, VerifyOutcome, archive_key, due_for_purge,
    export_position, run_exporter, verify_archive, verify_trail, write_archive,
};
pub use cursor::CursorKey;
pub use disclosures::Disclosure;
pub use error::{CoreError, CoreResult, Issue, operation_outcome};
pub use interaction::{
    Interaction, Method, OpTarget, ResourceType, parse as parse_interaction, valid_id,
};
pub use query::parse_query;
pub use request::{FhirRequest, PreferReturn, RequestContext, RequestHeaders, etag_version};
pub use response::{FhirResponse, ResponseBody, Touched};

/// The source of the current time (a parameter, so tests can fix it).
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(time::OffsetDateTime::now_utc())
    }
}

/// The source of new logical ids (a parameter, so tests can fix it).
pub trait IdSource: Send + Sync {
    /// A fresh id, valid as a FHIR `id`.
    fn new_id(&self) -> String;

    /// A fresh id for an AuditEvent. Ids that grow with time keep the trail's inserts at the
    /// right edge of the id index (one hot page per batch instead of one random page per
    /// record).
    fn new_audit_id(&self) -> String {
        self.new_id()
    }
}

/// Random UUIDs.
#[derive(Debug, Default)]
pub struct UuidIds;

impl IdSource for UuidIds {
    fn new_id(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// UUIDv7: time-ordered (the record's time is in the AuditEvent anyway).
    fn new_audit_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }
}

/// Settings of the FHIR service.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The FHIR base URL clients use, without a trailing slash (`https://host:port/fhir`).
    pub base_url: String,
    /// Default page size of history and search.
    pub default_count: usize,
    /// Largest page size a client may ask for.
    pub max_count: usize,
    /// Most entries a batch or transaction may carry.
    pub max_bundle_entries: usize,
    /// How long paging cursors stay valid, in seconds.
    pub cursor_ttl_secs: i64,
}

impl CoreConfig {
    /// Defaults for `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            default_count: 50,
            max_count: 1000,
            max_bundle_entries: 10_000,
            cursor_ttl_secs: 3600,
        }
    }
}

/// The FHIR service.
#[derive(Clone)]
pub struct FhirService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    config: Arc<CoreConfig>,
    cursors: Arc<CursorKey>,
    indexer: Arc<ward_store::index::Indexer>,
    search_params: Arc<ward_store::search::Registry>,
    auditor: Arc<audit::Auditor>,
}

impl std::fmt::Debug for FhirService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FhirService")
            .field("base_url", &self.config.base_url)
            .finish()
    }
}

impl FhirService {
    /// Builds the service.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        config: CoreConfig,
        cursors: CursorKey,
    ) -> Self {
        let search_params = Arc::new(ward_store::search::Registry::new());
        // R4 has no AuditEvent search by purpose of use; Ward defines one (issue "Audit
        // controls" item 4: search by purpose, e.g. BTG under break-glass).
        if let Err(code) = search_params.register(&audit::purpose_search_parameter()) {
            tracing::error!(
                code,
                "the AuditEvent purpose search parameter did not register"
            );
        }
        let indexer = Arc::new(ward_store::index::Indexer::with_registry(
            &config.base_url,
            search_params.clone(),
        ));
        let auditor = Arc::new(audit::Auditor::new(
            store.clone(),
            clock.clone(),
            ids.clone(),
            indexer.clone(),
            AuditSettings::default(),
        ));
        Self {
            store,
            clock,
            ids,
            indexer,
            search_params,
            config: Arc::new(config),
            cursors: Arc::new(cursors),
            auditor,
        }
    }

    /// Replaces the audit settings (before the service handles requests).
    pub fn with_audit(mut self, settings: AuditSettings) -> Self {
        self.auditor = Arc::new(audit::Auditor::new(
            self.store.clone(),
            self.clock.clone(),
            self.ids.clone(),
            self.indexer.clone(),
            settings,
        ));
        self
    }

    /// Records a security event (login, token, rejected request, …) durably.
    pub async fn audit_security(&self, rec: ward_audit::AuditRecord) -> CoreResult<()> {
        self.auditor.record(rec, None).await
    }

    /// At the start of the server, before it serves: signs a checkpoint over the trail's head
    /// as found, so that records a crash left after the last checkpoint are covered by a
    /// signature (a cut of them then fails `ward audit verify`).
    pub async fn open_audit(&self) -> CoreResult<()> {
        self.auditor.open().await
    }

    /// At a clean stop of the server: chains the records of writes still pending and signs a
    /// checkpoint over the trail's head as this process last committed it, so that everything
    /// it recorded is covered by a signature (a tail cut after the stop then fails
    /// `ward audit verify` as truncated, not only one cut past an earlier checkpoint).
    pub async fn close_audit(&self) -> CoreResult<()> {
        self.auditor.close().await
    }

    /// The current time as a FHIR instant (for audit records built outside the core).
    pub fn now_instant(&self) -> String {
        self.clock.now().to_fhir_instant()
    }

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Handles one interaction: authorize, run it, and audit it. The audit record is durable
    /// before this returns (writes commit it with their data); if it cannot be written the
    /// caller gets 503 and no data.
    pub async fn handle(&self, ctx: &RequestContext, req: FhirRequest) -> CoreResult<FhirResponse> {
        let interaction = req.interaction.clone();
        let query = audit_query(&req);
        // A read's record is appended after its answer is ready; announcing it lets the
        // group commit wait for it instead of committing without it. Writes commit their
        // record with their data, and are not announced.
        let announced = reads(&interaction)
            .then(|| self.auditor.announce())
            .flatten();
        let result = self.authorized(ctx, req).await;
        let (status, error, touched, subtype) = match &result {
            Ok(r) if r.audited => return result,
            Ok(r) => (r.status, None, r.touched.as_slice(), None),
            Err(e) => (e.status(), Some(e.code()), &[][..], None),
        };
        let outcomes = audit::Outcomes {
            status,
            error,
            touched,
            query,
            subtype,
        };
        let rec = audit::interaction_record(
            ctx,
            &interaction,
            &outcomes,
            self.now_instant(),
            &self.config.base_url,
        );
        self.auditor.record(rec, announced).await?;
        result
    }

    async fn authorized(&self, ctx: &RequestContext, req: FhirRequest) -> CoreResult<FhirResponse> {
        let access = authz::authorize(&ctx.principal, &req.interaction)?;
        self.confine(&access, &req).await?;
        if reads_audit_events(&req.interaction) {
            // AuditEvents become readable when the trail is projected (after their record):
            // a read or history of them first catches the projection up (search does the
            // same in `search_store`).
            self.auditor.index_caught_up().await?;
        }
        self.dispatch(ctx, req, &access).await
    }

    /// Appends the audit record of a successful write to its transaction and commits both.
    pub(crate) async fn commit_audited(
        &self,
        mut tx: Box<dyn ward_store::StoreTx>,
        ctx: &RequestContext,
        interaction: &Interaction,
        resp: &mut FhirResponse,
    ) -> CoreResult<()> {
        let outcomes = audit::Outcomes {
            status: resp.status,
            error: None,
            touched: &resp.touched,
            query: None,
            subtype: None,
        };
        let rec = audit::interaction_record(
            ctx,
            interaction,
            &outcomes,
            self.now_instant(),
            &self.config.base_url,
        );
        let head = self.auditor.append_in(&mut *tx, &[rec]).await?;
        tx.commit().await?;
        self.auditor.committed(head).await;
        resp.audited = self.auditor.enabled();
        Ok(())
    }

    /// The CapabilityStatement (public, no principal needed).
    pub fn capabilities(&self) -> FhirResponse {
        let statement = capability::statement(&self.config, &self.search_params);
        let mut r = FhirResponse::json(200, statement);
        r.phi = false;
        r
    }

    async fn dispatch(
        &self,
        ctx: &RequestContext,
        req: FhirRequest,
        access: &authz::Access,
    ) -> CoreResult<FhirResponse> {
        use Interaction as I;
        match req.interaction.clone() {
            I::Capabilities => Ok(self.capabilities()),
            I::Read(t, id) => self.read(t, &id, &req).await,
            I::Vread(t, id, v) => self.vread(t, &id, v, &req).await,
            I::HistoryInstance(..) | I::HistoryType(_) | I::HistorySystem => {
                self.history(ctx, &req, access).await
            }
            I::Create(t) => match req.headers.if_none_exist.clone() {
                Some(criteria) => {
                    self.conditional_create(ctx, t, &req, &criteria, access)
                        .await
                }
                None => self.create(ctx, t, &req).await,
            },
            I::Update(t, id) => self.update(ctx, t, &id, &req).await,
            I::Patch(t, id) => self.patch(ctx, t, &id, &req).await,
            I::Delete(t, id) => self.delete(ctx, t, &id, &req).await,
            I::BatchOrTransaction => self.batch_or_transaction(ctx, &req).await,
            I::Operation(name, target) if name == "reindex" => self.reindex(ctx, &target).await,
            I::Operation(name, OpTarget::Instance(t, id))
                if name == "disclosures" && t.as_str() == "Patient" =>
            {
                self.disclosures_operation(ctx, &id, &req).await
            }
            I::Operation(name, target) => self.operation(&name, &target, &req).await,
            I::SearchType(_) | I::SearchSystem | I::SearchCompartment(..) => {
                self.search(ctx, &req, access).await
            }
            I::ConditionalUpdate(t) => self.conditional_update(ctx, t, &req, access).await,
            I::ConditionalPatch(t) => self.conditional_patch(ctx, t, &req, access).await,
            I::ConditionalDelete(t) => self.conditional_delete(ctx, t, &req, access).await,
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Whether an interaction's record is announced to the group commit ([`FhirService::handle`]):
/// reads and vreads, which take about as long as a commit. Searches and history may take much
/// longer, and a commit that waited for them would hold back every read's answer meanwhile.
fn reads(i: &Interaction) -> bool {
    matches!(i, Interaction::Read(..) | Interaction::Vread(..))
}

/// Whether an interaction reads AuditEvents by id or history (system history included).
fn reads_audit_events(i: &Interaction) -> bool {
    use Interaction as I;
    match i {
        I::Read(t, _) | I::Vread(t, _, _) | I::HistoryInstance(t, _) | I::HistoryType(t) => {
            t.as_str() == "AuditEvent"
        }
        I::HistorySystem => true,
        _ => false,
    }
}

/// The query string a search or history was asked with (recorded in its audit record).
fn audit_query(req: &FhirRequest) -> Option<String> {
    use Interaction as I;
    if !matches!(
        req.interaction,
        I::SearchType(_)
            | I::SearchSystem
            | I::SearchCompartment(..)
            | I::HistoryType(_)
            | I::HistorySystem
            | I::HistoryInstance(..)
    ) || req.params.is_empty()
    {
        return None;
    }
    let pairs: Vec<String> = req.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Some(pairs.join("&"))
}
