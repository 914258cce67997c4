//! Lexer: turns FHIRPath source text into tokens with byte positions.

use crate::error::{Error, Result};

/// A token kind. Keywords arrive as [`Tok::Ident`] with `quoted == false`; the parser decides.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Identifier; `quoted` for the backtick form (never a keyword).
    Ident {
        text: String,
        quoted: bool,
    },
    /// String literal, escapes resolved.
    Str(String),
    /// Number literal as written (`12`, `1.50`).
    Num(String),
    /// Long integer literal (`12L`).
    Long(String),
    /// `@...` date / date-time literal text (without `@`).
    DateTime(String),
    /// `@T...` time literal text (without `@T`).
    Time(String),
    /// `%name`, ``%`name` ``, `%'name'`.
    Env(String),
    /// `$this`, `$index`, `$total`.
    Dollar(String),
    Dot,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Plus,
    Minus,
    Star,
    Slash,
    Amp,
    Pipe,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    Tilde,
    NotTilde,
    Eof,
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// Longest expression text accepted, in bytes.
pub(crate) const MAX_SOURCE_LEN: usize = 64 * 1024;

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>> {
    if src.len() > MAX_SOURCE_LEN {
        return Err(Error::Syntax {
            pos: MAX_SOURCE_LEN,
            msg: "expression too long".into(),
        });
    }
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_trivia()?;
        let pos = lx.i;
        let Some(c) = lx.peek(0) else {
            out.push(Token { tok: Tok::Eof, pos });
            return Ok(out);
        };
        let tok = lx.token(c, pos)?;
        out.push(Token { tok, pos });
    }
}

struct Lexer<'s> {
    src: &'s str,
    bytes: &'s [u8],
    i: usize,
}

fn syntax(pos: usize, msg: &str) -> Error {
    Error::Syntax {
        pos,
        msg: msg.to_owned(),
    }
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<u8> {
        self.bytes.get(self.i + k).copied()
    }

    fn slice(&self, from: usize, to: usize) -> String {
        self.src.get(from..to).unwrap_or_default().to_owned()
    }

    fn skip_trivia(&mut self) -> Result<()> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(c), _) if c.is_ascii_whitespace() => self.i += 1,
                (Some(b'/'), Some(b'/')) => {
                    while let Some(c) = self.peek(0) {
                        if c == b'\n' {
                            break;
                        }
                        self.i += 1;
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    let start = self.i;
                    self.i += 2;
                    loop {
                        match (self.peek(0), self.peek(1)) {
                            (Some(b'*'), Some(b'/')) => {
                                self.i += 2;
                                break;
                            }
                            (Some(_), _) => self.i += 1,
                            (None, _) => return Err(syntax(start, "unterminated comment")),
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn token(&mut self, c: u8, pos: usize) -> Result<Tok> {
        let two = self.peek(1);
        let (tok, len) = match c {
            b'.' => (Tok::Dot, 1),
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'[' => (Tok::LBracket, 1),
            b']' => (Tok::RBracket, 1),
            b'{' => (Tok::LBrace, 1),
            b'}' => (Tok::RBrace, 1),
            b',' => (Tok::Comma, 1),
            b'+' => (Tok::Plus, 1),
            b'-' => (Tok::Minus, 1),
            b'*' => (Tok::Star, 1),
            b'/' => (Tok::Slash, 1),
            b'&' => (Tok::Amp, 1),
            b'|' => (Tok::Pipe, 1),
            b'~' => (Tok::Tilde, 1),
            b'=' => (Tok::Eq, 1),
            b'<' if two == Some(b'=') => (Tok::Le, 2),
            b'<' => (Tok::Lt, 1),
            b'>' if two == Some(b'=') => (Tok::Ge, 2),
            b'>' => (Tok::Gt, 1),
            b'!' if two == Some(b'=') => (Tok::Ne, 2),
            b'!' if two == Some(b'~') => (Tok::NotTilde, 2),
            b'\'' => return self.quoted(b'\'', pos).map(Tok::Str),
            b'`' => {
                return self
                    .quoted(b'`', pos)
                    .map(|text| Tok::Ident { text, quoted: true });
            }
            b'@' => return self.temporal(pos),
            b'%' => return self.env(pos),
            b'$' => {
                self.i += 1;
                let name = self.ident_text();
                if name.is_empty() {
                    return Err(syntax(pos, "expected a name after '$'"));
                }
                return Ok(Tok::Dollar(name));
            }
            b'0'..=b'9' => return Ok(self.number()),
            c if c == b'_' || c.is_ascii_alphabetic() => {
                let text = self.ident_text();
                return Ok(Tok::Ident {
                    text,
                    quoted: false,
                });
            }
            _ => return Err(syntax(pos, "unexpected character")),
        };
        self.i += len;
        Ok(tok)
    }

    fn ident_text(&mut self) -> String {
        let start = self.i;
        while let Some(c) = self.peek(0) {
            if c == b'_' || c.is_ascii_alphanumeric() {
                self.i += 1;
            } else {
                break;
            }
        }
        self.slice(start, self.i)
    }

    fn number(&mut self) -> Tok {
        let start = self.i;
        self.digits();
        if self.peek(0) == Some(b'.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
            self.digits();
        } else if self.peek(0) == Some(b'L') {
            let text = self.slice(start, self.i);
            self.i += 1;
            return Tok::Long(text);
        }
        Tok::Num(self.slice(start, self.i))
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    fn env(&mut self, pos: usize) -> Result<Tok> {
        self.i += 1;
        match self.peek(0) {
            Some(b'`') => self.quoted(b'`', pos).map(Tok::Env),
            Some(b'\'') => self.quoted(b'\'', pos).map(Tok::Env),
            Some(c) if c == b'_' || c.is_ascii_alphabetic() => Ok(Tok::Env(self.ident_text())),
            _ => Err(syntax(pos, "expected a name after '%'")),
        }
    }

    /// Reads a `'...'` or `` `...` `` literal with FHIRPath escapes.
    fn quoted(&mut self, quote: u8, pos: usize) -> Result<String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = self.src.get(self.i..).unwrap_or_default();
            let mut chars = rest.chars();
            let Some(ch) = chars.next() else {
                return Err(syntax(pos, "unterminated string or identifier"));
            };
            self.i += ch.len_utf8();
            if ch == char::from(quote) {
                return Ok(out);
            }
            if ch != '\\' {
                out.push(ch);
                continue;
            }
            let Some(esc) = chars.next() else {
                return Err(syntax(pos, "unterminated escape"));
            };
            self.i += esc.len_utf8();
            match esc {
                '\'' | '"' | '`' | '\\' | '/' => out.push(esc),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => out.push(self.unicode_escape(pos)?),
                _ => return Err(syntax(self.i - 1, "invalid escape sequence")),
            }
        }
    }

    fn unicode_escape(&mut self, pos: usize) -> Result<char> {
        let hex = self
            .src
            .get(self.i..self.i + 4)
            .ok_or_else(|| syntax(pos, "bad \\u escape"))?;
        let code = u32::from_str_radix(hex, 16).map_err(|_| syntax(pos, "bad \\u escape"))?;
        self.i += 4;
        char::from_u32(code).ok_or_else(|| syntax(pos, "bad \\u escape"))
    }

    /// `@` literals: `@YYYY(-MM(-DD)?)?(T time? tz?)?` or `@T time`.
    fn temporal(&mut self, pos: usize) -> Result<Tok> {
        self.i += 1;
        if self.peek(0) == Some(b'T') {
            self.i += 1;
            let start = self.i;
            if !self.time_part() {
                return Err(syntax(pos, "invalid time literal"));
            }
            return Ok(Tok::Time(self.slice(start, self.i)));
        }
        let start = self.i;
        if self.digits() != 4 {
            return Err(syntax(pos, "invalid date literal"));
        }
        for _ in 0..2 {
            if self.peek(0) == Some(b'-') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
                if self.digits() != 2 {
                    return Err(syntax(pos, "invalid date literal"));
                }
            } else {
                break;
            }
        }
        if self.peek(0) == Some(b'T') {
            self.i += 1;
            if self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                if !self.time_part() {
                    return Err(syntax(pos, "invalid date-time literal"));
                }
                self.timezone();
            }
        }
        Ok(Tok::DateTime(self.slice(start, self.i)))
    }

    /// `HH(:MM(:SS(.fff)?)?)?`; returns false if malformed.
    fn time_part(&mut self) -> bool {
        if self.digits() != 2 {
            return false;
        }
        for _ in 0..2 {
            if self.peek(0) == Some(b':') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
                if self.digits() != 2 {
                    return false;
                }
            } else {
                return true;
            }
        }
        if self.peek(0) == Some(b'.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
            self.digits();
        }
        true
    }

    fn timezone(&mut self) {
        match self.peek(0) {
            Some(b'Z') => self.i += 1,
            Some(b'+' | b'-') => {
                let ok = (1..=5).all(|k| {
                    let c = self.peek(k);
                    if k == 3 {
                        c == Some(b':')
                    } else {
                        c.is_some_and(|c| c.is_ascii_digit())
                    }
                });
                if ok {
                    self.i += 6;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_dots_and_dates() {
        assert_eq!(
            kinds("1.convertsToInteger()"),
            vec![
                Tok::Num("1".into()),
                Tok::Dot,
                Tok::Ident {
                    text: "convertsToInteger".into(),
                    quoted: false
                },
                Tok::LParen,
                Tok::RParen,
                Tok::Eof
            ]
        );
        assert_eq!(kinds("1.50")[0], Tok::Num("1.50".into()));
        assert_eq!(
            kinds("@2015-02-04T14:34:28.123+10:00")[0],
            Tok::DateTime("2015-02-04T14:34:28.123+10:00".into())
        );
        assert_eq!(
            kinds("@2015T.is(DateTime)")[0],
            Tok::DateTime("2015T".into())
        );
        assert_eq!(kinds("@2014-01-01T08:05-05:00.x")[1], Tok::Dot);
        assert_eq!(kinds("@T14:34")[0], Tok::Time("14:34".into()));
        assert_eq!(
            kinds("@2015-02.is(Date)")[0],
            Tok::DateTime("2015-02".into())
        );
    }

    #[test]
    fn strings_escapes_and_comments() {
        assert_eq!(kinds(r"'a\'b\u0065'")[0], Tok::Str("a'be".into()));
        assert_eq!(
            kinds("`div`")[0],
            Tok::Ident {
                text: "div".into(),
                quoted: true
            }
        );
        assert_eq!(kinds("2 // c\n/* x */ + 2").len(), 4);
        assert_eq!(kinds("%`vs-x`")[0], Tok::Env("vs-x".into()));
        assert_eq!(kinds("a != b !~ c <= d")[1], Tok::Ne);
    }

    #[test]
    fn errors_carry_positions() {
        let e = tokenize("1 + 'abc").unwrap_err();
        assert_eq!(e.position(), 4);
        let e = tokenize("2 + 2 /* open").unwrap_err();
        assert_eq!(e.code(), "FP-SYNTAX");
        assert_eq!(tokenize("a # b").unwrap_err().position(), 2);
        assert!(tokenize("'\\q'").is_err());
        assert!(tokenize("@20").is_err());
        assert!(tokenize("$").is_err());
    }
}
