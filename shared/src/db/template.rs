//! Reading a statement template: where its `:name` parameters are, and where its list of
//! common table expressions ends (so the audit CTE can be composed in after them).
//!
//! A small scanner, not a parser: it knows just enough SQL to skip what must not be
//! read as a parameter - string literals, quoted identifiers, comments and `::` casts -
//! and to walk the top-level `WITH name AS (...), ...` list. It refuses positional `$n`
//! parameters, so a template cannot mix the two styles. Dollar-quoted strings are not
//! understood; templates have no use for them (function bodies live in migrations).

use std::ops::Range;

/// What a template holds, as byte offsets into its text.
#[derive(Debug, PartialEq, Eq)]
pub struct Scan<'t> {
    /// Each `:name` occurrence: its span (colon included) and the name.
    pub params: Vec<(Range<usize>, &'t str)>,
    /// Just after the leading `WITH` keyword, and just after the closing parenthesis of
    /// the last top-level CTE; `None` when the template has no `WITH` list.
    pub ctes: Option<(usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Word(usize, usize),
    Open,
    Close(usize),
    Comma,
    Other,
}

pub fn scan(text: &str) -> Result<Scan<'_>, String> {
    let bytes = text.as_bytes();
    let mut params = Vec::new();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' | b'"' => i = skip_quoted(bytes, i)?,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..].iter().position(|&c| c == b'\n').map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map(|n| i + 2 + n + 2).ok_or("unterminated /* comment")?;
            }
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                return Err(format!("positional parameter at byte {i}: name it (:name) instead"));
            }
            b':' if bytes.get(i + 1) == Some(&b':') => {
                tokens.push(Token::Other);
                i += 2;
            }
            b':' if bytes.get(i + 1).is_some_and(|c| c.is_ascii_lowercase() || *c == b'_') => {
                let end = word_end(bytes, i + 1);
                params.push((i..end, &text[i + 1..end]));
                tokens.push(Token::Other);
                i = end;
            }
            b'(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            b')' => {
                tokens.push(Token::Close(i + 1));
                i += 1;
            }
            b',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let end = word_end(bytes, i);
                tokens.push(Token::Word(i, end));
                i = end;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                tokens.push(Token::Other);
                i += 1;
            }
        }
    }
    let ctes = ctes(text, &tokens)?;
    Ok(Scan { params, ctes })
}

fn word_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().position(|c| !(c.is_ascii_alphanumeric() || *c == b'_')).map_or(bytes.len(), |n| from + n)
}

/// Past the closing quote of the literal or identifier starting at `start` (a doubled
/// quote inside is an escaped one, which the loop handles by reopening).
fn skip_quoted(bytes: &[u8], start: usize) -> Result<usize, String> {
    let quote = bytes[start];
    let mut i = start + 1;
    loop {
        match bytes[i..].iter().position(|&c| c == quote) {
            None => return Err(format!("unterminated quote starting at byte {start}")),
            Some(n) if bytes.get(i + n + 1) == Some(&quote) => i += n + 2,
            Some(n) => return Ok(i + n + 1),
        }
    }
}

/// Walks `WITH a AS (...), b AS [NOT] [MATERIALIZED] (...)` and returns the end of
/// `WITH` and of the last `)`.
fn ctes(text: &str, tokens: &[Token]) -> Result<Option<(usize, usize)>, String> {
    let word = |t: Option<&Token>| match t {
        Some(Token::Word(s, e)) => Some(text[*s..*e].to_ascii_lowercase()),
        _ => None,
    };
    let with_end = match tokens.first() {
        Some(Token::Word(_, end)) if word(tokens.first()).as_deref() == Some("with") => *end,
        _ => return Ok(None),
    };
    let mut i = 1;
    loop {
        if word(tokens.get(i)).is_none() || word(tokens.get(i + 1)).as_deref() != Some("as") {
            return Err("WITH must be followed by `name AS (...)`".into());
        }
        i += 2;
        while matches!(word(tokens.get(i)).as_deref(), Some("not" | "materialized")) {
            i += 1;
        }
        if tokens.get(i) != Some(&Token::Open) {
            return Err("a CTE's body must be in parentheses".into());
        }
        let mut depth = 0usize;
        let end = loop {
            match tokens.get(i) {
                Some(Token::Open) => depth += 1,
                Some(Token::Close(end)) => {
                    depth -= 1;
                    if depth == 0 {
                        break *end;
                    }
                }
                Some(_) => {}
                None => return Err("unbalanced parentheses in the WITH list".into()),
            }
            i += 1;
        };
        i += 1;
        if tokens.get(i) != Some(&Token::Comma) {
            return Ok(Some((with_end, end)));
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<&str> {
        scan(text).unwrap().params.into_iter().map(|(_, n)| n).collect()
    }

    #[test]
    fn finds_named_parameters_but_not_casts_strings_or_comments() {
        let sql = "SELECT :a::uuid, ':no', \"x:no\", $$ -- :no\n /* :no */ FROM t WHERE b = :b_2 AND c[1:2] = :a";
        assert_eq!(names(sql), ["a", "b_2", "a"]);
        assert_eq!(names("SELECT 'it''s :no', :yes"), ["yes"]);
    }

    #[test]
    fn refuses_positional_parameters_and_unterminated_text() {
        assert!(scan("SELECT $1").unwrap_err().contains("positional"));
        assert!(scan("SELECT 'open").is_err());
        assert!(scan("SELECT /* open").is_err());
    }

    #[test]
    fn finds_the_end_of_the_cte_list() {
        let sql = "WITH a AS (SELECT (1)), b AS MATERIALIZED (SELECT ')' FROM a) SELECT (SELECT 1), * FROM b";
        let (with_end, end) = scan(sql).unwrap().ctes.unwrap();
        assert_eq!(&sql[..with_end], "WITH");
        assert_eq!(&sql[..end], "WITH a AS (SELECT (1)), b AS MATERIALIZED (SELECT ')' FROM a)");
        assert_eq!(scan("SELECT 1 FROM (SELECT 2) AS x").unwrap().ctes, None);
        assert_eq!(scan("with x as (select 1) select * from x").unwrap().ctes, Some((4, 20)));
        assert!(scan("WITH a (SELECT 1) SELECT 1").is_err());
    }
}
