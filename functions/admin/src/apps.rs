//! The admins' SMART apps (Part 4): apps of no organization, whose grants reach what
//! their users reach (an admin's backend app: every patient).

use axum::extract::State;
use serde_json::{Value, json};
use shared::audit::{Audit, Verdict};
use shared::auth::{Admin, Principal};
use shared::db::{Sql, Statement};
use shared::extract::Id;
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::FromRow;
use shared::records::app::{App, NewApp, parse_app};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

static CREATE: Sql = sql!("sql/apps_create.sql");
static LIST: Sql = sql!("sql/apps.sql");
static DELETE: Sql = sql!("sql/app_delete.sql");

pub async fn register(
    State(state): State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<App>, ApiError> {
    let app = parse_app(body)?;
    let row = create_statement(&admin, &meta, app).query_one(&state.db).await?;
    Ok(Reply::created("App registered; its client_id is its id.", App::from_row(&row)?))
}

fn create_statement(admin: &impl Principal, meta: &RequestMeta, app: NewApp) -> Statement {
    app.bound_into(Statement::new(&CREATE).acting_as(admin))
        .audit(meta, Audit::new("app.registered", "oauth_app").resource_from("(SELECT client_id FROM created)"))
        .reads(App::COLUMNS)
}

pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    mut query: Query,
) -> Result<Reply<PageOf<App>>, ApiError> {
    let page = query.page();
    query.finish()?;
    let rows = list_statement(&admin, &page).query(&state.db).await?;
    let apps = rows.iter().map(App::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Registered apps.", PageOf::new(&page, apps, |a| a.client_id)))
}

fn list_statement(admin: &impl Principal, page: &Page) -> Statement {
    Statement::new(&LIST).acting_as(admin).bind("after", page.after).bind("fetch", page.fetch()).reads(App::COLUMNS)
}

pub async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    Id(client_id): Id,
) -> Result<Reply<Value>, ApiError> {
    match delete_statement(&admin, &meta, client_id).query_opt(&state.db).await? {
        Some(_) => Ok(Reply::deleted("App deleted; its tokens no longer work.", json!({ "client_id": client_id }))),
        None => Err(ApiError::NotFound("No such app.".into())),
    }
}

fn delete_statement(admin: &impl Principal, meta: &RequestMeta, client_id: Uuid) -> Statement {
    Statement::new(&DELETE)
        .acting_as(admin)
        .bind("client_id", client_id)
        .audit(meta, Audit::new("app.deleted", "oauth_app").resource(client_id).outcome(Verdict::Found("deleted")))
        .reads(&[("id", Type::UUID)])
}

pub(crate) fn statements(admin: &impl Principal, meta: &RequestMeta) -> Vec<Statement> {
    vec![
        create_statement(admin, meta, NewApp::placeholder()),
        list_statement(admin, &Page::default()),
        delete_statement(admin, meta, Uuid::nil()),
    ]
}
