//! The abstract syntax tree produced by the parser, and the table of known functions.

use rust_decimal::Decimal;

use crate::quantity::Quantity;
use crate::temporal::{DateTime, Time};

/// An expression node with its byte position and subtree height.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub pos: usize,
    pub height: u16,
}

/// Node kinds.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// `{}`
    Empty,
    Bool(bool),
    Str(String),
    Int(i64),
    Dec(Decimal),
    Date(DateTime),
    DateTime(DateTime),
    Time(Time),
    Quantity(Quantity),
    /// An identifier at the start of a path: element of `$this`, or a type name filter.
    Ident(String),
    This,
    Index,
    Total,
    /// `%name`
    Env(String),
    /// `target.name`
    Member(Box<Node>, String),
    Call(Box<Call>),
    Indexer(Box<Node>, Box<Node>),
    Neg(Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    /// `x is T` / `x as T`
    TypeOp {
        is: bool,
        operand: Box<Node>,
        ty: TypeSpec,
    },
}

/// A function invocation.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// `None` when invoked on `$this` (`where(...)` at the start of an expression).
    pub target: Option<Node>,
    pub func: Func,
    pub args: Vec<Node>,
    /// The type argument of `is()`, `as()`, `ofType()`.
    pub ty: Option<TypeSpec>,
    /// Pre-compiled regex when the pattern argument is a string literal.
    pub regex: Option<regex::Regex>,
}

/// A (possibly qualified) type name: `Quantity`, `FHIR.Patient`, `System.Boolean`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeSpec {
    pub namespace: Option<String>,
    pub name: String,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    Equiv,
    NotEquiv,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}

impl BinOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Self::Mul => "*",
            Self::Div => "/",
            Self::IntDiv => "div",
            Self::Mod => "mod",
            Self::Add => "+",
            Self::Sub => "-",
            Self::Concat => "&",
            Self::Union => "|",
            Self::Lt => "<",
            Self::Gt => ">",
            Self::Le => "<=",
            Self::Ge => ">=",
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Equiv => "~",
            Self::NotEquiv => "!~",
            Self::In => "in",
            Self::Contains => "contains",
            Self::And => "and",
            Self::Or => "or",
            Self::Xor => "xor",
            Self::Implies => "implies",
        }
    }
}

macro_rules! functions {
    ($($variant:ident = $name:literal, $min:literal, $max:literal;)*) => {
        /// Every function this engine knows, resolved at parse time.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Func { $($variant),* }

        impl Func {
            pub(crate) fn lookup(name: &str) -> Option<Self> {
                match name { $($name => Some(Self::$variant),)* _ => None }
            }
            pub(crate) fn name(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
            /// Minimum and maximum number of arguments.
            pub(crate) fn arity(self) -> (usize, usize) {
                match self { $(Self::$variant => ($min, $max)),* }
            }
        }
    };
}

functions! {
    Empty = "empty", 0, 0;
    Exists = "exists", 0, 1;
    All = "all", 1, 1;
    AllTrue = "allTrue", 0, 0;
    AnyTrue = "anyTrue", 0, 0;
    AllFalse = "allFalse", 0, 0;
    AnyFalse = "anyFalse", 0, 0;
    SubsetOf = "subsetOf", 1, 1;
    SupersetOf = "supersetOf", 1, 1;
    Count = "count", 0, 0;
    Distinct = "distinct", 0, 0;
    IsDistinct = "isDistinct", 0, 0;
    Where = "where", 1, 1;
    Select = "select", 1, 1;
    Repeat = "repeat", 1, 1;
    RepeatAll = "repeatAll", 1, 1;
    OfType = "ofType", 1, 1;
    Single = "single", 0, 0;
    First = "first", 0, 0;
    Last = "last", 0, 0;
    Tail = "tail", 0, 0;
    Skip = "skip", 1, 1;
    Take = "take", 1, 1;
    Intersect = "intersect", 1, 1;
    Exclude = "exclude", 1, 1;
    Union = "union", 1, 1;
    Combine = "combine", 1, 1;
    Iif = "iif", 2, 3;
    ToBoolean = "toBoolean", 0, 0;
    ConvertsToBoolean = "convertsToBoolean", 0, 0;
    ToInteger = "toInteger", 0, 0;
    ConvertsToInteger = "convertsToInteger", 0, 0;
    ToLong = "toLong", 0, 0;
    ConvertsToLong = "convertsToLong", 0, 0;
    ToDecimal = "toDecimal", 0, 0;
    ConvertsToDecimal = "convertsToDecimal", 0, 0;
    ToStringFn = "toString", 0, 0;
    ConvertsToString = "convertsToString", 0, 0;
    ToDate = "toDate", 0, 0;
    ConvertsToDate = "convertsToDate", 0, 0;
    ToDateTime = "toDateTime", 0, 0;
    ConvertsToDateTime = "convertsToDateTime", 0, 0;
    ToTime = "toTime", 0, 0;
    ConvertsToTime = "convertsToTime", 0, 0;
    ToQuantity = "toQuantity", 0, 1;
    ConvertsToQuantity = "convertsToQuantity", 0, 1;
    IndexOf = "indexOf", 1, 1;
    LastIndexOf = "lastIndexOf", 1, 1;
    Substring = "substring", 1, 2;
    StartsWith = "startsWith", 1, 1;
    EndsWith = "endsWith", 1, 1;
    ContainsFn = "contains", 1, 1;
    Upper = "upper", 0, 0;
    Lower = "lower", 0, 0;
    Replace = "replace", 2, 2;
    Matches = "matches", 1, 1;
    MatchesFull = "matchesFull", 1, 1;
    ReplaceMatches = "replaceMatches", 2, 2;
    Length = "length", 0, 0;
    ToChars = "toChars", 0, 0;
    Trim = "trim", 0, 0;
    Split = "split", 1, 1;
    Join = "join", 0, 1;
    Encode = "encode", 1, 1;
    Decode = "decode", 1, 1;
    Escape = "escape", 1, 1;
    Unescape = "unescape", 1, 1;
    Abs = "abs", 0, 0;
    Ceiling = "ceiling", 0, 0;
    Exp = "exp", 0, 0;
    Floor = "floor", 0, 0;
    Ln = "ln", 0, 0;
    Log = "log", 1, 1;
    Power = "power", 1, 1;
    Round = "round", 0, 1;
    Sqrt = "sqrt", 0, 0;
    Truncate = "truncate", 0, 0;
    Children = "children", 0, 0;
    Descendants = "descendants", 0, 0;
    Trace = "trace", 1, 2;
    Now = "now", 0, 0;
    Today = "today", 0, 0;
    TimeOfDay = "timeOfDay", 0, 0;
    Is = "is", 1, 1;
    As = "as", 1, 1;
    Not = "not", 0, 0;
    Type = "type", 0, 0;
    Extension = "extension", 1, 1;
    HasValue = "hasValue", 0, 0;
    GetValue = "getValue", 0, 0;
    Resolve = "resolve", 0, 0;
    MemberOf = "memberOf", 1, 1;
    ConformsTo = "conformsTo", 1, 1;
    HtmlChecks = "htmlChecks", 0, 0;
    Aggregate = "aggregate", 1, 2;
    Sort = "sort", 0, 8;
    LowBoundary = "lowBoundary", 0, 1;
    HighBoundary = "highBoundary", 0, 1;
    Precision = "precision", 0, 0;
    Comparable = "comparable", 1, 1;
    DefineVariable = "defineVariable", 1, 2;
}
