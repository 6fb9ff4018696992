//! The organizations function: `/api/orgs`. A clinic's staff share its patients through
//! their memberships; this function keeps the organizations, their members (`members`)
//! and invitations (`invitations`). Who may do what comes from the `membership` piece
//! each statement composes (`shared::access`): a non-member finds nothing (404), a
//! member whose role does not allow it is refused (403).

mod apps;
mod invitations;
mod members;
mod oversight;

use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get, post, put};
use shared::access::Membership;
use shared::audit::{Audit, Verdict};
use shared::auth::{Caller, Role};
use shared::db::{Sql, Statement};
use shared::extract::Id;
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::organization::{Organization, parse_name};
use shared::records::{FromRow, column};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

const COLLECTION: &str = "/api/orgs";
const ITEM: &str = "/api/orgs/{id}";
const MEMBERS: &str = "/api/orgs/{id}/members";
const MEMBER: &str = "/api/orgs/{id}/members/{user_id}";
const INVITATIONS: &str = "/api/orgs/{id}/invitations";
const INVITATION: &str = "/api/orgs/{id}/invitations/{invitation_id}";
const ACCEPT: &str = "/api/orgs/invitations/accept";
const AUDIT: &str = "/api/orgs/{id}/audit";
const GRANTS: &str = "/api/orgs/{id}/emergency-access";
const GRANT: &str = "/api/orgs/{id}/emergency-access/{grant_id}";
const APPS: &str = "/api/orgs/{id}/apps";
const APP: &str = "/api/orgs/{id}/apps/{client_id}";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] =
    &[COLLECTION, ITEM, MEMBERS, MEMBER, INVITATIONS, INVITATION, ACCEPT, AUDIT, GRANTS, GRANT, APPS, APP];

static CREATE: Sql = sql!("sql/create.sql");
static LIST: Sql = sql!("sql/list.sql");
static READ: Sql = sql!("sql/read.sql");
static UPDATE: Sql = sql!("sql/update.sql");

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(COLLECTION, get(list).post(create))
        .route(ITEM, get(read).put(update))
        .route(MEMBERS, get(members::list))
        .route(MEMBER, put(members::change_role).delete(members::remove))
        .route(INVITATIONS, get(invitations::list).post(invitations::invite))
        .route(INVITATION, delete(invitations::withdraw))
        .route(ACCEPT, post(invitations::accept))
        .route(AUDIT, get(oversight::audit))
        .route(GRANTS, get(oversight::grants))
        .route(GRANT, put(oversight::review))
        .route(APPS, get(apps::list).post(apps::register))
        .route(APP, delete(apps::remove))
        .with_state(state)
}

fn not_found() -> ApiError {
    ApiError::NotFound("No such organization.".into())
}

/// Why a statement over one organization changed nothing: not a member (404), or a
/// member whose role does not allow it (403).
fn refused(caller_role: Option<String>, what: &str) -> ApiError {
    match caller_role {
        None => not_found(),
        Some(role) => {
            ApiError::Forbidden(format!("A {} of this organization cannot {what}.", role.replace('_', " ")).into())
        }
    }
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<Organization>, ApiError> {
    let name = parse_name(body)?;
    let row = create_statement(&caller, &meta, name).query_one(&state.db).await?;
    Ok(Reply::created("Organization created; you are its owner.", Organization::from_row(&row)?))
}

fn create_statement(caller: &Caller, meta: &RequestMeta, name: String) -> Statement {
    Statement::new(&CREATE)
        .acting_as(caller)
        .bind("name", name)
        .audit(
            meta,
            Audit::new("org.created", "organization")
                .resource_from("(SELECT id FROM created)")
                .organization_from("(SELECT id FROM created)"),
        )
        .reads(Organization::COLUMNS)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    mut query: Query,
) -> Result<Reply<PageOf<Organization>>, ApiError> {
    let page = query.page();
    query.finish()?;
    let rows = list_statement(&caller, &page).query(&state.db).await?;
    let organizations = rows.iter().map(Organization::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Organizations found.", PageOf::new(&page, organizations, |o| o.id)))
}

pub fn list_statement(caller: &Caller, page: &Page) -> Statement {
    Statement::new(&LIST)
        .acting_as(caller)
        .in_organization(Membership::All)
        .bind("after", page.after)
        .bind("fetch", page.fetch())
        .reads(Organization::COLUMNS)
}

async fn read(State(state): State<AppState>, caller: Caller, Id(id): Id) -> Result<Reply<Organization>, ApiError> {
    let row = read_statement(&caller, id).query_opt(&state.db).await?.ok_or_else(not_found)?;
    Ok(Reply::success("Organization found.", Organization::from_row(&row)?))
}

pub fn read_statement(caller: &Caller, id: Uuid) -> Statement {
    Statement::new(&READ)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .bind("id", id)
        .reads(Organization::COLUMNS)
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Id(id): Id,
    body: JsonObject,
) -> Result<Reply<Organization>, ApiError> {
    let name = parse_name(body)?;
    let row = update_statement(&caller, &meta, id, name).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_none() {
        return Err(refused(column(&row, "caller_role")?, "rename it"));
    }
    Ok(Reply::updated("Organization updated.", Organization::from_row(&row)?))
}

fn update_statement(caller: &Caller, meta: &RequestMeta, id: Uuid, name: String) -> Statement {
    Statement::new(&UPDATE)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .bind("id", id)
        .bind("name", name)
        .audit(
            meta,
            Audit::new("org.updated", "organization")
                .resource(id)
                .outcome(Verdict::Refused { done: "updated", target: "membership" }),
        )
        .reads(Organization::COLUMNS)
        .reads(CALLER_ROLE)
}

/// The records of a page whose statement always answers one row (NULLs past the last
/// record, so the caller's role comes back with an empty page too): the rows whose
/// `key` is set.
/// What a refused statement answers: the caller's role, if a member.
const CALLER_ROLE: &[shared::db::Column] = &[("caller_role", Type::TEXT)];
/// And whether that role manages the organization.
const CALLER_MANAGES: &[shared::db::Column] = &[("caller_role", Type::TEXT), ("caller_manages", Type::BOOL)];

/// Why a manager's statement over one thing of the organization changed nothing: the
/// thing is missing (`missing`, for a manager), or the caller is refused (`refused`).
fn refused_in(row: &tokio_postgres::Row, what: &str, missing: fn() -> ApiError) -> Result<ApiError, ApiError> {
    Ok(match column::<Option<bool>>(row, "caller_manages")? {
        Some(true) => missing(),
        _ => refused(column(row, "caller_role")?, what),
    })
}

/// Every statement this function issues, built as its handlers build them (with
/// placeholder values), for the test that prepares each against the schema.
pub fn statements() -> Vec<Statement> {
    let (caller, meta, id) = (Caller::placeholder(Role::User), RequestMeta::placeholder(), Uuid::nil());
    let mut all = vec![
        create_statement(&caller, &meta, String::new()),
        list_statement(&caller, &Page::default()),
        read_statement(&caller, id),
        update_statement(&caller, &meta, id, String::new()),
    ];
    all.extend(members::statements(&caller, &meta));
    all.extend(invitations::statements(&caller, &meta));
    all.extend(oversight::statements(&caller, &meta));
    all.extend(apps::statements(&caller, &meta));
    all
}
