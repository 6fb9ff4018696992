//! Users, their roles and their status. A role change reaches the user at their next
//! token refresh (access tokens are stateless and live 15 minutes by default).

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
static CHANGE: Sql = sql!("sql/user_change.sql");

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

/// A field of a user an admin may set, and how a refused change reads. The role and
/// the status go through one handler and one statement (`user_change.sql`).
pub struct Change {
    field: &'static str,
    values: &'static [&'static str],
    /// Fields of the user a client may send back unchanged beside this one.
    read_only: &'static [&'static str],
    action: &'static str,
    already: &'static str,
    done: &'static str,
    /// What the field holds now, read from the answer.
    current: fn(&User) -> &str,
    /// The 409's field problem; the message comes from `refusal`.
    problem: &'static str,
    refusal: fn(own_account: bool) -> &'static str,
}

/// A role change reaches the user at their next token refresh. Demoting the last admin
/// is refused (409).
pub const ROLE: Change = Change {
    field: "role",
    values: &["admin", "user"],
    read_only: &["id", "name", "email", "created_at"],
    action: "user.role_changed",
    already: "The user already had this role.",
    done: "Role changed.",
    current: |user| user.role.as_str(),
    problem: "would leave no admin",
    refusal: |_| "The last admin cannot be demoted; promote another admin first.",
};

/// Disabling ends every session at once (their next request is 401) and a later correct
/// login is 403. Disabling oneself or the last active admin is refused (409).
pub const STATUS: Change = Change {
    field: "status",
    values: Status::ALL,
    read_only: &["id", "name", "email", "role", "created_at"],
    action: "user.status_changed",
    already: "The user already had this status.",
    done: "Status changed.",
    current: |user| user.status.as_str(),
    problem: "would leave no active admin",
    refusal: |own_account| match own_account {
        true => "You cannot disable your own account.",
        false => "The last active admin cannot be disabled; enable or promote another admin first.",
    },
};

pub async fn change_role(state: State<AppState>, admin: Admin, meta: RequestMeta, id: Id, body: JsonObject) -> Changed {
    change(state, admin, meta, id, body, &ROLE).await
}

pub async fn change_status(
    state: State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    id: Id,
    body: JsonObject,
) -> Changed {
    change(state, admin, meta, id, body, &STATUS).await
}

type Changed = Result<Reply<User>, ApiError>;

async fn change(
    State(state): State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    Id(id): Id,
    body: JsonObject,
    change: &Change,
) -> Changed {
    let mut form = Form::new(body, &[change.field], change.read_only);
    let value = form.required(change.field, one_of(change.values));
    let value = form.finish_with(value)?;
    let row = change_statement(&admin, &meta, id, change, value.clone()).query_opt(&state.db).await?;
    let row = row.ok_or_else(no_such_user)?;
    let user = User::from_row(&row)?;
    if (change.current)(&user) != value {
        return Err(ApiError::Conflict {
            message: (change.refusal)(id == admin.caller().id).into(),
            errors: vec![shared::error::FieldError::new(change.field, change.problem)],
        });
    }
    let previous: String = column(&row, "previous")?;
    Ok(Reply::updated(if previous == value { change.already } else { change.done }, user))
}

fn change_statement(admin: &impl Principal, meta: &RequestMeta, id: Uuid, change: &Change, value: String) -> Statement {
    Statement::new(&CHANGE)
        .acting_as(admin)
        .bind("id", id)
        .bind("field", change.field)
        .bind("value", value)
        .audit(
            meta,
            Audit::new(change.action, "user")
                .resource(id)
                .outcome(Verdict::Refused { done: "settled", target: "target" }),
        )
        .reads(User::COLUMNS)
        .reads(&[("previous", Type::TEXT)])
}

/// The statements above, for `crate::statements`.
pub(crate) fn statements(admin: &impl Principal, meta: &RequestMeta) -> Vec<Statement> {
    let id = Uuid::nil();
    vec![
        list_statement(admin, meta, &Page::default(), None, None),
        read_statement(admin, meta, id),
        change_statement(admin, meta, id, &ROLE, Role::User.as_str().to_owned()),
        change_statement(admin, meta, id, &STATUS, Status::Active.as_str().to_owned()),
    ]
}
