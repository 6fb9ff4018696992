//! A bulk export after its kick-off (API.md Part 5, "Bulk export"): the status URL
//! (202 with `X-Progress` while it runs, 429 when polled too often, the manifest when
//! done), `DELETE` on it (cancel: the job, its rows and its files go), and its files,
//! read from S3 through this function with the same token - never a presigned URL that
//! works without one. Only the user and app that started an export see it; anyone else
//! gets 404, as for a record they do not reach.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use shared::audit::{Audit, Verdict};
use shared::auth::Principal;
use shared::auth::scopes::{Permission, Resource};
use shared::db::{Sql, Statement};
use shared::records::column;
use shared::{ApiError, AppState, RequestMeta, sql};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::export::{POLL_SECONDS, exports, status_url};
use crate::smart::FhirPrincipal;
use crate::wire::{FhirId, Origin, outcome};

static STATUS: Sql = sql!("sql/export_status.sql");
static CANCEL: Sql = sql!("sql/export_cancel.sql");
static FILE: Sql = sql!("sql/export_file.sql");

/// A job with no live worker this long after it was last handed out is handed out again
/// by the next poll (a lost invoke, a worker that died).
const RESTART_SECONDS: i32 = 30;

fn no_export() -> ApiError {
    ApiError::NotFound("No such export: it finished more than a day ago, was cancelled, or is not yours.".into())
}

pub async fn status(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    Origin(origin): Origin,
    FhirId(job): FhirId,
) -> Result<Response, ApiError> {
    let backend_organization = principal.backend_organization();
    let reader = principal.permit(Resource::Patient, Permission::Read)?;
    let row = status_statement(&reader, job, backend_organization).query_opt(&state.db).await?.ok_or_else(no_export)?;
    if !column::<bool>(&row, "allowed")? {
        return Err(ApiError::Forbidden("You may no longer export this organization.".into()));
    }
    match column::<&str>(&row, "state")? {
        "done" => Ok(manifest(&origin, job, &row)?.into_response()),
        "refused" => {
            let failure: Option<String> = column(&row, "failure")?;
            Err(ApiError::Forbidden(failure.unwrap_or_else(|| "Your access ended while the export ran.".into()).into()))
        }
        // The Bulk Data protocol's error status: the job failed, not this request.
        "failed" => {
            let failure: Option<String> = column(&row, "failure")?;
            let why = failure.unwrap_or_else(|| "The export failed.".into());
            Ok(outcome(StatusCode::INTERNAL_SERVER_ERROR, "fatal", "exception", &format!("{why} Start it again.")))
        }
        _ if !column::<bool>(&row, "polled")? => Err(ApiError::TooSoon {
            message: format!("Polled too often: wait {POLL_SECONDS} seconds between polls.").into(),
            retry_after_secs: POLL_SECONDS,
        }),
        _ => {
            if column::<bool>(&row, "restart")?
                && let Err(e) = exports(&state)?.start(job).await
            {
                tracing::warn!(error = %e, "bulk export not restarted");
            }
            let exported: i64 = column(&row, "exported")?;
            let progress = match column::<&str>(&row, "state")? {
                "queued" => "queued".to_owned(),
                _ => format!("{}: {exported} resources exported", column::<&str>(&row, "phase")?),
            };
            let mut response = outcome(StatusCode::ACCEPTED, "information", "informational", "The export is running.");
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(POLL_SECONDS));
            if let Ok(value) = HeaderValue::from_str(&progress) {
                headers.insert("x-progress", value);
            }
            Ok(response)
        }
    }
}

/// The Bulk Data manifest (plain JSON, not a FHIR resource).
fn manifest(origin: &str, job: Uuid, row: &tokio_postgres::Row) -> Result<Json<Value>, ApiError> {
    let transaction_time: OffsetDateTime = column(row, "transaction_time")?;
    let transaction_time =
        transaction_time.format(&Rfc3339).map_err(|e| ApiError::internal_from("formatting transactionTime", e))?;
    let files: Value = column(row, "output")?;
    let output: Vec<Value> = files
        .as_array()
        .map(|files| {
            files
                .iter()
                .map(|f| json!({"type": f["type"], "url": format!("{}/{}.ndjson", status_url(origin, job), f["seq"]), "count": f["count"]}))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({
        "transactionTime": transaction_time,
        "request": column::<&str>(row, "request")?,
        "requiresAccessToken": true,
        "output": output,
        "error": [],
    })))
}

fn status_statement(principal: &impl Principal, job: Uuid, backend_organization: Option<Uuid>) -> Statement {
    Statement::new(&STATUS)
        .acting_as(principal)
        .bind("job", job)
        .bind("backend_organization", backend_organization)
        .bind("poll_seconds", POLL_SECONDS as i32 / 2)
        .bind("restart_seconds", RESTART_SECONDS)
        .reads(&[
            ("state", Type::TEXT),
            ("failure", Type::TEXT),
            ("transaction_time", Type::TIMESTAMPTZ),
            ("request", Type::TEXT),
            ("phase", Type::TEXT),
            ("exported", Type::INT8),
            ("polled", Type::BOOL),
            ("restart", Type::BOOL),
            ("allowed", Type::BOOL),
            ("output", Type::JSONB),
        ])
}

pub async fn cancel(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    FhirId(job): FhirId,
) -> Result<Response, ApiError> {
    let reader = principal.permit(Resource::Patient, Permission::Read)?;
    let row = cancel_statement(&reader, &meta, job).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_none() {
        return Err(no_export());
    }
    let exports = exports(&state)?;
    // Committed files go now; one a worker is writing goes with that worker, which finds
    // its job gone; anything else expires with the bucket's lifecycle rule.
    let keys: Vec<String> = column(&row, "keys")?;
    let deletes = keys.iter().map(|key| exports.bucket.delete(key));
    for failed in futures::future::join_all(deletes).await.into_iter().filter_map(Result::err) {
        tracing::warn!(error = %failed, "a cancelled export's file was not deleted; it expires with the bucket's rule");
    }
    Ok(outcome(StatusCode::ACCEPTED, "information", "informational", "The export was cancelled and its files deleted."))
}

fn cancel_statement(principal: &impl Principal, meta: &RequestMeta, job: Uuid) -> Statement {
    Statement::new(&CANCEL)
        .acting_as(principal)
        .bind("job", job)
        .audit(meta, Audit::new("export.cancelled", "export").resource(job).outcome(Verdict::Found("cancelled")))
        .reads(&[("id", Type::UUID), ("keys", Type::TEXT_ARRAY)])
}

pub async fn file(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    Path((job, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (Ok(job), Some(Ok(seq))) = (job.parse::<Uuid>(), file.strip_suffix(".ndjson").map(|n| n.parse::<i32>())) else {
        return Err(ApiError::NotFound("No such export file.".into()));
    };
    let backend_organization = principal.backend_organization();
    let reader = principal.permit(Resource::Patient, Permission::Read)?;
    let row = file_statement(&reader, &meta, job, seq, backend_organization)
        .query_opt(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such export file.".into()))?;
    if !column::<bool>(&row, "allowed")? {
        return Err(ApiError::Forbidden("You may no longer export this organization.".into()));
    }
    let key: String = column(&row, "key")?;
    let body = exports(&state)?
        .bucket
        .get(&key)
        .await
        .map_err(ApiError::Upstream)?
        .ok_or_else(|| ApiError::NotFound("The export file has expired.".into()))?;
    Ok(([(header::CONTENT_TYPE, "application/fhir+ndjson")], body).into_response())
}

fn file_statement(
    principal: &impl Principal,
    meta: &RequestMeta,
    job: Uuid,
    seq: i32,
    backend_organization: Option<Uuid>,
) -> Statement {
    Statement::new(&FILE)
        .acting_as(principal)
        .bind("job", job)
        .bind("seq", seq)
        .bind("backend_organization", backend_organization)
        .audit(
            meta,
            Audit::new("export.downloaded", "export")
                .resource(job)
                .outcome(Verdict::Refused { done: "permitted", target: "found" }),
        )
        .reads(&[("key", Type::TEXT), ("allowed", Type::BOOL)])
}

pub fn statements() -> Vec<Statement> {
    let (principal, meta) =
        (shared::auth::RoleScoped::placeholder(shared::auth::Role::User), RequestMeta::placeholder());
    vec![
        status_statement(&principal, Uuid::nil(), None),
        cancel_statement(&principal, &meta, Uuid::nil()),
        file_statement(&principal, &meta, Uuid::nil(), 1, None),
    ]
}
