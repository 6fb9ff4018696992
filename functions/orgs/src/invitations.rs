//! Invitations into an organization. An owner invites an address with a role; the email
//! (queued in the outbox by the statement that issues the token, then sent at once:
//! `shared::outbox`) carries `{APP_BASE_URL}/accept-invitation?token=…`. Tokens are like
//! reset tokens: 256 random bits, URL-safe, single use, 7 days, kept only as SHA-256.
//! Accepting needs the caller's email verified and equal to the invited one.
//!
//! The email names neither the organization nor the inviter: the body is sealed with
//! `DATA_KEY` before the statement runs, so it holds only what is known before it.

use axum::extract::State;
use serde_json::{Value, json};
use shared::access::Membership;
use shared::audit::{Audit, Verdict};
use shared::auth::{Caller, refresh};
use shared::db::{Sql, Statement};
use shared::extract::{Id, Ids};
use shared::outbox::{self, Outgoing};
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::organization::{Invitation, Organization, parse_invitation};
use shared::records::{FromRow, column, present};
use shared::validate::{Form, any_string};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, Settings, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{CALLER_MANAGES, refused, refused_in};

static INVITE: Sql = sql!("sql/invite.sql");
static LIST: Sql = sql!("sql/invitations.sql");
static WITHDRAW: Sql = sql!("sql/invitation_withdraw.sql");
static ACCEPT: Sql = sql!("sql/accept.sql");

fn invitation_mail(settings: &Settings, role: &str, token: &str) -> Result<Outgoing, ApiError> {
    let url = format!("{}/accept-invitation?token={token}", settings.app_base_url);
    let role = role.replace('_', " ");
    let text = format!(
        "You have been invited to join an organization as {role}. Sign in (or create an account with this email \
         address) and open this link to accept:\n\n{url}\n\nThe link works once, for 7 days. If you did not expect \
         this invitation, ignore this email."
    );
    Outgoing::new(settings, "You are invited to join an organization", text)
}

pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Id(id): Id,
    body: JsonObject,
) -> Result<Reply<Invitation>, ApiError> {
    let (address, role) = parse_invitation(body)?;
    let token = refresh::generate()?;
    let mail = invitation_mail(&state.settings, &role, &token.token)?;
    let row = invite_statement(&caller, &meta, id, (address, role), token.hash, &mail).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_none() {
        return Err(refused_in(&row, "invite members", || {
            ApiError::conflict("This address already belongs to a member of the organization.")
        })?);
    }
    outbox::send_now(&state, column(&row, "mail_id")?, column(&row, "email")?, mail).await;
    Ok(Reply::created("Invitation sent.", Invitation::from_row(&row)?))
}

fn invite_statement(
    caller: &Caller,
    meta: &RequestMeta,
    id: Uuid,
    (address, role): (String, String),
    token_hash: Vec<u8>,
    mail: &Outgoing,
) -> Statement {
    let statement = Statement::new(&INVITE)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .bind("id", id)
        .bind("email", address)
        .bind("role", role)
        .bind("token_hash", token_hash);
    mail.queued_in(statement)
        .audit(
            meta,
            Audit::new("org.invited", "organization")
                .resource(id)
                .outcome(Verdict::Refused { done: "created", target: "membership" }),
        )
        .reads(Invitation::COLUMNS)
        .reads(CALLER_MANAGES)
        .reads(&[("already_member", Type::BOOL), ("mail_id", Type::UUID)])
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    mut query: Query,
) -> Result<Reply<PageOf<Invitation>>, ApiError> {
    let page = query.page();
    query.finish()?;
    let rows = list_statement(&caller, id, &page).query(&state.db).await?;
    let Some(first) = rows.first() else { return Err(ApiError::internal("invitations.sql answered no row")) };
    if column::<Option<bool>>(first, "caller_manages")? != Some(true) {
        return Err(refused(column(first, "caller_role")?, "see its invitations"));
    }
    let open: Vec<Invitation> = present(&rows, "id")?;
    Ok(Reply::success("Open invitations.", PageOf::new(&page, open, |i| i.id)))
}

fn list_statement(caller: &Caller, id: Uuid, page: &Page) -> Statement {
    Statement::new(&LIST)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .bind("id", id)
        .bind("after", page.after)
        .bind("fetch", page.fetch())
        .reads(Invitation::COLUMNS)
        .reads(CALLER_MANAGES)
}

pub async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Ids(id, invitation_id): Ids,
) -> Result<Reply<Value>, ApiError> {
    let row = withdraw_statement(&caller, &meta, id, invitation_id).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_some() {
        return Ok(Reply::deleted("Invitation withdrawn.", json!({ "id": invitation_id })));
    }
    Err(refused_in(&row, "withdraw invitations", || ApiError::NotFound("No such open invitation.".into()))?)
}

fn withdraw_statement(caller: &Caller, meta: &RequestMeta, id: Uuid, invitation_id: Uuid) -> Statement {
    Statement::new(&WITHDRAW)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .bind("id", id)
        .bind("invitation_id", invitation_id)
        .audit(
            meta,
            Audit::new("org.invitation_withdrawn", "organization")
                .resource(id)
                .outcome(Verdict::Refused { done: "withdrawn", target: "membership" }),
        )
        .reads(CALLER_MANAGES)
        .reads(&[("id", Type::UUID)])
}

pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<Organization>, ApiError> {
    let mut form = Form::new(body, &["token"], &[]);
    let token = form.required("token", any_string(512));
    let token = form.finish_with(token)?;
    let row = accept_statement(&caller, &meta, refresh::hash(&token)).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_some() {
        return Ok(Reply::success("You joined the organization.", Organization::from_row(&row)?));
    }
    match column::<Option<bool>>(&row, "matches")? {
        None => Err(ApiError::invalid_field("token", "is not valid: it may have been used, withdrawn or have expired")),
        Some(false) => Err(ApiError::Forbidden(
            "This invitation is for another email address, or yours is not verified yet.".into(),
        )),
        Some(true) => Err(ApiError::conflict("You are already a member of this organization.")),
    }
}

fn accept_statement(caller: &Caller, meta: &RequestMeta, token_hash: Vec<u8>) -> Statement {
    Statement::new(&ACCEPT)
        .acting_as(caller)
        .bind("token_hash", token_hash)
        .audit(
            meta,
            Audit::new("org.member_joined", "organization")
                .resource_from("(SELECT organization_id FROM joined)")
                .organization_from("(SELECT organization_id FROM invitation)")
                .outcome(Verdict::Refused { done: "joined", target: "invitation" }),
        )
        .reads(Organization::COLUMNS)
        .reads(&[("matches", Type::BOOL)])
}

pub(crate) fn statements(caller: &Caller, meta: &RequestMeta) -> Vec<Statement> {
    let id = Uuid::nil();
    vec![
        invite_statement(caller, meta, id, (String::new(), String::new()), Vec::new(), &Outgoing::placeholder()),
        list_statement(caller, id, &Page::default()),
        withdraw_statement(caller, meta, id, id),
        accept_statement(caller, meta, Vec::new()),
    ]
}
