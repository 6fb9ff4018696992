//! The patient's own access (the portal): anyone who may write a patient invites an
//! address; the account with that address, verified, accepts and becomes the
//! patient's portal user, who reads the record (notes included) and writes nothing
//! (`patient_reach`'s `patient` access). Tokens are like reset tokens: 256 random bits,
//! URL-safe, single use, 7 days, kept only as SHA-256.

use axum::extract::State;
use shared::access::Reach;
use shared::audit::{Audit, Verdict};
use shared::auth::{Caller, refresh};
use shared::db::{Sql, Statement};
use shared::extract::Id;
use shared::outbox::{self, Outgoing};
use shared::records::patient::{Patient, PortalInvitation};
use shared::records::{FromRow, column};
use shared::validate::{Form, any_string, email};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, Settings, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

static INVITE: Sql = sql!("sql/portal_invite.sql");
static ACCEPT: Sql = sql!("sql/portal_accept.sql");

fn invitation_mail(settings: &Settings, token: &str) -> Result<Outgoing, ApiError> {
    let url = format!("{}/accept-portal?token={token}", settings.app_base_url);
    let text = format!(
        "Your care provider has invited you to see your own health record online. Sign in (or create an account \
         with this email address), verify the address, and open this link:\n\n{url}\n\nThe link works once, for 7 \
         days. If you did not expect this email, ignore it."
    );
    Outgoing::new(settings, "See your health record online", text)
}

pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Id(id): Id,
    body: JsonObject,
) -> Result<Reply<PortalInvitation>, ApiError> {
    let mut form = Form::new(body, &["email"], &[]);
    let address = form.required("email", email());
    let address = form.finish_with(address)?;
    let token = refresh::generate()?;
    let mail = invitation_mail(&state.settings, &token.token)?;
    let row = invite_statement(&caller, &meta, id, address, token.hash, &mail).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_none() {
        return Err(
            match (column::<bool>(&row, "found")?, column::<bool>(&row, "may_write")?, column::<bool>(&row, "linked")?)
            {
                (false, _, _) => ApiError::NotFound("No such patient.".into()),
                (true, false, _) => ApiError::Forbidden("Your access to this patient is read-only.".into()),
                _ => ApiError::conflict("This patient has a portal account already."),
            },
        );
    }
    outbox::send_now(&state, column(&row, "mail_id")?, column(&row, "email")?, mail).await;
    Ok(Reply::created("Portal invitation sent.", PortalInvitation::from_row(&row)?))
}

fn invite_statement(
    caller: &Caller,
    meta: &RequestMeta,
    id: Uuid,
    address: String,
    token_hash: Vec<u8>,
    mail: &Outgoing,
) -> Statement {
    let statement = Statement::new(&INVITE)
        .acting_as(caller)
        .reaching(Reach::Patient("id"))
        .bind("id", id)
        .bind("email", address)
        .bind("token_hash", token_hash);
    mail.queued_in(statement)
        .audit(
            meta,
            Audit::new("patient.portal_invited", "patient")
                .resource(id)
                .outcome(Verdict::Refused { done: "created", target: "target" }),
        )
        .reads(PortalInvitation::COLUMNS)
        .reads(&[("found", Type::BOOL), ("may_write", Type::BOOL), ("linked", Type::BOOL), ("mail_id", Type::UUID)])
}

pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<Patient>, ApiError> {
    let mut form = Form::new(body, &["token"], &[]);
    let token = form.required("token", any_string(512));
    let token = form.finish_with(token)?;
    let row = accept_statement(&caller, &meta, refresh::hash(&token)).query_one(&state.db).await?;
    match column::<Option<bool>>(&row, "matches")? {
        None => Err(ApiError::invalid_field("token", "is not a valid portal invitation (bad, used or expired)")),
        Some(false) => Err(ApiError::Forbidden("Your account's email must be verified and be the one invited.".into())),
        Some(true) if column::<Option<Uuid>>(&row, "id")?.is_none() => {
            Err(ApiError::conflict("This patient has a portal account already."))
        }
        Some(true) => Ok(Reply::success("You can now see this record.", Patient::from_row(&row)?)),
    }
}

fn accept_statement(caller: &Caller, meta: &RequestMeta, token_hash: Vec<u8>) -> Statement {
    Statement::new(&ACCEPT)
        .acting_as(caller)
        .bind("token_hash", token_hash)
        .audit(
            meta,
            Audit::new("patient.portal_linked", "patient")
                .resource_from("(SELECT patient_id FROM invitation)")
                .outcome(Verdict::Refused { done: "linked", target: "invitation" }),
        )
        .reads(Patient::COLUMNS)
        .reads(&[("matches", Type::BOOL)])
}

pub(crate) fn statements() -> Vec<Statement> {
    let (caller, meta, id) = (Caller::placeholder(shared::auth::Role::User), RequestMeta::placeholder(), Uuid::nil());
    vec![
        invite_statement(&caller, &meta, id, String::new(), Vec::new(), &Outgoing::placeholder()),
        accept_statement(&caller, &meta, Vec::new()),
    ]
}
