//! Parser: precedence climbing over the token stream into [`Node`]s, with a nesting limit.

use rust_decimal::Decimal;

use crate::ast::{BinOp, Call, Func, Kind, Node, TypeSpec};
use crate::error::{Error, Result};
use crate::lexer::{Tok, Token, tokenize};
use crate::quantity::{Quantity, is_calendar_word};
use crate::temporal::{DateTime, Time};

/// Deepest expression tree accepted (parse nesting and AST height).
pub const MAX_DEPTH: usize = 96;

/// Parses `src` into an AST.
pub(crate) fn parse(src: &str) -> Result<Node> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
    };
    let node = p.expr(0)?;
    match p.peek() {
        Tok::Eof => Ok(node),
        _ => Err(p.unexpected()),
    }
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    depth: usize,
}

enum Infix {
    Bin(BinOp),
    Is,
    As,
}

/// Height of a new node over `children`, refused past [`MAX_DEPTH`].
fn height(pos: usize, children: &[&Node]) -> Result<u16> {
    let h = children
        .iter()
        .map(|c| c.height)
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    if usize::from(h) > MAX_DEPTH {
        return Err(Error::TooDeep {
            pos,
            limit: MAX_DEPTH,
        });
    }
    Ok(h)
}

fn leaf(kind: Kind, pos: usize) -> Node {
    Node {
        kind,
        pos,
        height: 1,
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident { text, .. } => format!("unexpected identifier '{text}'"),
        Tok::Eof => "unexpected end of expression".to_owned(),
        Tok::Str(_) => "unexpected string".to_owned(),
        Tok::Num(_) | Tok::Long(_) => "unexpected number".to_owned(),
        other => format!("unexpected token {other:?}"),
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.i).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn peek_at(&self, k: usize) -> &Tok {
        self.toks.get(self.i + k).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.toks
            .get(self.i)
            .or(self.toks.last())
            .map_or(0, |t| t.pos)
    }

    fn unexpected(&self) -> Error {
        Error::Syntax {
            pos: self.pos(),
            msg: describe(self.peek()),
        }
    }

    fn bump(&mut self) -> Tok {
        let t = self.toks.get(self.i).map_or(Tok::Eof, |t| t.tok.clone());
        self.i += 1;
        t
    }

    fn expect(&mut self, want: &Tok, what: &str) -> Result<()> {
        if self.peek() == want {
            self.i += 1;
            Ok(())
        } else {
            Err(Error::Syntax {
                pos: self.pos(),
                msg: format!("expected {what}"),
            })
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::TooDeep {
                pos: self.pos(),
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }

    fn infix(&self) -> Option<(Infix, u8)> {
        let bin = |op, p| Some((Infix::Bin(op), p));
        match self.peek() {
            Tok::Ident {
                text,
                quoted: false,
            } => match text.as_str() {
                "implies" => bin(BinOp::Implies, 1),
                "or" => bin(BinOp::Or, 2),
                "xor" => bin(BinOp::Xor, 2),
                "and" => bin(BinOp::And, 3),
                "in" => bin(BinOp::In, 4),
                "contains" => bin(BinOp::Contains, 4),
                "is" => Some((Infix::Is, 8)),
                "as" => Some((Infix::As, 8)),
                "div" => bin(BinOp::IntDiv, 10),
                "mod" => bin(BinOp::Mod, 10),
                _ => None,
            },
            Tok::Eq => bin(BinOp::Eq, 5),
            Tok::Ne => bin(BinOp::Ne, 5),
            Tok::Tilde => bin(BinOp::Equiv, 5),
            Tok::NotTilde => bin(BinOp::NotEquiv, 5),
            Tok::Lt => bin(BinOp::Lt, 6),
            Tok::Gt => bin(BinOp::Gt, 6),
            Tok::Le => bin(BinOp::Le, 6),
            Tok::Ge => bin(BinOp::Ge, 6),
            Tok::Pipe => bin(BinOp::Union, 7),
            Tok::Plus => bin(BinOp::Add, 9),
            Tok::Minus => bin(BinOp::Sub, 9),
            Tok::Amp => bin(BinOp::Concat, 9),
            Tok::Star => bin(BinOp::Mul, 10),
            Tok::Slash => bin(BinOp::Div, 10),
            _ => None,
        }
    }

    fn expr(&mut self, min: u8) -> Result<Node> {
        self.enter()?;
        let mut lhs = self.unary()?;
        while let Some((op, prec)) = self.infix() {
            if prec < min {
                break;
            }
            let pos = self.pos();
            self.i += 1;
            lhs = match op {
                Infix::Is | Infix::As => {
                    let ty = self.type_spec()?;
                    let height = height(pos, &[&lhs])?;
                    let kind = Kind::TypeOp {
                        is: matches!(op, Infix::Is),
                        operand: Box::new(lhs),
                        ty,
                    };
                    Node { kind, pos, height }
                }
                Infix::Bin(op) => {
                    let rhs = self.expr(prec + 1)?;
                    let height = height(pos, &[&lhs, &rhs])?;
                    Node {
                        kind: Kind::Binary(op, Box::new(lhs), Box::new(rhs)),
                        pos,
                        height,
                    }
                }
            };
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn type_spec(&mut self) -> Result<TypeSpec> {
        let first = self.ident("a type name")?;
        if self.peek() == &Tok::Dot && matches!(self.peek_at(1), Tok::Ident { .. }) {
            self.i += 1;
            let name = self.ident("a type name")?;
            return Ok(TypeSpec {
                namespace: Some(first),
                name,
            });
        }
        Ok(TypeSpec {
            namespace: None,
            name: first,
        })
    }

    fn ident(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Tok::Ident { text, .. } => {
                let t = text.clone();
                self.i += 1;
                Ok(t)
            }
            _ => Err(Error::Syntax {
                pos: self.pos(),
                msg: format!("expected {what}"),
            }),
        }
    }

    fn unary(&mut self) -> Result<Node> {
        let pos = self.pos();
        match self.peek() {
            Tok::Plus | Tok::Minus => {
                let neg = self.bump() == Tok::Minus;
                self.enter()?;
                let inner = self.unary()?;
                self.depth -= 1;
                if !neg {
                    return Ok(inner);
                }
                Ok(match inner.kind {
                    Kind::Int(v) if v != i64::MIN => leaf(Kind::Int(-v), pos),
                    Kind::Dec(d) => leaf(Kind::Dec(-d), pos),
                    _ => {
                        let height = height(pos, &[&inner])?;
                        Node {
                            kind: Kind::Neg(Box::new(inner)),
                            pos,
                            height,
                        }
                    }
                })
            }
            _ => self.postfix(),
        }
    }

    fn postfix(&mut self) -> Result<Node> {
        let mut node = self.term()?;
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.i += 1;
                    let pos = self.pos();
                    let name = self.ident("a name after '.'")?;
                    node = if self.peek() == &Tok::LParen {
                        self.call(Some(node), name, pos)?
                    } else {
                        let height = height(pos, &[&node])?;
                        Node {
                            kind: Kind::Member(Box::new(node), name),
                            pos,
                            height,
                        }
                    };
                }
                Tok::LBracket => {
                    let pos = self.pos();
                    self.i += 1;
                    let idx = self.expr(0)?;
                    self.expect(&Tok::RBracket, "']'")?;
                    let height = height(pos, &[&node, &idx])?;
                    node = Node {
                        kind: Kind::Indexer(Box::new(node), Box::new(idx)),
                        pos,
                        height,
                    };
                }
                _ => return Ok(node),
            }
        }
    }

    fn term(&mut self) -> Result<Node> {
        let pos = self.pos();
        let tok = self.bump();
        let kind = match tok {
            Tok::Num(text) => return self.number(&text, pos),
            Tok::Long(text) => Kind::Int(text.parse().map_err(|_| bad_number(pos))?),
            Tok::Str(s) => Kind::Str(s),
            Tok::DateTime(text) => temporal_literal(&text, pos)?,
            Tok::Time(text) => {
                Kind::Time(Time::parse(&text).ok_or_else(|| syntax(pos, "invalid time literal"))?)
            }
            Tok::Env(name) => Kind::Env(name),
            Tok::Dollar(name) => match name.as_str() {
                "this" => Kind::This,
                "index" => Kind::Index,
                "total" => Kind::Total,
                _ => return Err(syntax(pos, "unknown $ variable")),
            },
            Tok::LBrace => {
                self.expect(&Tok::RBrace, "'}'")?;
                Kind::Empty
            }
            Tok::LParen => {
                let inner = self.expr(0)?;
                self.expect(&Tok::RParen, "')'")?;
                return Ok(inner);
            }
            Tok::Ident { text, quoted } => {
                if self.peek() == &Tok::LParen {
                    return self.call(None, text, pos);
                }
                match (text.as_str(), quoted) {
                    ("true", false) => Kind::Bool(true),
                    ("false", false) => Kind::Bool(false),
                    _ => Kind::Ident(text),
                }
            }
            _ => {
                self.i -= 1;
                return Err(self.unexpected());
            }
        };
        Ok(leaf(kind, pos))
    }

    fn number(&mut self, text: &str, pos: usize) -> Result<Node> {
        let unit = match self.peek() {
            Tok::Str(u) => Some(u.clone()),
            Tok::Ident {
                text: w,
                quoted: false,
            } if is_calendar_word(w) => Some(w.clone()),
            _ => None,
        };
        let is_dec = text.contains('.');
        if let Some(unit) = unit {
            self.i += 1;
            let value: Decimal = text.parse().map_err(|_| bad_number(pos))?;
            return Ok(leaf(Kind::Quantity(Quantity::new(value, unit)), pos));
        }
        let kind = if is_dec {
            Kind::Dec(text.parse().map_err(|_| bad_number(pos))?)
        } else {
            match text.parse::<i64>() {
                Ok(v) => Kind::Int(v),
                Err(_) => Kind::Dec(text.parse().map_err(|_| bad_number(pos))?),
            }
        };
        Ok(leaf(kind, pos))
    }

    fn call(&mut self, target: Option<Node>, name: String, pos: usize) -> Result<Node> {
        self.expect(&Tok::LParen, "'('")?;
        self.enter()?;
        let mut args = Vec::new();
        if self.peek() != &Tok::RParen {
            loop {
                args.push(self.expr(0)?);
                if self.peek() == &Tok::Comma {
                    self.i += 1;
                } else {
                    break;
                }
            }
        }
        self.expect(&Tok::RParen, "')' or ','")?;
        self.depth -= 1;
        let func = Func::lookup(&name).ok_or(Error::UnknownFunction {
            pos,
            name: name.clone(),
        })?;
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            return Err(Error::Arity { pos, name });
        }
        let mut ty = None;
        if matches!(func, Func::Is | Func::As | Func::OfType) {
            ty = args.first().and_then(type_of_arg);
            if ty.is_none() {
                return Err(syntax(pos, "expected a type name argument"));
            }
            args.clear();
        }
        let regex = literal_regex(func, &args, pos)?;
        let mut children: Vec<&Node> = args.iter().collect();
        if let Some(t) = &target {
            children.push(t);
        }
        let height = height(pos, &children)?;
        Ok(Node {
            kind: Kind::Call(Box::new(Call {
                target,
                func,
                args,
                ty,
                regex,
            })),
            pos,
            height,
        })
    }
}

/// Compiles the pattern of `matches`/`matchesFull`/`replaceMatches` once when it is a literal.
fn literal_regex(func: Func, args: &[Node], pos: usize) -> Result<Option<regex::Regex>> {
    let full = func == Func::MatchesFull;
    match (func, args.first()) {
        (
            Func::Matches | Func::MatchesFull | Func::ReplaceMatches,
            Some(Node {
                kind: Kind::Str(p), ..
            }),
        ) => crate::functions::strings::build_regex(p, full, pos).map(Some),
        _ => Ok(None),
    }
}

fn type_of_arg(arg: &Node) -> Option<TypeSpec> {
    match &arg.kind {
        Kind::Ident(name) => Some(TypeSpec {
            namespace: None,
            name: name.clone(),
        }),
        Kind::Member(inner, name) => match &inner.kind {
            Kind::Ident(ns) => Some(TypeSpec {
                namespace: Some(ns.clone()),
                name: name.clone(),
            }),
            _ => None,
        },
        _ => None,
    }
}

fn syntax(pos: usize, msg: &str) -> Error {
    Error::Syntax {
        pos,
        msg: msg.to_owned(),
    }
}

fn bad_number(pos: usize) -> Error {
    syntax(pos, "number out of range")
}

fn temporal_literal(text: &str, pos: usize) -> Result<Kind> {
    if text.contains('T') {
        DateTime::parse_datetime(text).map(Kind::DateTime)
    } else {
        DateTime::parse_date(text).map(Kind::Date)
    }
    .ok_or_else(|| syntax(pos, "invalid date/time literal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n: &Node) -> String {
        match &n.kind {
            Kind::Binary(op, a, b) => format!("({} {} {})", shape(a), op.symbol(), shape(b)),
            Kind::Member(t, name) => format!("{}.{name}", shape(t)),
            Kind::Ident(name) => name.clone(),
            Kind::Int(v) => v.to_string(),
            Kind::Dec(d) => d.to_string(),
            Kind::Str(s) => format!("'{s}'"),
            Kind::Bool(b) => b.to_string(),
            Kind::Neg(x) => format!("-{}", shape(x)),
            Kind::TypeOp { is, operand, ty } => {
                format!(
                    "({} {} {})",
                    shape(operand),
                    if *is { "is" } else { "as" },
                    ty.name
                )
            }
            Kind::Call(c) => {
                let args: Vec<String> = c.args.iter().map(shape).collect();
                let t = c
                    .target
                    .as_ref()
                    .map(|t| format!("{}.", shape(t)))
                    .unwrap_or_default();
                format!("{t}{}({})", c.func.name(), args.join(","))
            }
            Kind::Quantity(q) => q.to_string(),
            other => format!("{other:?}"),
        }
    }

    fn p(s: &str) -> String {
        shape(&parse(s).unwrap())
    }

    #[test]
    fn precedence_follows_the_spec() {
        assert_eq!(p("1+2*3+4"), "((1 + (2 * 3)) + 4)");
        assert_eq!(p("1 > 2 is Boolean"), "(1 > (2 is Boolean))");
        assert_eq!(p("1 | 1 is Integer"), "(1 | (1 is Integer))");
        assert_eq!(
            p("true and '0215' in ('0215' | '0216')"),
            "(true and ('0215' in ('0215' | '0216')))"
        );
        assert_eq!(p("a implies b or c and d"), "(a implies (b or (c and d)))");
        assert_eq!(p("-1.convertsToInteger()"), "-1.convertsToInteger()");
        assert_eq!(p("-a.b"), "-a.b");
        assert_eq!(p("-3 != 3"), "(-3 != 3)");
        assert_eq!(p("a - b - c"), "((a - b) - c)");
    }

    #[test]
    fn literals_and_calls() {
        assert_eq!(
            p("4 days.convertsToQuantity()"),
            "4 days.convertsToQuantity()"
        );
        assert_eq!(p("10 'mg'"), "10 'mg'");
        assert_eq!(
            p("Patient.name.where(use = 'official')"),
            "Patient.name.where((use = 'official'))"
        );
        assert_eq!(p("`div`.x"), "div.x");
        assert_eq!(p("a.`is`"), "a.is");
        assert!(matches!(parse("@2015T").unwrap().kind, Kind::DateTime(_)));
        assert!(matches!(parse("@2015-01-02").unwrap().kind, Kind::Date(_)));
        let n = parse("x.ofType(FHIR.Patient)").unwrap();
        let Kind::Call(c) = n.kind else { panic!() };
        assert_eq!(
            c.ty,
            Some(TypeSpec {
                namespace: Some("FHIR".into()),
                name: "Patient".into()
            })
        );
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("2 + 2 /").unwrap_err();
        assert_eq!((e.code(), e.position()), ("FP-SYNTAX", 7));
        let e = parse("name.foo()").unwrap_err();
        assert_eq!((e.code(), e.position()), ("FP-FUNCTION", 5));
        assert_eq!(parse("name.first(1)").unwrap_err().code(), "FP-ARITY");
        assert_eq!(parse("(1").unwrap_err().code(), "FP-SYNTAX");
        assert_eq!(parse("a b").unwrap_err().position(), 2);
        assert_eq!(parse("@2015-02-30").unwrap_err().code(), "FP-SYNTAX");
        assert_eq!(parse("x.matches('(')").unwrap_err().code(), "FP-REGEX");
        assert_eq!(parse("").unwrap_err().code(), "FP-SYNTAX");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(parse(&deep).unwrap_err().code(), "FP-DEPTH");
        let long = vec!["a"; 5000].join(".");
        assert_eq!(parse(&long).unwrap_err().code(), "FP-DEPTH");
        let sum = vec!["1"; 5000].join("+");
        assert_eq!(parse(&sum).unwrap_err().code(), "FP-DEPTH");
        let neg = format!("{}1", "-".repeat(5000));
        assert_eq!(parse(&neg).unwrap_err().code(), "FP-DEPTH");
        assert!(parse(&vec!["a"; 60].join(".")).is_ok());
    }
}
