//! `ward-fhirpath`: a FHIRPath (N1) engine over Ward's JSON resource model.
//!
//! Parse once with [`Expr::parse`] (or share compiled expressions through [`ExprCache`]), then
//! evaluate against borrowed JSON as often as needed:
//!
//! ```
//! use ward_fhirpath::{Context, Expr, Item};
//! let patient = serde_json::json!({"resourceType": "Patient", "birthDate": "1974-12-25"});
//! let expr = Expr::parse("Patient.birthDate").unwrap();
//! let out = expr.evaluate(&patient, &Context::new()).unwrap();
//! assert_eq!(out[0].to_text().as_deref(), Some("1974-12-25"));
//! ```
//!
//! Evaluation never copies JSON subtrees: [`Item::Element`] borrows from the input. Decimals are
//! exact ([`rust_decimal::Decimal`]); dates keep their precision; time comes only from
//! [`Context::with_now`]. Errors ([`Error`]) carry stable codes and never contain data values.

mod ast;
mod context;
mod error;
mod eval;
mod functions;
mod lexer;
mod model;
mod navigate;
mod parser;
mod quantity;
#[cfg(feature = "spec")]
mod spec_model;
mod temporal;
mod value;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value as Json;

pub use context::{Context, Tracer};
pub use error::{Error, Result};
pub use model::{ElementType, ModelProvider};
pub use parser::MAX_DEPTH;
pub use quantity::Quantity;
pub use rust_decimal::Decimal;
#[cfg(feature = "spec")]
pub use spec_model::SpecModel;
pub use temporal::{DateTime, Precision, Time};
pub use value::{Collection, Element, Item};

/// A compiled FHIRPath expression. Immutable, `Send + Sync`; share it freely (e.g. in an `Arc`).
#[derive(Debug, Clone)]
pub struct Expr {
    source: Box<str>,
    root: ast::Node,
}

impl Expr {
    /// Parses `source`. Syntax errors, unknown functions, wrong arity, invalid literal regexes
    /// and nesting deeper than [`MAX_DEPTH`] are reported here, with byte positions.
    pub fn parse(source: &str) -> Result<Self> {
        Ok(Self {
            source: source.into(),
            root: parser::parse(source)?,
        })
    }

    /// The expression text.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates against `input` (usually a resource). `%context` is the input; `%resource` and
    /// `%rootResource` default to it unless the context sets them.
    pub fn evaluate<'a>(&'a self, input: &'a Json, ctx: &Context<'a>) -> Result<Collection<'a>> {
        let root = [eval::Eval::root(input)];
        self.run(&root, input, ctx)
    }

    /// Evaluates against an arbitrary input collection.
    pub fn evaluate_items<'a>(
        &'a self,
        input: &[Item<'a>],
        ctx: &Context<'a>,
    ) -> Result<Collection<'a>> {
        let frame = eval::Frame {
            this: input,
            index: None,
            total: None,
        };
        let ev = eval::Eval { ctx, input };
        ev.eval(&self.root, &frame)
    }

    fn run<'a>(
        &'a self,
        input: &[Item<'a>],
        resource: &'a Json,
        ctx: &Context<'a>,
    ) -> Result<Collection<'a>> {
        if ctx.resource.is_some() {
            return self.evaluate_items(input, ctx);
        }
        let local = Context {
            model: ctx.model,
            resource: Some(resource),
            root_resource: ctx.root_resource,
            now: ctx.now,
            variables: ctx.variables.clone(),
            tracer: ctx.tracer,
            strict: ctx.strict,
        };
        self.evaluate_items(input, &local)
    }
}

impl std::str::FromStr for Expr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// A thread-safe cache of compiled expressions keyed by their text.
///
/// Search indexing evaluates the same ~1,400 expressions for every write; compile each once.
#[derive(Debug, Default)]
pub struct ExprCache {
    map: RwLock<HashMap<Box<str>, Arc<Expr>>>,
}

impl ExprCache {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The compiled expression for `source`, parsing and caching it on first use. Parse errors
    /// are returned and not cached.
    pub fn get(&self, source: &str) -> Result<Arc<Expr>> {
        if let Ok(map) = self.map.read()
            && let Some(e) = map.get(source)
        {
            return Ok(Arc::clone(e));
        }
        let expr = Arc::new(Expr::parse(source)?);
        if let Ok(mut map) = self.map.write() {
            map.entry(source.into())
                .or_insert_with(|| Arc::clone(&expr));
        }
        Ok(expr)
    }

    /// Number of cached expressions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }

    /// True if nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
