//! `Query`: the extractor for query strings. Like bodies, query parameters are strict:
//! an unknown, repeated or malformed parameter is 400 `invalid` naming it, so a typo
//! such as `?limt=5` is reported instead of silently ignored.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::ApiError;
use crate::error::FieldError;
use crate::pagination::Page;

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
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut invalid = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            if pairs.iter().any(|(k, _)| *k == key) {
                if !invalid.iter().any(|e: &FieldError| e.field == key) {
                    invalid.push(FieldError::new(key.as_ref(), "is given more than once"));
                }
                continue;
            }
            pairs.push((key.into_owned(), value.into_owned()));
        }
        Self { pairs, invalid }
    }

    /// Removes and returns a parameter's value.
    pub fn take(&mut self, name: &str) -> Option<String> {
        let index = self.pairs.iter().position(|(k, _)| k == name)?;
        Some(self.pairs.swap_remove(index).1)
    }

    pub fn reject(&mut self, name: &str, message: impl Into<String>) {
        self.invalid.push(FieldError::new(name, message));
    }

    /// `limit` and `cursor`, present in every list.
    pub fn page(&mut self) -> Page {
        self.page_named("limit", "cursor")
    }

    /// `page`, under other parameter names.
    pub fn page_named(&mut self, limit: &str, cursor: &str) -> Page {
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
        self.text(name, max).map(|q| {
            let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        })
    }

    pub fn uuid(&mut self, name: &str) -> Option<uuid::Uuid> {
        let value = self.take(name)?;
        value.parse().map_err(|_| self.reject(name, "must be a UUID")).ok()
    }

    /// Fails on anything malformed or not taken.
    pub fn finish(mut self) -> Result<(), ApiError> {
        for (key, _) in std::mem::take(&mut self.pairs) {
            self.invalid.push(FieldError::new(key, "is not a known query parameter"));
        }
        if self.invalid.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid { message: "Some query parameters are invalid.".into(), errors: self.invalid })
        }
    }
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
