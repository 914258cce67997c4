//! FHIR search: the typed query model shared by every backend, the parser from request
//! parameters ([`parse()`]), and the planner that compiles a query into SQL ([`plan`]); only the
//! dialect differs between backends.

mod model;
mod parse;
pub mod plan;
mod registry;
mod value;
pub mod valueset;

pub use model::{
    Filter, Include, KeyValue, Modifier, PageToken, ParamFilter, Prefix, SearchPage, SearchQuery,
    SortKey, TokenSystem, TotalMode, Value,
};
pub use parse::{ParseOptions, ParsedSearch, SearchError, parse};
pub use registry::{ParamRef, Registry, Skipped, lookup};
