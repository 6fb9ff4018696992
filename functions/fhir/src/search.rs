//! What the search and history interactions share: FHIR's paging parameters, and the
//! Bundles (searchset, history) whose `self` and `next` links are absolute URLs a client
//! follows as given.

use axum::http::Uri;
use shared::pagination::{Keyset, Page, PageOf};
use shared::query::Query;
use uuid::Uuid;

use crate::resources::{
    AnyResource, Bundle, BundleEntry, BundleLink, EntryRequest, EntryResponse, EntrySearch, PatientResource,
    PractitionerResource,
};

/// The cursor parameter of `next` links: opaque to clients, issued by this server.
const CURSOR: &str = "_cursor";

/// `_count` (1-100, default 20) and the cursor of a `next` link; and `_format` and
/// `_pretty`, which some clients add: any spelling of JSON is what is served anyway,
/// anything else (XML, Turtle) is refused rather than answered in JSON; `_pretty` is
/// accepted and answers stay compact (whitespace is no part of a resource).
pub fn page<K: Keyset>(query: &mut Query) -> Page<K> {
    if let Some(format) = query.take("_format")
        && !["json", "application/json", "application/fhir+json"].contains(&format.as_str())
    {
        query.reject("_format", "only JSON is served: json, application/json or application/fhir+json");
    }
    if let Some(pretty) = query.take("_pretty")
        && !["true", "false"].contains(&pretty.as_str())
    {
        query.reject("_pretty", "must be true or false");
    }
    query.page_named("_count", CURSOR)
}

/// `_id=a,b,c`: at most 100 ids of FHIR's syntax; those that are not our UUIDs name
/// nothing.
pub fn ids(query: &mut Query, list: &str) -> Vec<Uuid> {
    let ids: Vec<&str> = list.split(',').collect();
    if ids.len() > 100 || ids.iter().any(|id| !crate::wire::is_fhir_id(id)) {
        query.reject("_id", "must be up to 100 comma-separated FHIR ids");
    }
    ids.iter().filter_map(|id| id.parse().ok()).collect()
}

/// `identifier=system|value` as (system, value): `value` alone matches it in any
/// system, `system|` any value of the system, `|value` the value without a system
/// (which no identifier of ours lacks).
pub type Criterion = (Option<String>, Option<String>);

pub fn criterion(raw: &str) -> Criterion {
    match raw.split_once('|') {
        None => (None, Some(raw.to_owned())),
        Some((system, value)) => (Some(system.to_owned()), (!value.is_empty()).then(|| value.to_owned())),
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

/// A version as a resource, with what its history entry says of it.
pub struct Versioned {
    pub version: i32,
    pub updated_at: time::OffsetDateTime,
    pub resource: PatientResource,
}

/// Which page a link names.
#[derive(Clone, Copy)]
enum Cursor<'a> {
    /// The page the request asked for (`self`).
    AsSent,
    Next(&'a str),
}

/// The request a Bundle answers, for its links.
pub struct Listing<'a> {
    /// `scheme://host`, as the client addressed the server.
    pub origin: &'a str,
    pub uri: &'a Uri,
    pub resource_type: &'static str,
}

impl Listing<'_> {
    /// One page of matches. `rows` holds up to `page.fetch()` resources; the extra one
    /// only says that a `next` link is due.
    pub fn bundle<R>(&self, page: &Page, rows: Vec<R>, id_of: impl Fn(&R) -> Uuid) -> Bundle<R> {
        let PageOf { items, next_cursor } = PageOf::new(page, rows, &id_of);
        let entry = items
            .into_iter()
            .map(|resource| BundleEntry {
                full_url: self.full_url(self.resource_type, id_of(&resource)),
                resource,
                search: Some(EntrySearch { mode: "match" }),
                request: None,
                response: None,
            })
            .collect();
        self.set("searchset", next_cursor, entry)
    }

    /// A Patient search's page: its matches, then the Practitioners an `_include`
    /// brought in (`search.mode` `include`).
    pub fn with_included(
        &self,
        page: &Page,
        matches: Vec<PatientResource>,
        included: Vec<PractitionerResource>,
    ) -> Bundle<AnyResource> {
        let mut bundle = self.bundle(page, matches, |p| p.id);
        let entry = |e: BundleEntry<PatientResource>| BundleEntry {
            full_url: e.full_url,
            resource: AnyResource::Patient(Box::new(e.resource)),
            search: e.search,
            request: None,
            response: None,
        };
        let mut entries: Vec<_> = std::mem::take(&mut bundle.entry).into_iter().map(entry).collect();
        entries.extend(included.into_iter().map(|p| BundleEntry {
            full_url: self.full_url("Practitioner", p.id),
            resource: AnyResource::Practitioner(Box::new(p)),
            search: Some(EntrySearch { mode: "include" }),
            request: None,
            response: None,
        }));
        Bundle {
            resource_type: bundle.resource_type,
            kind: bundle.kind,
            total: None,
            link: bundle.link,
            entry: entries,
        }
    }

    /// `_summary=count`: how many match, and no entries.
    pub fn count<R>(&self, total: i64) -> Bundle<R> {
        Bundle { total: Some(total), ..self.set("searchset", None, Vec::new()) }
    }

    /// One page of a patient's versions, newest first: each entry the interaction that
    /// made it (version 1 a create, every other an update) and what it answered.
    pub fn history(&self, page: &Page<i32>, id: Uuid, rows: Vec<Versioned>) -> Bundle<PatientResource> {
        let PageOf { items, next_cursor } = PageOf::new(page, rows, |v| v.version);
        let entry = items
            .into_iter()
            .map(|v| {
                let (method, url, status) = match v.version {
                    1 => ("POST", "Patient".to_owned(), "201 Created"),
                    _ => ("PUT", format!("Patient/{id}"), "200 OK"),
                };
                BundleEntry {
                    full_url: self.full_url("Patient", id),
                    resource: v.resource,
                    search: None,
                    request: Some(EntryRequest { method, url }),
                    response: Some(EntryResponse {
                        status,
                        etag: format!("W/\"{}\"", v.version),
                        last_modified: v.updated_at,
                    }),
                }
            })
            .collect();
        self.set("history", next_cursor, entry)
    }

    fn set<R>(&self, kind: &'static str, next_cursor: Option<String>, entry: Vec<BundleEntry<R>>) -> Bundle<R> {
        let mut link = vec![BundleLink { relation: "self", url: self.url(Cursor::AsSent) }];
        if let Some(cursor) = next_cursor {
            link.push(BundleLink { relation: "next", url: self.url(Cursor::Next(&cursor)) });
        }
        Bundle { resource_type: "Bundle", kind, total: None, link, entry }
    }

    pub fn full_url(&self, resource_type: &str, id: Uuid) -> String {
        format!("{}/api/fhir/{resource_type}/{id}", self.origin)
    }

    /// This search's URL: the request's parameters as sent, its own cursor (`self`: this
    /// page) or the next page's in its place.
    fn url(&self, cursor: Cursor) -> String {
        let query = self.uri.query().unwrap_or("");
        let mut params = form_urlencoded::Serializer::new(String::new());
        let keeps = |key: &str| key != CURSOR || matches!(cursor, Cursor::AsSent);
        for (key, value) in form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| keeps(k)) {
            params.append_pair(&key, &value);
        }
        if let Cursor::Next(cursor) = cursor {
            params.append_pair(CURSOR, cursor);
        }
        let params = params.finish();
        let separator = if params.is_empty() { "" } else { "?" };
        format!("{}{}{separator}{params}", self.origin, self.uri.path())
    }
}
