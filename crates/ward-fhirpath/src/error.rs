//! Errors of parsing and evaluating FHIRPath: stable codes, positions, and never a data value.
//!
//! Every message is built only from the expression text (names, operators) and byte offsets into
//! it. Values taken from the evaluated resource may be PHI and are never copied into an error.

use thiserror::Error;

/// An error from parsing or evaluating a FHIRPath expression.
///
/// `pos` is a byte offset into the expression text. [`Error::code`] gives a stable, greppable code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The expression is not valid FHIRPath syntax.
    #[error("FP-SYNTAX: {msg} at offset {pos}")]
    Syntax {
        /// Byte offset of the offending token.
        pos: usize,
        /// What was expected or found (expression text only).
        msg: String,
    },
    /// The expression nests deeper than the engine allows.
    #[error("FP-DEPTH: expression nests deeper than {limit} at offset {pos}")]
    TooDeep {
        /// Byte offset where the limit was reached.
        pos: usize,
        /// The nesting limit.
        limit: usize,
    },
    /// A function name that FHIRPath does not define.
    #[error("FP-FUNCTION: unknown function '{name}' at offset {pos}")]
    UnknownFunction {
        /// Byte offset of the function name.
        pos: usize,
        /// The name as written.
        name: String,
    },
    /// A function called with the wrong number of arguments.
    #[error("FP-ARITY: wrong number of arguments to '{name}' at offset {pos}")]
    Arity {
        /// Byte offset of the function name.
        pos: usize,
        /// The function name.
        name: String,
    },
    /// An operand or input of the wrong type.
    #[error("FP-TYPE: {what} at offset {pos}")]
    Type {
        /// Byte offset of the operator or function.
        pos: usize,
        /// What was wrong, in terms of types (never values).
        what: &'static str,
    },
    /// A collection with more than one item where one was required.
    #[error("FP-SINGLETON: expected at most one item for {what} at offset {pos}")]
    Singleton {
        /// Byte offset of the operator or function.
        pos: usize,
        /// The operator or function.
        what: &'static str,
    },
    /// An element name that the model does not define on the type (strict mode).
    #[error("FP-ELEMENT: '{name}' is not an element of {parent} at offset {pos}")]
    UnknownElement {
        /// Byte offset of the name.
        pos: usize,
        /// The element name as written.
        name: String,
        /// The type it was looked up on.
        parent: String,
    },
    /// A type name that neither FHIR nor System defines.
    #[error("FP-TYPENAME: unknown type '{name}' at offset {pos}")]
    UnknownType {
        /// Byte offset of the type specifier.
        pos: usize,
        /// The type name as written.
        name: String,
    },
    /// An environment variable (`%name`) that is not defined.
    #[error("FP-VARIABLE: unknown variable '%{name}' at offset {pos}")]
    UnknownVariable {
        /// Byte offset of the variable.
        pos: usize,
        /// The variable name as written.
        name: String,
    },
    /// A regular expression that does not compile (or is too large).
    #[error("FP-REGEX: invalid regular expression at offset {pos}")]
    Regex {
        /// Byte offset of the function call.
        pos: usize,
    },
    /// A feature this engine does not provide (for example terminology services).
    #[error("FP-UNSUPPORTED: {what} at offset {pos}")]
    Unsupported {
        /// Byte offset of the call.
        pos: usize,
        /// The unsupported feature.
        what: &'static str,
    },
    /// A resource limit was hit while evaluating (for example `repeat()` output size).
    #[error("FP-LIMIT: {what} at offset {pos}")]
    Limit {
        /// Byte offset of the call.
        pos: usize,
        /// Which limit.
        what: &'static str,
    },
}

impl Error {
    /// The stable code of this error, e.g. `FP-SYNTAX`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Syntax { .. } => "FP-SYNTAX",
            Self::TooDeep { .. } => "FP-DEPTH",
            Self::UnknownFunction { .. } => "FP-FUNCTION",
            Self::Arity { .. } => "FP-ARITY",
            Self::Type { .. } => "FP-TYPE",
            Self::Singleton { .. } => "FP-SINGLETON",
            Self::UnknownElement { .. } => "FP-ELEMENT",
            Self::UnknownType { .. } => "FP-TYPENAME",
            Self::UnknownVariable { .. } => "FP-VARIABLE",
            Self::Regex { .. } => "FP-REGEX",
            Self::Unsupported { .. } => "FP-UNSUPPORTED",
            Self::Limit { .. } => "FP-LIMIT",
        }
    }

    /// Byte offset into the expression text where the error was detected.
    #[must_use]
    pub fn position(&self) -> usize {
        match self {
            Self::Syntax { pos, .. }
            | Self::TooDeep { pos, .. }
            | Self::UnknownFunction { pos, .. }
            | Self::Arity { pos, .. }
            | Self::Type { pos, .. }
            | Self::Singleton { pos, .. }
            | Self::UnknownElement { pos, .. }
            | Self::UnknownType { pos, .. }
            | Self::UnknownVariable { pos, .. }
            | Self::Regex { pos }
            | Self::Unsupported { pos, .. }
            | Self::Limit { pos, .. } => *pos,
        }
    }

    /// True for errors found while parsing (before any data was seen).
    #[must_use]
    pub fn is_parse_error(&self) -> bool {
        matches!(
            self,
            Self::Syntax { .. }
                | Self::TooDeep { .. }
                | Self::UnknownFunction { .. }
                | Self::Arity { .. }
        )
    }

    pub(crate) fn ty(pos: usize, what: &'static str) -> Self {
        Self::Type { pos, what }
    }

    pub(crate) fn single(pos: usize, what: &'static str) -> Self {
        Self::Singleton { pos, what }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_positions_reported() {
        let e = Error::Syntax {
            pos: 3,
            msg: "expected ')'".into(),
        };
        assert_eq!(e.code(), "FP-SYNTAX");
        assert_eq!(e.position(), 3);
        assert!(e.is_parse_error());
        let e = Error::ty(7, "operands of '+' are not compatible");
        assert_eq!(e.code(), "FP-TYPE");
        assert!(!e.is_parse_error());
        assert!(e.to_string().contains("offset 7"));
    }
}
