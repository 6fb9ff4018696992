//! Users and their roles. A role change reaches the user at their next token refresh
//! (access tokens are stateless and live 15 minutes by default).

use axum::extract::State;
use shared::auth::Admin;
use shared::auth::Principal;
use shared::error::FieldError;
use shared::extract::Id;
use shared::pagination::PageOf;
use shared::query::Query;
use shared::records::user::User;
use shared::validate::{Form, one_of};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, user_columns};
use tokio_postgres::types::Type;

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
    let rows = state
        .db
        .query(
            concat!(
                "WITH page AS (
                     SELECT ", user_columns!(), " FROM users
                     WHERE ($1::uuid IS NULL OR id < $1)
                       AND ($2::text IS NULL OR name ILIKE $2 OR email ILIKE $2)
                       AND ($3::text IS NULL OR role = $3)
                     ORDER BY id DESC LIMIT $4
                 ), audit AS (
                     INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                     VALUES ($5, 'user.list', 'user', NULL, 'success', $6, $7)
                 )
                 SELECT * FROM page ORDER BY id DESC"
            ),
            &[
                (&page.after, Type::UUID),
                (&text, Type::TEXT),
                (&role, Type::TEXT),
                (&page.fetch(), Type::INT8),
                (&admin.caller().id, Type::UUID),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
            ],
        )
        .await?;
    let users = rows.iter().map(User::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Users found.", PageOf::new(&page, users, |u| u.id)))
}

pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<User>, ApiError> {
    let row = state
        .db
        .query_opt(
            concat!(
                "WITH found AS (
                     SELECT ", user_columns!(), " FROM users WHERE id = $1
                 ), audit AS (
                     INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                     SELECT $2, 'user.read', 'user', $1,
                            CASE WHEN EXISTS (SELECT 1 FROM found) THEN 'success' ELSE 'not_found' END, $3, $4
                 )
                 SELECT * FROM found"
            ),
            &[
                (&id, Type::UUID),
                (&admin.caller().id, Type::UUID),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
            ],
        )
        .await?;
    let row = row.ok_or_else(|| ApiError::NotFound("No such user.".into()))?;
    Ok(Reply::success("User found.", User::from_row(&row)?))
}

/// Sets a user's role. Demoting the last admin is refused (409), also when two admins
/// demote each other at once: the statement locks every admin row (`FOR UPDATE`) before
/// counting, so the second demotion waits for the first, then counts one admin and stops.
pub async fn change_role(
    State(state): State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    Id(id): Id,
    body: JsonObject,
) -> Result<Reply<User>, ApiError> {
    let mut form = Form::new(body, &["role"], &["id", "name", "email", "created_at"]);
    let role = form.required("role", one_of(&["admin", "user"]));
    form.finish()?;
    let role = role.ok_or_else(|| ApiError::internal("a validated field was absent"))?;
    let row = state
        .db
        .query_opt(
            "WITH admins AS (
                 SELECT id FROM users WHERE role = 'admin' FOR UPDATE
             ), target AS (
                 SELECT id, name, email, role, created_at FROM users WHERE id = $1
             ), changed AS (
                 UPDATE users SET role = $2, updated_at = now()
                 WHERE id = $1 AND role <> $2 AND ($2 = 'admin' OR (SELECT count(*) FROM admins) > 1)
                 RETURNING id
             ), audit AS (
                 INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                 SELECT $3, 'user.role_changed', 'user', $1,
                        CASE WHEN EXISTS (SELECT 1 FROM changed) THEN 'success'
                             WHEN NOT EXISTS (SELECT 1 FROM target) THEN 'not_found'
                             WHEN (SELECT role FROM target) = $2 THEN 'success'
                             ELSE 'denied' END, $4, $5
             )
             SELECT t.id, t.name, t.email, t.created_at, t.role AS previous_role,
                    CASE WHEN EXISTS (SELECT 1 FROM changed) THEN $2 ELSE t.role END AS role,
                    (SELECT count(*) FROM admins) AS admins
             FROM target t",
            &[
                (&id, Type::UUID),
                (&role, Type::TEXT),
                (&admin.caller().id, Type::UUID),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
            ],
        )
        .await?;
    let row = row.ok_or_else(|| ApiError::NotFound("No such user.".into()))?;
    let user = User::from_row(&row)?;
    if user.role.as_str() != role {
        return Err(ApiError::Conflict {
            message: "The last admin cannot be demoted; promote another admin first.".into(),
            errors: vec![FieldError::new("role", "would leave no admin")],
        });
    }
    let previous: String = row.try_get("previous_role").map_err(ApiError::internal)?;
    let message = if previous == role { "The user already had this role." } else { "Role changed." };
    Ok(Reply::updated(message, user))
}
