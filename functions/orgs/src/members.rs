//! An organization's members: the list (any member), role changes (owners) and removal
//! (owners remove anyone; anyone may leave). An organization always keeps an owner.

use axum::extract::State;
use serde_json::{Value, json};
use shared::access::Membership;
use shared::audit::{Audit, Verdict};
use shared::auth::Caller;
use shared::db::{Sql, Statement};
use shared::extract::{Id, Ids};
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::organization::{Member, parse_role};
use shared::records::{FromRow, column, present};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{CALLER_MANAGES, not_found, refused_in};

static LIST: Sql = sql!("sql/members.sql");
static ROLE: Sql = sql!("sql/member_role.sql");
static REMOVE: Sql = sql!("sql/member_remove.sql");

fn no_such_member() -> ApiError {
    ApiError::NotFound("No such member of this organization.".into())
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    mut query: Query,
) -> Result<Reply<PageOf<Member>>, ApiError> {
    let page = query.page();
    query.finish()?;
    let rows = list_statement(&caller, id, &page).query(&state.db).await?;
    if !rows.first().map(|row| column::<bool>(row, "member")).transpose()?.unwrap_or(false) {
        return Err(not_found());
    }
    let members: Vec<Member> = present(&rows, "user_id")?;
    Ok(Reply::success("Members found.", PageOf::new(&page, members, |m| m.user_id)))
}

fn list_statement(caller: &Caller, id: Uuid, page: &Page) -> Statement {
    Statement::new(&LIST)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .bind("id", id)
        .bind("after", page.after)
        .bind("fetch", page.fetch())
        .reads(Member::COLUMNS)
        .reads(&[("member", Type::BOOL)])
}

pub async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Ids(id, user_id): Ids,
    body: JsonObject,
) -> Result<Reply<Member>, ApiError> {
    let role = parse_role(body)?;
    let row = role_statement(&caller, &meta, id, user_id, role).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "user_id")?.is_some() {
        return Ok(Reply::updated("Member's role changed.", Member::from_row(&row)?));
    }
    Err(refused_in(&row, "change roles", no_such_member)?)
}

fn role_statement(caller: &Caller, meta: &RequestMeta, id: Uuid, user_id: Uuid, role: String) -> Statement {
    Statement::new(&ROLE)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .bind("id", id)
        .bind("user_id", user_id)
        .bind("role", role)
        .audit(
            meta,
            Audit::new("org.member_role_changed", "organization")
                .resource(id)
                .outcome(Verdict::Refused { done: "changed", target: "membership" }),
        )
        .reads(Member::COLUMNS)
        .reads(CALLER_MANAGES)
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Ids(id, user_id): Ids,
) -> Result<Reply<Value>, ApiError> {
    let row = remove_statement(&caller, &meta, id, user_id).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "user_id")?.is_some() {
        let message = if user_id == caller.id { "You left the organization." } else { "Member removed." };
        return Ok(Reply::deleted(message, json!({ "user_id": user_id })));
    }
    Err(refused_in(&row, "remove other members", no_such_member)?)
}

fn remove_statement(caller: &Caller, meta: &RequestMeta, id: Uuid, user_id: Uuid) -> Statement {
    Statement::new(&REMOVE)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .bind("id", id)
        .bind("user_id", user_id)
        .bind("leaving", user_id == caller.id)
        .audit(
            meta,
            Audit::new("org.member_removed", "organization")
                .resource(id)
                .outcome(Verdict::Refused { done: "removed", target: "membership" }),
        )
        .reads(CALLER_MANAGES)
        .reads(&[("user_id", Type::UUID)])
}

pub(crate) fn statements(caller: &Caller, meta: &RequestMeta) -> Vec<Statement> {
    let id = Uuid::nil();
    vec![
        list_statement(caller, id, &Page::default()),
        role_statement(caller, meta, id, id, String::new()),
        remove_statement(caller, meta, id, id),
    ]
}
