//! Keyset pagination. Lists are ordered newest first by `id` (UUIDv7, so id order is
//! creation order) and a page asks for rows with `id < cursor`: no OFFSET, so a page
//! costs the same at any depth and rows inserted meanwhile neither repeat nor vanish.
//! The cursor is the last row's id, base64url-encoded: opaque to clients, who must not
//! build their own. A list ordered by something else (a patient's versions, by
//! number) pages the same way on its own key (`Keyset`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use uuid::Uuid;

use crate::error::FieldError;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// What a list is ordered by, descending, and its cursor carries.
pub trait Keyset: Copy {
    fn to_bytes(self) -> Vec<u8>;
    fn from_bytes(bytes: &[u8]) -> Option<Self>;
}

impl Keyset for Uuid {
    fn to_bytes(self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Uuid::from_slice(bytes).ok()
    }
}

/// A version number (positive).
impl Keyset for i32 {
    fn to_bytes(self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(i32::from_be_bytes(bytes.try_into().ok()?)).filter(|v| *v > 0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page<K = Uuid> {
    pub limit: i64,
    /// Return rows strictly below this key.
    pub after: Option<K>,
}

impl<K> Default for Page<K> {
    fn default() -> Self {
        Self { limit: DEFAULT_LIMIT, after: None }
    }
}

impl Page {
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, Vec<FieldError>> {
        Self::parse_named(("limit", limit), ("cursor", cursor))
    }
}

impl<K: Keyset> Page<K> {
    /// `parse`, for an API whose parameters have other names (FHIR's `_count`).
    pub fn parse_named(
        (limit_name, limit): (&str, Option<&str>),
        (cursor_name, cursor): (&str, Option<&str>),
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    errors.push(FieldError::new(limit_name, format!("must be a whole number from 1 to {MAX_LIMIT}")));
                    DEFAULT_LIMIT
                }
            },
        };
        let after = match cursor {
            None | Some("") => None,
            Some(raw) => match decode_cursor::<K>(raw) {
                Some(id) => Some(id),
                None => {
                    errors.push(FieldError::new(cursor_name, "is not a cursor this API issued"));
                    None
                }
            },
        };
        if errors.is_empty() { Ok(Page { limit, after }) } else { Err(errors) }
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

/// One page of a list, as `data` of a list response.
#[derive(Debug, Serialize)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> PageOf<T> {
    /// `rows` were fetched with `LIMIT page.fetch()`, newest first.
    pub fn new<K: Keyset>(page: &Page<K>, mut rows: Vec<T>, id_of: impl Fn(&T) -> K) -> Self {
        let more = rows.len() as i64 > page.limit;
        rows.truncate(page.limit as usize);
        let next_cursor = if more { rows.last().map(|row| encode_cursor(id_of(row))) } else { None };
        Self { items: rows, next_cursor }
    }
}

pub fn encode_cursor(key: impl Keyset) -> String {
    URL_SAFE_NO_PAD.encode(key.to_bytes())
}

fn decode_cursor<K: Keyset>(raw: &str) -> Option<K> {
    K::from_bytes(&URL_SAFE_NO_PAD.decode(raw).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(Page::parse(None, None).unwrap().limit, 20);
        assert_eq!(Page::parse(Some("100"), None).unwrap().limit, 100);
        for bad in ["0", "101", "-1", "1.5", "ten", ""] {
            assert_eq!(Page::parse(Some(bad), None).unwrap_err()[0].field, "limit", "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(Page::parse(None, Some(&encode_cursor(id))).unwrap().after, Some(id));
        for bad in ["!!", "AAAA", "not a cursor"] {
            assert_eq!(Page::parse(None, Some(bad)).unwrap_err()[0].field, "cursor", "{bad}");
        }
    }

    #[test]
    fn version_cursors_round_trip_and_others_are_refused() {
        let parse = |cursor: &str| Page::<i32>::parse_named(("limit", None), ("cursor", Some(cursor)));
        assert_eq!(parse(&encode_cursor(7)).unwrap().after, Some(7));
        for bad in [encode_cursor(0), encode_cursor(-3), encode_cursor(Uuid::now_v7())] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn next_cursor_only_when_more_rows_exist() {
        let page = Page { limit: 2, after: None };
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let full = PageOf::new(&page, ids.clone(), |id| *id);
        assert_eq!(full.items.len(), 2);
        assert_eq!(full.next_cursor, Some(encode_cursor(ids[1])));
        let last = PageOf::new(&page, ids[..2].to_vec(), |id| *id);
        assert_eq!(last.next_cursor, None);
    }
}
