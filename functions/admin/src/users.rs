//! Users and their roles. A role change reaches the user at their next token refresh
//! (access tokens are stateless and live 15 minutes by default).

use axum::extract::State;
use shared::audit::{Audit, Verdict};
use shared::auth::{Admin, Principal, Role};
use shared::db::{Sql, Statement};
use shared::extract::Id;
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::user::{Status, User};
use shared::records::{FromRow, column};
use shared::validate::{Form, one_of};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

static LIST: Sql = sql!("sql/users_list.sql");
static READ: Sql = sql!("sql/user_read.sql");
static CHANGE_ROLE: Sql = sql!("sql/user_role.sql");
static CHANGE_STATUS: Sql = sql!("sql/user_status.sql");

/// Lists users newest first; `q` matches name or email, `role` is exact.
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    mut query: Query,
) -> Result<Reply<PageOf<User>>, ApiError> {
    let page = query.page();
    let text = query.contains("q", 254);
    let role = query.take("role");
    if role.as_deref().is_some_and(|r| r != "admin" && r != "user") {
        query.reject("role", "must be one of: admin, user");
    }
    query.finish()?;
    let rows = list_statement(&admin, &meta, &page, text, role).query(&state.db).await?;
    let users = rows.iter().map(User::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Users found.", PageOf::new(&page, users, |u| u.id)))
}

fn list_statement(
    admin: &impl Principal,
    meta: &RequestMeta,
    page: &Page,
    text: Option<String>,
    role: Option<String>,
) -> Statement {
    Statement::new(&LIST)
        .acting_as(admin)
        .bind("after", page.after)
        .bind("text", text)
        .bind("role", role)
        .bind("fetch", page.fetch())
        .audit(meta, Audit::new("user.list", "user"))
        .reads(User::COLUMNS)
}

pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<User>, ApiError> {
    let row = read_statement(&admin, &meta, id).query_opt(&state.db).await?;
    let row = row.ok_or_else(no_such_user)?;
    Ok(Reply::success("User found.", User::from_row(&row)?))
}

fn read_statement(admin: &impl Principal, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&READ)
        .acting_as(admin)
        .bind("id", id)
        .audit(meta, Audit::new("user.read", "user").resource(id).outcome(Verdict::Found("found")))
        .reads(User::COLUMNS)
}

fn no_such_user() -> ApiError {
    ApiError::NotFound("No such user.".into())
}

/// Sets a user's role; demoting the last admin is refused (409), see `user_role.sql`.
pub async fn change_role(
    State(state): State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    Id(id): Id,
    body: JsonObject,
) -> Result<Reply<User>, ApiError> {
    let mut form = Form::new(body, &["role"], &["id", "name", "email", "created_at"]);
    let role = form.required("role", one_of(&["admin", "user"]));
    let role = form.finish_with(role)?;
    let row = change_role_statement(&admin, &meta, id, role.clone()).query_opt(&state.db).await?;
    let row = row.ok_or_else(no_such_user)?;
    let user = User::from_row(&row)?;
    if user.role.as_str() != role {
        return Err(ApiError::Conflict {
            message: "The last admin cannot be demoted; promote another admin first.".into(),
            errors: vec![shared::error::FieldError::new("role", "would leave no admin")],
        });
    }
    let previous: String = column(&row, "previous_role")?;
    let message = if previous == role { "The user already had this role." } else { "Role changed." };
    Ok(Reply::updated(message, user))
}

fn change_role_statement(admin: &impl Principal, meta: &RequestMeta, id: Uuid, role: String) -> Statement {
    Statement::new(&CHANGE_ROLE)
        .acting_as(admin)
        .bind("id", id)
        .bind("role", role)
        .audit(
            meta,
            Audit::new("user.role_changed", "user")
                .resource(id)
                .outcome(Verdict::Refused { done: "settled", target: "target" }),
        )
        .reads(User::COLUMNS)
        .reads(&[("previous_role", Type::TEXT)])
}

/// Enables or disables an account. Disabling ends every session at once (their next
/// request is 401) and a later correct login is 403. Disabling oneself or the last
/// active admin is refused (409), see `user_status.sql`.
pub async fn change_status(
    State(state): State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    Id(id): Id,
    body: JsonObject,
) -> Result<Reply<User>, ApiError> {
    let mut form = Form::new(body, &["status"], &["id", "name", "email", "role", "created_at"]);
    let status = form.required("status", one_of(Status::ALL));
    let status = form.finish_with(status)?;
    let row = change_status_statement(&admin, &meta, id, status.clone()).query_opt(&state.db).await?;
    let row = row.ok_or_else(no_such_user)?;
    let user = User::from_row(&row)?;
    if user.status.as_str() != status {
        let message = if id == admin.caller().id {
            "You cannot disable your own account."
        } else {
            "The last active admin cannot be disabled; enable or promote another admin first."
        };
        return Err(ApiError::Conflict {
            message: message.into(),
            errors: vec![shared::error::FieldError::new("status", "would leave no active admin")],
        });
    }
    let previous: String = column(&row, "previous_status")?;
    let message = if previous == status { "The user already had this status." } else { "Status changed." };
    Ok(Reply::updated(message, user))
}

fn change_status_statement(admin: &impl Principal, meta: &RequestMeta, id: Uuid, status: String) -> Statement {
    Statement::new(&CHANGE_STATUS)
        .acting_as(admin)
        .bind("id", id)
        .bind("status", status)
        .audit(
            meta,
            Audit::new("user.status_changed", "user")
                .resource(id)
                .outcome(Verdict::Refused { done: "settled", target: "target" }),
        )
        .reads(User::COLUMNS)
        .reads(&[("previous_status", Type::TEXT)])
}

/// The statements above, for `crate::statements`.
pub(crate) fn statements(admin: &impl Principal, meta: &RequestMeta) -> Vec<Statement> {
    let id = Uuid::nil();
    vec![
        list_statement(admin, meta, &Page::default(), None, None),
        read_statement(admin, meta, id),
        change_role_statement(admin, meta, id, Role::User.as_str().to_owned()),
        change_status_statement(admin, meta, id, Status::Active.as_str().to_owned()),
    ]
}
