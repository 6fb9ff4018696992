//! `Query`: the extractor for query strings. Like bodies, query parameters are strict:
//! an unknown, repeated or malformed parameter is 400 `invalid` naming it, so a typo
//! such as `?limt=5` is reported instead of silently ignored.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::ApiError;
use crate::error::FieldError;
use crate::pagination::{Keyset, Page};

pub struct Query {
    pairs: Vec<(String, String)>,
    invalid: Vec<FieldError>,
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Query::parse(parts.uri.query().unwrap_or("")))
    }
}

impl Query {
    pub fn parse(raw: &str) -> Self {
        let pairs = form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        Self { pairs, invalid: Vec::new() }
    }

    /// Removes and returns a parameter's value; given more than once, it is refused.
    pub fn take(&mut self, name: &str) -> Option<String> {
        let mut values = self.take_all(name);
        if values.len() > 1 {
            self.reject(name, "is given more than once");
            return None;
        }
        values.pop()
    }

    /// Removes and returns every value of a parameter that may repeat (FHIR ANDs them).
    pub fn take_all(&mut self, name: &str) -> Vec<String> {
        let (taken, rest) = std::mem::take(&mut self.pairs).into_iter().partition(|(k, _)| k == name);
        self.pairs = rest;
        taken.into_iter().map(|(_, v)| v).collect()
    }

    pub fn reject(&mut self, name: &str, message: impl Into<String>) {
        self.invalid.push(FieldError::new(name, message));
    }

    /// `limit` and `cursor`, present in every list.
    pub fn page(&mut self) -> Page {
        self.page_named("limit", "cursor")
    }

    /// `page`, under other parameter names, or over another key.
    pub fn page_named<K: Keyset>(&mut self, limit: &str, cursor: &str) -> Page<K> {
        let (limit_value, cursor_value) = (self.take(limit), self.take(cursor));
        match Page::parse_named((limit, limit_value.as_deref()), (cursor, cursor_value.as_deref())) {
            Ok(page) => page,
            Err(errors) => {
                self.invalid.extend(errors);
                Page::default()
            }
        }
    }

    /// A free-text filter of at most `max` characters; empty counts as absent.
    pub fn text(&mut self, name: &str, max: usize) -> Option<String> {
        let value = self.take(name)?;
        if value.chars().count() > max {
            self.reject(name, format!("must be at most {max} characters"));
            return None;
        }
        if value.chars().any(char::is_control) {
            self.reject(name, "must not contain control characters");
            return None;
        }
        Some(value).filter(|v| !v.is_empty())
    }

    /// A case-insensitive "contains" filter as an ILIKE pattern, in which the client's
    /// `%`, `_` and `\\` match only themselves.
    pub fn contains(&mut self, name: &str, max: usize) -> Option<String> {
        self.text(name, max).map(|q| contains_pattern(&q))
    }

    pub fn uuid(&mut self, name: &str) -> Option<uuid::Uuid> {
        let value = self.take(name)?;
        value.parse().map_err(|_| self.reject(name, "must be a UUID")).ok()
    }

    /// Fails on anything malformed or not taken.
    pub fn finish(mut self) -> Result<(), ApiError> {
        for (key, _) in std::mem::take(&mut self.pairs) {
            if !self.invalid.iter().any(|e| e.field == key) {
                self.invalid.push(FieldError::new(key, "is not a known query parameter"));
            }
        }
        if self.invalid.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid { message: "Some query parameters are invalid.".into(), errors: self.invalid })
        }
    }
}

/// The ILIKE pattern of "contains `text`".
pub fn contains_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_repeated_parameters_are_named() {
        let mut q = Query::parse("limit=5&limt=3&q=a&q=b");
        let page = q.page();
        assert_eq!(page.limit, 5);
        let Err(ApiError::Invalid { errors, .. }) = q.finish() else { panic!("expected invalid") };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"q") && fields.contains(&"limt"), "{fields:?}");
    }

    #[test]
    fn contains_patterns_escape_wildcards() {
        let mut q = Query::parse("q=50%25_off%5C");
        assert_eq!(q.contains("q", 100).as_deref(), Some("%50\\%\\_off\\\\%"));
    }

    #[test]
    fn text_filters_are_decoded_and_bounded() {
        let mut q = Query::parse("q=J%C3%BCrgen+M");
        assert_eq!(q.text("q", 100).as_deref(), Some("Jürgen M"));
        q.finish().unwrap();
        let mut q = Query::parse(&format!("q={}", "x".repeat(101)));
        assert_eq!(q.text("q", 100), None);
        assert!(q.finish().is_err());
    }
}
