//! `POST /api/auth/register`: create a user and sign them in.

use axum::extract::State;
use shared::audit::{Audit, Verdict};
use shared::auth::{password, refresh};
use shared::db::{Sql, Statement};
use shared::records::user::User;
use shared::records::{FromRow, column};
use shared::validate::{Form, Lines, email, new_password, text};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use time::OffsetDateTime;
use tokio_postgres::types::Type;

use crate::session::{TokenBundle, refresh_expiry};
use crate::{email, mail};

static REGISTER: Sql = sql!("sql/register.sql");

/// Fields of a user a client may see but never set.
pub const USER_READ_ONLY: &[&str] = &["id", "role", "created_at", "updated_at"];

pub async fn register(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<TokenBundle>, ApiError> {
    let mut form = Form::new(body, &["name", "email", "password"], USER_READ_ONLY);
    let name = form.required("name", text(1..=100, Lines::Single));
    let email = form.required("email", email());
    let password = form.required("password", new_password());
    let (name, email, password) = form.finish_with((name, email, password))?;

    let account = NewAccount { name, email, password_hash: password::hash(password).await? };
    let session = refresh::generate()?;
    let verify = refresh::generate()?;
    let row = register_statement(&meta, account, session.hash.clone(), verify.hash.clone(), refresh_expiry(&state))
        .query_opt(&state.db)
        .await?;
    let row = row.ok_or_else(|| ApiError::duplicate("users_email_key"))?;
    let user = User::from_row(&row)?;
    mail::send(&state.settings, email::verification(&state.settings, user.email.clone(), &verify.token)).await;
    let session_id = column(&row, "session_id")?;
    Ok(Reply::created("Account created.", TokenBundle::new(&state, user, session_id, session)?))
}

struct NewAccount {
    name: String,
    email: String,
    password_hash: String,
}

fn register_statement(
    meta: &RequestMeta,
    account: NewAccount,
    token_hash: Vec<u8>,
    verify_hash: Vec<u8>,
    expires_at: OffsetDateTime,
) -> Statement {
    Statement::new(&REGISTER)
        .bind("name", account.name)
        .bind("email", account.email)
        .bind("password_hash", account.password_hash)
        .bind("token_hash", token_hash)
        .bind("verify_hash", verify_hash)
        .bind("expires_at", expires_at)
        .audit(
            meta,
            Audit::new("auth.register", "user")
                .actor_from("(SELECT id FROM new_user)")
                .resource_from("(SELECT id FROM new_user)")
                .outcome(Verdict::DoneElseDenied("new_user")),
        )
        .reads(User::COLUMNS)
        .reads(&[("session_id", Type::UUID)])
}

pub(crate) fn statements(meta: &RequestMeta) -> Vec<Statement> {
    let account = NewAccount { name: String::new(), email: String::new(), password_hash: String::new() };
    vec![register_statement(meta, account, Vec::new(), Vec::new(), OffsetDateTime::UNIX_EPOCH)]
}
