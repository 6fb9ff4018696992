//! `POST /api/auth/login`, with throttling that holds across Lambda instances.
//!
//! Failed attempts are rows in `login_failures` (keyed by a hash of the email), so every
//! instance sees the same count. After `MAX_FAILURES` within the window, attempts for that
//! email get 429 until enough failures age out. The rule is 5 failures in 15 minutes: in
//! the SQL, `OFFSET 4` (the 5th most recent failure) and `interval '15 minutes'`. An unknown email and a wrong password take
//! the same path: one argon2 verify (against a dummy hash when there is no user), one
//! write, the same 401 - neither the answer nor its timing tells which it was.
//!
//! Two concurrent wrong guesses can both pass the check before either is recorded, so
//! a burst may get a few attempts past the limit; sequential guessing cannot.

use axum::extract::State;
use shared::audit::{self, Event, Outcome};
use shared::auth::{password, refresh, sha256};
use shared::validate::{Form, any_string};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta};
use tokio_postgres::types::Type;
use uuid::Uuid;

use shared::records::user::User;

use crate::session::{TokenBundle, refresh_expiry};

const WRONG_CREDENTIALS: &str = "The email or password is incorrect.";

pub async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<TokenBundle>, ApiError> {
    let mut form = Form::new(body, &["email", "password"], &[]);
    let email = form.required("email", any_string(1024));
    let password = form.required("password", any_string(1024));
    form.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::internal("a validated field was absent"));
    };
    let email = email.trim().to_lowercase();
    let email_hash = sha256(email.as_bytes());

    // The user (if any) and the throttle state, in one round trip.
    let row = state
        .db
        .query_one(
            "SELECT u.id, u.name, u.email, u.role, u.created_at, u.password_hash,
                        ceil(extract(epoch FROM t.fifth_newest + interval '15 minutes' - now()))::int8 AS retry_after
                 FROM (SELECT (SELECT failed_at FROM login_failures
                               WHERE email_hash = $1 AND failed_at > now() - interval '15 minutes'
                               ORDER BY failed_at DESC OFFSET 4 LIMIT 1) AS fifth_newest) t
                 LEFT JOIN users u ON u.email = $2",
            &[(&email_hash, Type::BYTEA), (&email, Type::TEXT)],
        )
        .await?;
    let user_id: Option<Uuid> = row.try_get("id").map_err(ApiError::internal)?;
    let retry_after: Option<i64> = row.try_get("retry_after").map_err(ApiError::internal)?;

    if let Some(secs) = retry_after {
        let event = Event {
            actor_id: user_id,
            action: "auth.login_throttled",
            resource_type: "user",
            resource_id: user_id,
            outcome: Outcome::Denied,
        };
        audit::record(&state.db, &meta, &event).await?;
        return Err(ApiError::RateLimited { retry_after_secs: secs.max(1) as u64 });
    }

    let stored_hash: Option<String> = row.try_get("password_hash").map_err(ApiError::internal)?;
    let matches = password::verify(password, stored_hash.unwrap_or_else(|| password::DUMMY_HASH.into())).await?;

    match user_id.filter(|_| matches) {
        Some(user_id) => {
            let session = refresh::generate()?;
            let expires_at = refresh_expiry(&state);
            state
                .db
                .execute(
                        "WITH cleared AS (
                             DELETE FROM login_failures WHERE email_hash = $1
                         ), session AS (
                             INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
                             VALUES (uuid_v7(), $2, $3, $4)
                         )
                         INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                         VALUES ($2, 'auth.login', 'user', $2, 'success', $5, $6)",
                        &[
                            (&email_hash, Type::BYTEA),
                            (&user_id, Type::UUID),
                            (&session.hash, Type::BYTEA),
                            (&expires_at, Type::TIMESTAMPTZ),
                            (&meta.request_id, Type::TEXT),
                            (&meta.source_ip, Type::INET),
                        ],
                    )
                .await?;
            let user = User::from_row(&row)?;
            Ok(Reply::success("Signed in.", TokenBundle::new(&state, user, session)?))
        }
        None => {
            state
                .db
                .execute(
                        "WITH failure AS (
                             INSERT INTO login_failures (email_hash) VALUES ($1)
                         ), pruned AS (
                             DELETE FROM login_failures
                             WHERE email_hash = $1 AND failed_at <= now() - interval '15 minutes'
                         )
                         INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                         VALUES ($2, 'auth.login_failed', 'user', $2, 'denied', $3, $4)",
                        &[
                            (&email_hash, Type::BYTEA),
                            (&user_id, Type::UUID),
                            (&meta.request_id, Type::TEXT),
                            (&meta.source_ip, Type::INET),
                        ],
                    )
                .await?;
            Err(ApiError::Unauthorized(WRONG_CREDENTIALS.into()))
        }
    }
}
