//! The organization's SMART apps (Part 4): registered, listed and deleted by a member
//! whose role manages the organization. Deleting an app deletes its grants, so its
//! tokens stop on the next request (the session check, migrations/0010).

use axum::extract::State;
use serde_json::{Value, json};
use shared::access::Membership;
use shared::audit::{Audit, Verdict};
use shared::auth::Caller;
use shared::db::{Sql, Statement};
use shared::extract::{Id, Ids};
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::app::{App, NewApp, parse_app};
use shared::records::{FromRow, column, present};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use uuid::Uuid;

use crate::{CALLER_MANAGES, refused, refused_in};

static CREATE: Sql = sql!("sql/apps_create.sql");
static LIST: Sql = sql!("sql/apps.sql");
static DELETE: Sql = sql!("sql/app_delete.sql");

pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Id(id): Id,
    body: JsonObject,
) -> Result<Reply<App>, ApiError> {
    let app = parse_app(body)?;
    let row = create_statement(&caller, &meta, id, app).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "client_id")?.is_none() {
        return Err(refused(column(&row, "caller_role")?, "register apps"));
    }
    Ok(Reply::created("App registered; its client_id is its id.", App::from_row(&row)?))
}

fn create_statement(caller: &Caller, meta: &RequestMeta, id: Uuid, app: NewApp) -> Statement {
    let statement = Statement::new(&CREATE).acting_as(caller).in_organization(Membership::Of("id")).bind("id", id);
    app.bound_into(statement)
        .audit(
            meta,
            Audit::new("app.registered", "oauth_app")
                .resource_from("(SELECT client_id FROM created)")
                .outcome(Verdict::Refused { done: "created", target: "membership" }),
        )
        .reads(App::COLUMNS)
        .reads(CALLER_MANAGES)
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    mut query: Query,
) -> Result<Reply<PageOf<App>>, ApiError> {
    let page = query.page();
    query.finish()?;
    let rows = list_statement(&caller, id, &page).query(&state.db).await?;
    let Some(first) = rows.first() else { return Err(ApiError::internal("apps.sql answered no row")) };
    if column::<Option<bool>>(first, "caller_manages")? != Some(true) {
        return Err(refused(column(first, "caller_role")?, "see its apps"));
    }
    let apps: Vec<App> = present(&rows, "client_id")?;
    Ok(Reply::success("Registered apps.", PageOf::new(&page, apps, |a| a.client_id)))
}

fn list_statement(caller: &Caller, id: Uuid, page: &Page) -> Statement {
    Statement::new(&LIST)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .bind("id", id)
        .bind("after", page.after)
        .bind("fetch", page.fetch())
        .reads(App::COLUMNS)
        .reads(CALLER_MANAGES)
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Ids(id, client_id): Ids,
) -> Result<Reply<Value>, ApiError> {
    let row = delete_statement(&caller, &meta, id, client_id).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_some() {
        return Ok(Reply::deleted("App deleted; its tokens no longer work.", json!({ "client_id": client_id })));
    }
    Err(refused_in(&row, "delete apps", || ApiError::NotFound("No such app in this organization.".into()))?)
}

fn delete_statement(caller: &Caller, meta: &RequestMeta, id: Uuid, client_id: Uuid) -> Statement {
    Statement::new(&DELETE)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .bind("id", id)
        .bind("client_id", client_id)
        .audit(
            meta,
            Audit::new("app.deleted", "oauth_app")
                .resource(client_id)
                .outcome(Verdict::Refused { done: "deleted", target: "membership" }),
        )
        .reads(&[("id", tokio_postgres::types::Type::UUID)])
        .reads(CALLER_MANAGES)
}

pub(crate) fn statements(caller: &Caller, meta: &RequestMeta) -> Vec<Statement> {
    let id = Uuid::nil();
    vec![
        create_statement(caller, meta, id, NewApp::placeholder()),
        list_statement(caller, id, &Page::default()),
        delete_statement(caller, meta, id, id),
    ]
}
