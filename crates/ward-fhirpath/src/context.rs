//! The evaluation context: model, `%resource`/`%rootResource`, the clock, variables and tracing.

use serde_json::Value as Json;

use crate::model::ModelProvider;
use crate::temporal::DateTime;
use crate::value::{Collection, Item};

/// Receives `trace()` output: the trace name and the traced items. The library never logs.
pub type Tracer<'a> = &'a dyn Fn(&str, &[Item<'_>]);

/// Everything an evaluation may consult besides its input. Cheap to build per evaluation.
///
/// Time is never read from the system clock: `now()`, `today()` and `timeOfDay()` use the value
/// given with [`Context::with_now`], and fail with `FP-UNSUPPORTED` when none was given.
#[derive(Default)]
pub struct Context<'a> {
    pub(crate) model: Option<&'a dyn ModelProvider>,
    pub(crate) resource: Option<&'a Json>,
    pub(crate) root_resource: Option<&'a Json>,
    pub(crate) now: Option<DateTime>,
    pub(crate) variables: Vec<(String, Collection<'a>)>,
    pub(crate) tracer: Option<Tracer<'a>>,
    pub(crate) strict: bool,
}

impl<'a> Context<'a> {
    /// A context with no model, no clock and no variables.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `model` for element types, choice elements and type hierarchy.
    #[must_use]
    pub fn with_model(mut self, model: &'a dyn ModelProvider) -> Self {
        self.model = Some(model);
        self
    }

    /// Sets `%resource` (default: the evaluation input).
    #[must_use]
    pub fn with_resource(mut self, resource: &'a Json) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Sets `%rootResource` (default: `%resource`), e.g. the Bundle holding `%resource`.
    #[must_use]
    pub fn with_root_resource(mut self, root: &'a Json) -> Self {
        self.root_resource = Some(root);
        self
    }

    /// The instant `now()` returns; `today()` and `timeOfDay()` derive from it.
    #[must_use]
    pub fn with_now(mut self, now: DateTime) -> Self {
        self.now = Some(now);
        self
    }

    /// Defines `%name` (replacing an earlier definition).
    #[must_use]
    pub fn with_variable(mut self, name: impl Into<String>, value: Collection<'a>) -> Self {
        let name = name.into();
        self.variables.retain(|(n, _)| *n != name);
        self.variables.push((name, value));
        self
    }

    /// Sends `trace()` output to `tracer`.
    #[must_use]
    pub fn with_tracer(mut self, tracer: Tracer<'a>) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// Strict mode: with a model, an element name the type does not define, or a resource type
    /// name that does not match the input, is an error instead of an empty result. Also refuses
    /// non-Boolean `iif` criteria.
    #[must_use]
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }

    pub(crate) fn variable(&self, name: &str) -> Option<&Collection<'a>> {
        self.variables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}
