//! What the search interactions share: FHIR's paging parameters, exact-value
//! parameters, and the searchset Bundle whose `self` and `next` links are absolute URLs
//! a client follows as given.

use axum::http::Uri;
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use uuid::Uuid;

use crate::resources::{Bundle, BundleEntry, BundleLink, EntrySearch};

/// The cursor parameter of `next` links: opaque to clients, issued by this server.
const CURSOR: &str = "_cursor";

/// `_count` (1-100, default 20) and the cursor of a `next` link; and `_format`, which
/// some clients add: any spelling of JSON is what is served anyway, anything else (XML,
/// Turtle) is refused rather than answered in JSON.
pub fn page(query: &mut Query) -> Page {
    if let Some(format) = query.take("_format")
        && !["json", "application/json", "application/fhir+json"].contains(&format.as_str())
    {
        query.reject("_format", "only JSON is served: json, application/json or application/fhir+json");
    }
    query.page_named("_count", CURSOR)
}

/// A date parameter matched exactly: `YYYY-MM-DD`, or with FHIR's `eq` prefix. Other
/// prefixes (`lt`, `ge`, ...) and partial dates are refused rather than read as `eq`.
pub fn exact_date(query: &mut Query, name: &str) -> Option<time::Date> {
    let raw = query.take(name)?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(raw.strip_prefix("eq").unwrap_or(&raw), format) {
        Ok(date) => Some(date),
        Err(_) => {
            query.reject(name, "must be an exact date, YYYY-MM-DD (prefixes other than eq are not supported)");
            None
        }
    }
}

/// A token parameter that must be one of `allowed`.
pub fn token(query: &mut Query, name: &str, allowed: &'static [&'static str]) -> Option<&'static str> {
    let raw = query.take(name)?;
    let found = allowed.iter().copied().find(|a| *a == raw);
    if found.is_none() {
        query.reject(name, format!("must be one of: {}", allowed.join(", ")));
    }
    found
}

/// The request a searchset answers, for its links.
pub struct Searchset<'a> {
    /// `scheme://host`, as the client addressed the server.
    pub origin: &'a str,
    pub uri: &'a Uri,
    pub resource_type: &'static str,
}

impl Searchset<'_> {
    /// One page of matches. `rows` holds up to `page.fetch()` resources; the extra one
    /// only says that a `next` link is due.
    pub fn bundle<R>(&self, page: &Page, rows: Vec<R>, id_of: impl Fn(&R) -> Uuid) -> Bundle<R> {
        let PageOf { items, next_cursor } = PageOf::new(page, rows, &id_of);
        let mut link = vec![BundleLink { relation: "self", url: self.url(None) }];
        if let Some(cursor) = next_cursor {
            link.push(BundleLink { relation: "next", url: self.url(Some(&cursor)) });
        }
        let entry = items
            .into_iter()
            .map(|resource| BundleEntry {
                full_url: format!("{}/api/fhir/{}/{}", self.origin, self.resource_type, id_of(&resource)),
                resource,
                search: EntrySearch { mode: "match" },
            })
            .collect();
        Bundle { resource_type: "Bundle", kind: "searchset", link, entry }
    }

    /// This search's URL: the request's parameters as sent, with the cursor replaced.
    fn url(&self, cursor: Option<&str>) -> String {
        let query = self.uri.query().unwrap_or("");
        let mut params = form_urlencoded::Serializer::new(String::new());
        for (key, value) in form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != CURSOR) {
            params.append_pair(&key, &value);
        }
        if let Some(cursor) = cursor {
            params.append_pair(CURSOR, cursor);
        }
        let params = params.finish();
        let separator = if params.is_empty() { "" } else { "?" };
        format!("{}{}{separator}{params}", self.origin, self.uri.path())
    }
}
