//! `POST /api/auth/login`, with throttling that holds across Lambda instances and
//! concurrent requests.
//!
//! Each email (by hash) has a row in `login_throttle` with the times of its recent
//! attempts. A login first claims an attempt on that row - refused when five fall within
//! the last 15 minutes - and only then checks the password; success deletes the row. The
//! claim is an upsert, so concurrent guesses queue on the row lock and a burst gets five
//! attempts in all. An attempt whose request dies before the verdict counts as a failure.
//!
//! An unknown email and a wrong password take the same path: one argon2 verify (against a
//! dummy hash when there is no user), one write, the same 401 - neither the answer nor
//! its timing tells which it was.

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
/// The throttling window, `interval '15 minutes'` in the SQL.
const WINDOW_SECS: i64 = 15 * 60;

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

    // Claim an attempt and read the user (if any), in one round trip. `retry_after` is
    // read from the statement's snapshot, which a claim committed by a concurrent request
    // may postdate: then the whole window is the honest answer.
    let row = state
        .db
        .query_one(
            "WITH claim AS (
                 INSERT INTO login_throttle AS t (email_hash, attempts) VALUES ($1, ARRAY[now()])
                 ON CONFLICT (email_hash) DO UPDATE
                 SET attempts = ARRAY(SELECT a FROM unnest(t.attempts) a WHERE a > now() - interval '15 minutes') || now()
                 WHERE (SELECT count(*) FROM unnest(t.attempts) a WHERE a > now() - interval '15 minutes') < 5
                 RETURNING 1
             )
             SELECT u.id, u.name, u.email, u.role, u.created_at, u.password_hash, t.claimed, t.retry_after
             FROM (SELECT EXISTS (SELECT FROM claim) AS claimed,
                          (SELECT ceil(extract(epoch FROM min(a) + interval '15 minutes' - now()))::int8
                           FROM login_throttle, unnest(attempts) a
                           WHERE email_hash = $1 AND a > now() - interval '15 minutes') AS retry_after) t
             LEFT JOIN users u ON u.email = $2",
            &[(&email_hash, Type::BYTEA), (&email, Type::TEXT)],
        )
        .await?;
    let user_id: Option<Uuid> = row.try_get("id").map_err(ApiError::internal)?;
    let claimed: bool = row.try_get("claimed").map_err(ApiError::internal)?;

    if !claimed {
        let retry_after: Option<i64> = row.try_get("retry_after").map_err(ApiError::internal)?;
        let event = Event {
            actor_id: user_id,
            action: "auth.login_throttled",
            resource_type: "user",
            resource_id: user_id,
            outcome: Outcome::Denied,
        };
        audit::record(&state.db, &meta, &event).await?;
        let secs = retry_after.unwrap_or(WINDOW_SECS).clamp(1, WINDOW_SECS);
        return Err(ApiError::RateLimited { retry_after_secs: secs as u64 });
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
                             DELETE FROM login_throttle WHERE email_hash = $1
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
                        "INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                         VALUES ($1, 'auth.login_failed', 'user', $1, 'denied', $2, $3)",
                        &[(&user_id, Type::UUID), (&meta.request_id, Type::TEXT), (&meta.source_ip, Type::INET)],
                    )
                .await?;
            Err(ApiError::Unauthorized(WRONG_CREDENTIALS.into()))
        }
    }
}
