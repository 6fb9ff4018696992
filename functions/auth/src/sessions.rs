//! `GET /api/auth/sessions`, `DELETE /api/auth/sessions/{id}`, `POST /api/auth/logout-all`:
//! a user's sessions (refresh-token families), and ending them. Ending a session is
//! immediate: its access tokens are refused by the session guard of the very next
//! statement they reach (see `shared::db::Statement::acting_as`).

use axum::extract::State;
use serde::Serialize;
use shared::audit::{Audit, Verdict};
use shared::auth::Caller;
use shared::db::{Column, Sql, Statement};
use shared::extract::Id;
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::{FromRow, Reader};
use shared::{ApiError, AppState, Reply, RequestMeta, sql};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

static LIST: Sql = sql!("sql/sessions_list.sql");
static REVOKE: Sql = sql!("sql/session_revoke.sql");
static LOGOUT_ALL: Sql = sql!("sql/logout_all.sql");

#[derive(Debug, Serialize)]
pub struct Session {
    id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    /// The session of the access token that asked.
    current: bool,
    /// The SMART app whose grant this is (null: a first-party sign-in).
    client_id: Option<Uuid>,
    client_name: Option<String>,
}

impl FromRow for Session {
    const COLUMNS: &'static [Column] = &[
        ("id", Type::UUID),
        ("created_at", Type::TIMESTAMPTZ),
        ("last_used_at", Type::TIMESTAMPTZ),
        ("expires_at", Type::TIMESTAMPTZ),
        ("current", Type::BOOL),
        ("client_id", Type::UUID),
        ("client_name", Type::TEXT),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        Ok(Self {
            id: row.get("id")?,
            created_at: row.get("created_at")?,
            last_used_at: row.get("last_used_at")?,
            expires_at: row.get("expires_at")?,
            current: row.get("current")?,
            client_id: row.get("client_id")?,
            client_name: row.get("client_name")?,
        })
    }
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    mut query: Query,
) -> Result<Reply<PageOf<Session>>, ApiError> {
    let page = query.page();
    query.finish()?;
    let rows = list_statement(&caller, &page).query(&state.db).await?;
    let sessions = rows.iter().map(Session::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Your live sessions.", PageOf::new(&page, sessions, |s| s.id)))
}

fn list_statement(caller: &Caller, page: &Page) -> Statement {
    Statement::new(&LIST)
        .acting_as(caller)
        .bind("after", page.after)
        .bind("fetch", page.fetch())
        .reads(Session::COLUMNS)
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<serde_json::Value>, ApiError> {
    let row = revoke_statement(&caller, &meta, id).query_opt(&state.db).await?;
    row.ok_or_else(|| ApiError::NotFound("No such session.".into()))?;
    Ok(Reply::deleted("Session ended.", serde_json::json!({ "id": id })))
}

fn revoke_statement(caller: &Caller, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&REVOKE)
        .acting_as(caller)
        .leaving_session_untouched()
        .bind("id", id)
        .audit(meta, Audit::new("auth.session_revoked", "session").resource(id).outcome(Verdict::Found("revoked")))
}

pub async fn logout_all(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
) -> Result<Reply<serde_json::Value>, ApiError> {
    logout_all_statement(&caller, &meta).execute(&state.db).await?;
    Ok(Reply::success("Signed out everywhere.", serde_json::Value::Null))
}

fn logout_all_statement(caller: &Caller, meta: &RequestMeta) -> Statement {
    Statement::new(&LOGOUT_ALL)
        .acting_as(caller)
        .leaving_session_untouched()
        .audit(meta, Audit::new("auth.session_revoked", "session").resource_from("id").for_each_row_of("revoked"))
}

pub(crate) fn statements(caller: &Caller, meta: &RequestMeta) -> Vec<Statement> {
    vec![
        list_statement(caller, &Page::default()),
        revoke_statement(caller, meta, Uuid::nil()),
        logout_all_statement(caller, meta),
    ]
}
