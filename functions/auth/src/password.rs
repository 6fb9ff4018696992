//! `PUT /api/auth/password`: change the password, knowing the current one. Every
//! session of the user ends - the calling one too - and the answer is a token bundle
//! for a new session.

use axum::extract::State;
use shared::audit::{self, Audit, Outcome, Verdict};
use shared::auth::{Caller, password};
use shared::db::{Sql, Statement};
use shared::records::user::User;
use shared::records::{FromRow, column};
use shared::validate::{Form, any_string, new_password};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use tokio_postgres::types::Type;

use crate::session::{NewSession, TokenBundle};

static LOOKUP: Sql = sql!("sql/password_lookup.sql");
static CHANGE: Sql = sql!("sql/password_change.sql");

pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<TokenBundle>, ApiError> {
    let mut form = Form::new(body, &["current_password", "new_password"], &[]);
    let current = form.required("current_password", any_string(1024));
    let new = form.required("new_password", new_password());
    let (current, new) = form.finish_with((current, new))?;
    if current == new {
        return Err(ApiError::invalid_field("new_password", "must differ from the current password"));
    }

    let row = lookup_statement(&caller).query_one(&state.db).await?;
    let old_hash: String = column(&row, "password_hash")?;
    if !password::verify(current, old_hash.clone()).await? {
        let event = Audit::new("auth.password_changed", "user").resource(caller.id);
        audit::event_only(&meta, event.outcome(Verdict::Always(Outcome::Denied)))
            .acting_as(&caller)
            .execute(&state.db)
            .await?;
        return Err(ApiError::Forbidden("The current password is incorrect.".into()));
    }
    let session = NewSession::new(&state)?;
    let change = PasswordChange { old_hash, new_hash: password::hash(new).await? };
    let changed = change_statement(&caller, &meta, change, &session).query_opt(&state.db).await?;
    let row = changed
        .ok_or_else(|| ApiError::conflict("The password was changed by another request meanwhile; sign in again."))?;
    let user = User::from_row(&row)?;
    Ok(Reply::updated(
        "Password changed; every other session has ended.",
        session.bundle(&state, user, column(&row, "session_id")?)?,
    ))
}

struct PasswordChange {
    old_hash: String,
    new_hash: String,
}

fn lookup_statement(caller: &Caller) -> Statement {
    Statement::new(&LOOKUP).acting_as(caller).reads(User::COLUMNS).reads(&[("password_hash", Type::TEXT)])
}

fn change_statement(caller: &Caller, meta: &RequestMeta, change: PasswordChange, session: &NewSession) -> Statement {
    let statement = Statement::new(&CHANGE)
        .acting_as(caller)
        .leaving_session_untouched()
        .bind("old_hash", change.old_hash)
        .bind("password_hash", change.new_hash);
    session
        .starting_in(statement)
        .audit(
            meta,
            Audit::new("auth.password_changed", "user").resource(caller.id).outcome(Verdict::DoneElseDenied("changed")),
        )
        .reads(User::COLUMNS)
        .reads(&[("session_id", Type::UUID)])
}

pub(crate) fn statements(caller: &Caller, meta: &RequestMeta) -> Vec<Statement> {
    let change = PasswordChange { old_hash: String::new(), new_hash: String::new() };
    let event = Audit::new("auth.password_changed", "user").resource(caller.id);
    vec![
        lookup_statement(caller),
        change_statement(caller, meta, change, &NewSession::placeholder()),
        audit::event_only(meta, event.outcome(Verdict::Always(Outcome::Denied))).acting_as(caller),
    ]
}
