//! `POST /api/auth/register`: create a user and sign them in.

use axum::extract::State;
use shared::audit::{Audit, Verdict};
use shared::auth::{password, refresh};
use shared::db::{Sql, Statement};
use shared::outbox::{self, Outgoing};
use shared::records::user::User;
use shared::records::{FromRow, column};
use shared::validate::{Form, Lines, email, new_password, text};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use tokio_postgres::types::Type;

use crate::email;
use crate::session::{NewSession, TokenBundle};

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
    let session = NewSession::new(&state)?;
    let verify = refresh::generate()?;
    let mail = email::verification(&state.settings, &verify.token)?;
    let row = register_statement(&meta, account, &session, verify.hash, &mail).query_opt(&state.db).await?;
    let row = row.ok_or_else(|| ApiError::duplicate("users_email_key"))?;
    let user = User::from_row(&row)?;
    outbox::send_now(&state, column(&row, "mail_id")?, user.email.clone(), mail).await;
    let session_id = column(&row, "session_id")?;
    Ok(Reply::created("Account created.", session.bundle(&state, user, session_id)?))
}

struct NewAccount {
    name: String,
    email: String,
    password_hash: String,
}

fn register_statement(
    meta: &RequestMeta,
    account: NewAccount,
    session: &NewSession,
    verify_hash: Vec<u8>,
    mail: &Outgoing,
) -> Statement {
    let statement = Statement::new(&REGISTER)
        .bind("name", account.name)
        .bind("email", account.email)
        .bind("password_hash", account.password_hash)
        .bind("verify_hash", verify_hash);
    mail.queued_in(session.starting_in(statement))
        .audit(
            meta,
            Audit::new("auth.register", "user")
                .actor_from("(SELECT id FROM new_user)")
                .resource_from("(SELECT id FROM new_user)")
                .outcome(Verdict::DoneElseDenied("new_user")),
        )
        .reads(User::COLUMNS)
        .reads(&[("session_id", Type::UUID), ("mail_id", Type::UUID)])
}

pub(crate) fn statements(meta: &RequestMeta) -> Vec<Statement> {
    let account = NewAccount { name: String::new(), email: String::new(), password_hash: String::new() };
    vec![register_statement(meta, account, &NewSession::placeholder(), Vec::new(), &Outgoing::placeholder())]
}
