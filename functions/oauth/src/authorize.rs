//! `GET`/`POST /api/auth/oauth/authorize`: a SMART standalone launch's sign-in, consent
//! and patient picker, ending in `302 redirect_uri?code=…&state=…`.
//!
//! The flow keeps no server state between its pages: each page carries the request
//! as checked so far in its `csrf_token`, an HS256 token under a key derived from
//! `JWT_SECRET` for this purpose alone, living 10 minutes, which names the step it is
//! for and, after sign-in, the user. A post without a valid one is refused; one cannot
//! be made without the key, nor moved to another step or user.
//!
//! An unknown client or an unregistered redirect URI is shown (400) and never
//! redirected (RFC 6749 4.1.2.1); every other error goes back to the app with `error`
//! and `state`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use shared::audit::Audit;
use shared::auth::scopes::{Context, Scopes};
use shared::auth::{password, refresh, sha256, totp};
use shared::db::{Sql, Statement};
use shared::extract::Origin;
use shared::records::user::{Status, User};
use shared::records::{FromRow, column};
use shared::{ApiError, AppState, RequestMeta, sql};
use time::Date;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::client;
use crate::page::{self, Choice};
use auth::sign_in::{MAX_FAILURES, WINDOW_MINUTES, failed_statement, lookup_statement};

static FACTOR: Sql = sql!("sql/factor.sql");
static FACTOR_SPENT: Sql = sql!("sql/factor_spent.sql");
static PICKER: Sql = sql!("sql/picker.sql");
static PICKED: Sql = sql!("sql/picked.sql");
static IDENTITY: Sql = sql!("sql/identity.sql");
static ADMITTED: Sql = sql!("sql/admitted.sql");
static CODE_ISSUE: Sql = sql!("sql/code_issue.sql");

/// How long a page's form may be filled in.
const FORM_SECONDS: u64 = 600;
/// The patient picker's length.
const PICKER_SIZE: i64 = 50;
const STATE_AUDIENCE: &str = "oauth-authorize";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    SignIn,
    Code,
    Consent,
    Patient,
}

/// The authorization request as checked, and how far it has come.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    aud: String,
    exp: u64,
    step: Step,
    client_id: Uuid,
    redirect_uri: String,
    /// What will be granted: the request within the app's registration.
    scope: String,
    state: Option<String>,
    code_challenge: String,
    nonce: Option<String>,
    user: Option<Uuid>,
}

fn state_key(state: &AppState) -> Vec<u8> {
    let mut input = b"oauth-authorize-state\0".to_vec();
    input.extend_from_slice(state.settings.jwt_secret.expose().as_bytes());
    sha256(&input)
}

impl Pending {
    fn at(&self, step: Step, user: Option<Uuid>) -> Pending {
        let exp = now() + FORM_SECONDS;
        Pending { step, user, exp, ..self.clone() }
    }

    fn seal(&self, state: &AppState) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), self, &EncodingKey::from_secret(&state_key(state)))
            .map_err(|e| ApiError::internal_from("signing the authorize form's state", e))
    }

    fn open(state: &AppState, token: &str) -> Option<Pending> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[STATE_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "aud"]);
        validation.leeway = 0;
        jsonwebtoken::decode::<Pending>(token, &DecodingKey::from_secret(&state_key(state)), &validation)
            .ok()
            .map(|data| data.claims)
    }

    fn scopes(&self) -> Scopes {
        Scopes::parse(&self.scope).unwrap_or_default()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A form or query string's fields; a repeated one is an error (RFC 6749 3.1).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(raw: &[u8]) -> Result<Fields, String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(raw) {
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(format!("{name} is given twice"));
            }
            if value.len() > 4096 {
                return Err(format!("{name} is too long"));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Fields(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }
}

/// `GET`: the request in the query string.
pub async fn start(State(state): State<AppState>, origin: Result<Origin, ApiError>, uri: Uri) -> Response {
    let fields = match Fields::parse(uri.query().unwrap_or("").as_bytes()) {
        Ok(fields) => fields,
        Err(why) => return page::error(StatusCode::BAD_REQUEST, &format!("The request is malformed: {why}.")),
    };
    answer(begin(&state, origin, &fields).await)
}

/// `POST`: a new request in the form (as `GET`), or a page's form.
pub async fn step(
    State(state): State<AppState>,
    meta: RequestMeta,
    origin: Result<Origin, ApiError>,
    body: Bytes,
) -> Response {
    let fields = match Fields::parse(&body) {
        Ok(fields) => fields,
        Err(why) => return page::error(StatusCode::BAD_REQUEST, &format!("The form is malformed: {why}.")),
    };
    let Some(token) = fields.get("csrf_token") else {
        if ["email", "password", "code", "decision", "patient"].iter().any(|f| fields.get(f).is_some()) {
            return page::error(
                StatusCode::BAD_REQUEST,
                "The form was not sent from this sign-in page (its anti-forgery token is missing).",
            );
        }
        return answer(begin(&state, origin, &fields).await);
    };
    let Some(pending) = Pending::open(&state, token) else {
        return page::error(
            StatusCode::BAD_REQUEST,
            "This form has expired or was not sent from this sign-in page (its anti-forgery token is not valid).",
        );
    };
    answer(proceed(&state, &meta, pending, &fields).await)
}

/// A failure below the flow (the database): shown, not redirected.
fn answer(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|error| {
        let status = match &error {
            ApiError::Unavailable | ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotConfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // Logged with the request id by the error's own response path.
        let _ = error.into_response();
        page::error(status, "The sign-in service could not answer. Try again in a moment.")
    })
}

/// A redirect to the app, with no-store.
fn redirect(to: String) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(&to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn with_params(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{separator}{}", query.finish())
}

fn redirect_error(redirect_uri: &str, error: &str, description: &str, state: Option<&str>) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    redirect(with_params(redirect_uri, &params))
}

/// The origin (`scheme://host[:port]`) of a redirect URI, for `form-action`.
fn origin_of(uri: &str) -> String {
    let after_scheme = uri.find("://").map(|i| i + 3).unwrap_or(0);
    let end = uri[after_scheme..].find(['/', '?']).map(|i| i + after_scheme).unwrap_or(uri.len());
    uri[..end].to_owned()
}

async fn begin(state: &AppState, origin: Result<Origin, ApiError>, fields: &Fields) -> Result<Response, ApiError> {
    let Some(client) = client::find(state, fields.get("client_id").unwrap_or("")).await.map_err(into_api)? else {
        return Ok(page::error(StatusCode::BAD_REQUEST, "No app is registered with this client_id."));
    };
    let app = &client.app;
    let Some(redirect_uri) = fields.get("redirect_uri").filter(|r| app.redirect_uris.iter().any(|u| u == r)) else {
        return Ok(page::error(StatusCode::BAD_REQUEST, "The redirect_uri is not one this app registered."));
    };
    let app_state = fields.get("state");
    let refuse = |error: &str, description: &str| Ok(redirect_error(redirect_uri, error, description, app_state));
    if fields.get("response_type") != Some("code") {
        return refuse("unsupported_response_type", "response_type must be code");
    }
    if app.backend {
        return refuse("unauthorized_client", "a backend app uses client_credentials, not this page");
    }
    if fields.get("code_challenge_method") != Some("S256") {
        return refuse("invalid_request", "PKCE is required: code_challenge_method must be S256");
    }
    let challenge = fields.get("code_challenge").unwrap_or("");
    if challenge.len() != 43 || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return refuse("invalid_request", "code_challenge must be the base64url SHA-256 of the code_verifier");
    }
    let Ok(Origin(origin)) = origin else { return refuse("invalid_request", "the request's Host is not usable") };
    let fhir_base = format!("{origin}/api/fhir");
    if fields.get("aud").map(|a| a.trim_end_matches('/')) != Some(fhir_base.as_str()) {
        return refuse("invalid_request", "aud must be this server's FHIR base URL");
    }
    let requested = match Scopes::parse_requested(fields.get("scope").unwrap_or("")) {
        Ok(scopes) => scopes,
        Err(why) => return refuse("invalid_scope", &why),
    };
    let granted = requested.within(&client.scopes).without(&[Context::System]);
    if granted.resources().is_empty() {
        return refuse("invalid_scope", "none of the requested resource scopes is one this app may be granted");
    }
    let pending = Pending {
        aud: STATE_AUDIENCE.to_owned(),
        exp: 0,
        step: Step::SignIn,
        client_id: app.client_id,
        redirect_uri: redirect_uri.to_owned(),
        scope: granted.to_string(),
        state: app_state.map(str::to_owned),
        code_challenge: challenge.to_owned(),
        nonce: fields.get("nonce").map(str::to_owned),
        user: None,
    }
    .at(Step::SignIn, None);
    Ok(page::sign_in(StatusCode::OK, &app.name, &pending.seal(state)?, None, &origin_of(redirect_uri)))
}

fn into_api(error: crate::OAuthError) -> ApiError {
    ApiError::internal(format!("{error:?}"))
}

async fn proceed(
    state: &AppState,
    meta: &RequestMeta,
    pending: Pending,
    fields: &Fields,
) -> Result<Response, ApiError> {
    // The app may have been deleted since the first page.
    let Some(client) = client::find(state, &pending.client_id.to_string()).await.map_err(into_api)? else {
        return Ok(page::error(StatusCode::BAD_REQUEST, "This app is no longer registered."));
    };
    let app = client.app.name.as_str();
    let to = origin_of(&pending.redirect_uri);
    match (pending.step, pending.user) {
        (Step::SignIn, _) => sign_in(state, meta, &pending, app, fields).await,
        (Step::Code, Some(user)) => second_factor(state, meta, &pending, app, user, fields).await,
        (Step::Consent, Some(user)) => match fields.get("decision") {
            Some("approve") if pending.scopes().has("launch/patient") => {
                let choices = choices(state, user, client.app.organization_id).await?;
                Ok(page::picker(app, &choices, &pending.at(Step::Patient, Some(user)).seal(state)?, None, &to))
            }
            Some("approve") => issue(state, meta, &pending, user, None).await,
            Some("deny") => Ok(redirect_error(
                &pending.redirect_uri,
                "access_denied",
                "the user denied the request",
                pending.state.as_deref(),
            )),
            _ => Ok(page::consent(app, &pending.scopes(), &pending.at(Step::Consent, Some(user)).seal(state)?, &to)),
        },
        (Step::Patient, Some(user)) => {
            let picked = fields.get("patient").and_then(|p| p.parse::<Uuid>().ok());
            let reached = match picked {
                Some(patient) => {
                    picked_statement(user, patient, client.app.organization_id).query_opt(&state.db).await?.is_some()
                }
                None => false,
            };
            match (picked, reached) {
                (Some(patient), true) => issue(state, meta, &pending, user, Some(patient)).await,
                _ => {
                    let choices = choices(state, user, client.app.organization_id).await?;
                    let csrf = pending.at(Step::Patient, Some(user)).seal(state)?;
                    Ok(page::picker(app, &choices, &csrf, Some("Choose one of the patients listed."), &to))
                }
            }
        }
        (_, None) => Ok(page::error(StatusCode::BAD_REQUEST, "This form is not valid; start again from the app.")),
    }
}

const WRONG_CREDENTIALS: &str = "The email or password is incorrect.";

fn too_many() -> String {
    format!("Too many failed sign-ins for this account. Try again in {WINDOW_MINUTES} minutes.")
}

async fn sign_in(
    state: &AppState,
    meta: &RequestMeta,
    pending: &Pending,
    app: &str,
    fields: &Fields,
) -> Result<Response, ApiError> {
    let to = origin_of(&pending.redirect_uri);
    let again = |status: StatusCode, message: &str| -> Result<Response, ApiError> {
        Ok(page::sign_in(status, app, &pending.at(Step::SignIn, None).seal(state)?, Some(message), &to))
    };
    let (Some(email), Some(typed)) = (fields.get("email"), fields.get("password")) else {
        return again(StatusCode::BAD_REQUEST, "Enter your email and password.");
    };
    let email = email.trim().to_lowercase();
    let email_hash = sha256(email.as_bytes());
    let row = lookup_statement(email_hash.clone(), email).query_one(&state.db).await?;
    if column::<Option<i64>>(&row, "retry_after")?.is_some() {
        return again(StatusCode::TOO_MANY_REQUESTS, &too_many());
    }
    let user_id: Option<Uuid> = column(&row, "id")?;
    let stored: Option<String> = column(&row, "password_hash")?;
    let matches = password::verify(typed.to_owned(), stored.unwrap_or_else(|| password::DUMMY_HASH.into())).await?;
    let Some(user_id) = user_id.filter(|_| matches) else {
        let recorded: bool =
            column(&failed_statement(meta, email_hash, user_id).query_one(&state.db).await?, "recorded")?;
        return match recorded {
            true => again(StatusCode::UNAUTHORIZED, WRONG_CREDENTIALS),
            false => again(StatusCode::TOO_MANY_REQUESTS, &too_many()),
        };
    };
    let user = User::from_row(&row)?;
    if user.status == Status::Disabled {
        return again(StatusCode::FORBIDDEN, "This account is disabled; ask an administrator.");
    }
    if user.mfa_enabled {
        return Ok(page::code(StatusCode::OK, app, &pending.at(Step::Code, Some(user_id)).seal(state)?, None, &to));
    }
    consent(state, pending, app, user_id).await
}

/// Signed in (and past MFA): the consent page, for an account that may hold a grant of
/// the app; anyone else may sign in again with another account.
async fn consent(state: &AppState, pending: &Pending, app: &str, user: Uuid) -> Result<Response, ApiError> {
    let to = origin_of(&pending.redirect_uri);
    let row = admitted_statement(pending.client_id, user).query_one(&state.db).await?;
    if !column::<bool>(&row, "admitted")? {
        let message = format!("This account is not part of the clinic that registered {app}. Sign in with another.");
        return Ok(page::sign_in(
            StatusCode::FORBIDDEN,
            app,
            &pending.at(Step::SignIn, None).seal(state)?,
            Some(&message),
            &to,
        ));
    }
    Ok(page::consent(app, &pending.scopes(), &pending.at(Step::Consent, Some(user)).seal(state)?, &to))
}

/// The TOTP step: a code newer than the last accepted one; a wrong one counts towards
/// the login throttle as a failed sign-in.
async fn second_factor(
    state: &AppState,
    meta: &RequestMeta,
    pending: &Pending,
    app: &str,
    user: Uuid,
    fields: &Fields,
) -> Result<Response, ApiError> {
    let to = origin_of(&pending.redirect_uri);
    let again = |status: StatusCode, message: &str| -> Result<Response, ApiError> {
        Ok(page::code(status, app, &pending.at(Step::Code, Some(user)).seal(state)?, Some(message), &to))
    };
    let Some(row) = factor_statement(user).query_opt(&state.db).await? else {
        return Ok(page::error(StatusCode::BAD_REQUEST, "This account can no longer sign in."));
    };
    if column::<bool>(&row, "throttled")? {
        return again(StatusCode::TOO_MANY_REQUESTS, &too_many());
    }
    let (Some(sealed), Some(typed)) = (column::<Option<Vec<u8>>>(&row, "mfa_secret")?, fields.get("code")) else {
        return again(StatusCode::BAD_REQUEST, "Enter the 6-digit code.");
    };
    if !state.settings.data_keys.configured() {
        return Err(ApiError::NotConfigured("MFA needs a data key on this server.".into()));
    }
    let secret = state.settings.data_keys.open(&sealed)?;
    let last: Option<i64> = column(&row, "mfa_last_step")?;
    let step = totp::matching_step(&secret, typed, totp::now_step()).filter(|s| last.is_none_or(|l| *s > l));
    let spent = match step {
        Some(step) => column::<bool>(&spent_statement(user, step).query_one(&state.db).await?, "spent")?,
        None => false,
    };
    if spent {
        return consent(state, pending, app, user).await;
    }
    let email: String = column(&row, "email")?;
    let failed = failed_statement(meta, sha256(email.as_bytes()), Some(user)).query_one(&state.db).await?;
    match column::<bool>(&failed, "recorded")? {
        true => again(StatusCode::UNAUTHORIZED, "The code is wrong or was already used."),
        false => again(StatusCode::TOO_MANY_REQUESTS, &too_many()),
    }
}

async fn choices(state: &AppState, user: Uuid, organization: Option<Uuid>) -> Result<Vec<Choice>, ApiError> {
    let rows = picker_statement(user, organization).query(&state.db).await?;
    rows.iter()
        .map(|row| {
            Ok(Choice {
                id: column::<Uuid>(row, "id")?.to_string(),
                name: column(row, "name")?,
                born: column::<Date>(row, "date_of_birth")?.to_string(),
            })
        })
        .collect()
}

/// Approved: a code for the grant, and back to the app.
async fn issue(
    state: &AppState,
    meta: &RequestMeta,
    pending: &Pending,
    user: Uuid,
    patient: Option<Uuid>,
) -> Result<Response, ApiError> {
    let mut scopes = pending.scopes();
    let fhir_user = match scopes.has("fhirUser") {
        true => identity_statement(user)
            .query_opt(&state.db)
            .await?
            .map(|row| column(&row, "fhir_user"))
            .transpose()?
            .flatten(),
        false => None,
    };
    // `fhirUser` is granted only to a user who is a FHIR resource here.
    if fhir_user.is_none() {
        scopes = scopes.without_scope("fhirUser");
    }
    let code = refresh::generate()?;
    let issued = Issued { code_hash: code.hash, scope: scopes.to_string(), patient, fhir_user };
    issue_statement(meta, pending, user, issued).execute(&state.db).await?;
    let mut params = vec![("code", code.token.as_str())];
    if let Some(app_state) = pending.state.as_deref() {
        params.push(("state", app_state));
    }
    Ok(redirect(with_params(&pending.redirect_uri, &params)))
}

struct Issued {
    code_hash: Vec<u8>,
    scope: String,
    patient: Option<Uuid>,
    fhir_user: Option<String>,
}

fn issue_statement(meta: &RequestMeta, pending: &Pending, user: Uuid, issued: Issued) -> Statement {
    Statement::new(&CODE_ISSUE)
        .bind("code_hash", issued.code_hash)
        .bind("client_id", pending.client_id)
        .bind("user_id", user)
        .bind("redirect_uri", pending.redirect_uri.clone())
        .bind("scope", issued.scope)
        .bind("patient_id", issued.patient)
        .bind("code_challenge", pending.code_challenge.clone())
        .bind("fhir_user", issued.fhir_user)
        .bind("nonce", pending.nonce.clone())
        .audit(meta, Audit::new("oauth.authorized", "oauth_app").actor(Some(user)).resource(pending.client_id))
        .reads(&[("issued", Type::BOOL)])
}

fn factor_statement(user: Uuid) -> Statement {
    Statement::new(&FACTOR)
        .bind("user_id", user)
        .bind("max_failures", MAX_FAILURES)
        .bind("window_minutes", WINDOW_MINUTES)
        .reads(&[
            ("email", Type::TEXT),
            ("mfa_secret", Type::BYTEA),
            ("mfa_last_step", Type::INT8),
            ("status", Type::TEXT),
            ("throttled", Type::BOOL),
        ])
}

fn spent_statement(user: Uuid, step: i64) -> Statement {
    Statement::new(&FACTOR_SPENT).bind("user_id", user).bind("step", step).reads(&[("spent", Type::BOOL)])
}

fn picker_statement(user: Uuid, organization: Option<Uuid>) -> Statement {
    Statement::new(&PICKER)
        .bind("user_id", user)
        .bind("organization_id", organization)
        .bind("name", None::<String>)
        .bind("fetch", PICKER_SIZE)
        .reads(&[("id", Type::UUID), ("name", Type::TEXT), ("date_of_birth", Type::DATE)])
}

fn picked_statement(user: Uuid, patient: Uuid, organization: Option<Uuid>) -> Statement {
    Statement::new(&PICKED)
        .bind("user_id", user)
        .bind("patient_id", patient)
        .bind("organization_id", organization)
        .reads(&[("id", Type::UUID)])
}

fn admitted_statement(client: Uuid, user: Uuid) -> Statement {
    Statement::new(&ADMITTED).bind("client_id", client).bind("user_id", user).reads(&[("admitted", Type::BOOL)])
}

fn identity_statement(user: Uuid) -> Statement {
    Statement::new(&IDENTITY).bind("user_id", user).reads(&[("role", Type::TEXT), ("fhir_user", Type::TEXT)])
}

pub(crate) fn statements() -> Vec<Statement> {
    let (id, meta) = (Uuid::nil(), RequestMeta::placeholder());
    let pending = Pending {
        aud: String::new(),
        exp: 0,
        step: Step::SignIn,
        client_id: id,
        redirect_uri: String::new(),
        scope: String::new(),
        state: None,
        code_challenge: String::new(),
        nonce: None,
        user: None,
    };
    let issued = Issued { code_hash: Vec::new(), scope: String::new(), patient: None, fhir_user: None };
    vec![
        factor_statement(id),
        spent_statement(id, 0),
        picker_statement(id, None),
        picked_statement(id, id, None),
        identity_statement(id),
        admitted_statement(id, id),
        issue_statement(&meta, &pending, id, issued),
    ]
}
