//! SMART on FHIR in the FHIR function: who a request acts for when its token is an
//! app's (`FhirPrincipal`), what the app's scopes let it do (`permit`), and the
//! discovery document (`/.well-known/smart-configuration`).
//!
//! A first-party token works here as it always has. An app's token (`JwtKeys::is_smart`)
//! acts for its user, narrowed: each interaction must be granted by a scope (else 403),
//! and the statement's access pieces are narrowed to the app's organization and, when
//! only `patient/` scopes grant the interaction, to the launch patient
//! (`shared::access::AppLimit`). The session check of every statement keeps the grant
//! honest: ended, idle, its user disabled or its membership or app removed, it is 401.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use serde_json::json;
use shared::auth::scopes::{Context, Permission, Resource, Scopes};
use shared::auth::{AppGrant, Caller, Principal, RoleScoped, bearer_token};
use shared::{ApiError, AppState};
use uuid::Uuid;

use crate::wire::Origin;

/// The caller of a FHIR request: a user, or an app acting for one.
pub struct FhirPrincipal {
    caller: Caller,
    /// An app's: what it was granted, and the launch patient.
    app: Option<(Scopes, Option<Uuid>)>,
}

impl FromRequestParts<AppState> for FhirPrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        if !state.jwt.is_smart(token) {
            return Ok(FhirPrincipal { caller: Caller::from_request_parts(parts, state).await?, app: None });
        }
        let claims = state.jwt.verify_smart(token)?;
        let scopes = Scopes::parse(&claims.scope)
            .map_err(|_| ApiError::Unauthorized("The access token is invalid or has expired.".into()))?;
        let app = AppGrant { client_id: claims.client_id, organization: claims.organization, patient: None };
        let caller = Caller::from_token(state, claims.sub, claims.role, claims.sid, Some(app));
        Ok(FhirPrincipal { caller, app: Some((scopes, claims.patient)) })
    }
}

impl FhirPrincipal {
    /// The principal for one interaction on one resource type: as it is for a user; for
    /// an app, 403 unless a scope grants it, and narrowed to the launch patient when
    /// only `patient/` scopes do.
    pub fn permit(&self, resource: Resource, permission: Permission) -> Result<RoleScoped, ApiError> {
        let Some((scopes, launch)) = &self.app else { return Ok(RoleScoped::new(self.caller)) };
        let contexts = scopes.contexts_granting(resource, permission);
        let refused = || {
            ApiError::Forbidden(std::borrow::Cow::Owned(format!(
                "The app's scopes do not grant {} on {resource:?}.",
                match permission {
                    Permission::Create => "create",
                    Permission::Read => "read",
                    Permission::Update => "update",
                    Permission::Delete => "delete",
                    Permission::Search => "search",
                }
            )))
        };
        if contexts.is_empty() {
            return Err(refused());
        }
        let patient_only = contexts == [Context::Patient];
        // Without a launch patient a `patient/` scope reaches no one.
        let patient = match patient_only {
            true => Some(launch.ok_or_else(refused)?),
            false => None,
        };
        let app = self.caller.app.map(|app| AppGrant { patient, ..app });
        Ok(RoleScoped::new(Caller { app, ..self.caller }))
    }
}

impl FhirPrincipal {
    /// The organization of the backend app (a `system/` grant) whose token this is:
    /// such an app may export its organization (`Group/{id}/$export`) as its owners may.
    pub fn backend_organization(&self) -> Option<Uuid> {
        let (scopes, _) = self.app.as_ref()?;
        scopes.has_context(Context::System).then_some(self.caller.app?.organization).flatten()
    }
}

impl Principal for FhirPrincipal {
    fn caller(&self) -> &Caller {
        &self.caller
    }
    fn scope(&self) -> shared::auth::Scope {
        RoleScoped::new(self.caller).scope()
    }
    fn edits_all(&self) -> bool {
        RoleScoped::new(self.caller).edits_all()
    }
}

/// The SMART capabilities we advertise; each works (docs/API.md, "Connecting an app").
pub const CAPABILITIES: &[&str] = &[
    "launch-standalone",
    "client-public",
    "client-confidential-asymmetric",
    "context-standalone-patient",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "permission-offline",
    "permission-online",
    "sso-openid-connect",
];

/// `GET /api/fhir/.well-known/smart-configuration`: no token; any origin may read it.
pub async fn configuration(Origin(origin): Origin) -> impl IntoResponse {
    let oauth = format!("{origin}/api/auth/oauth");
    let body = json!({
        "issuer": format!("{origin}/api/fhir"),
        "jwks_uri": format!("{oauth}/jwks"),
        "authorization_endpoint": format!("{oauth}/authorize"),
        "token_endpoint": format!("{oauth}/token"),
        "introspection_endpoint": format!("{oauth}/introspect"),
        "revocation_endpoint": format!("{oauth}/revoke"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": [
            "openid", "fhirUser", "launch/patient", "offline_access", "online_access",
            "patient/*.cruds", "patient/Patient.cruds", "patient/Practitioner.rs", "patient/Organization.rs",
            "user/*.cruds", "user/Patient.cruds", "user/Practitioner.rs", "user/Organization.rs",
            "system/*.rs", "system/Patient.rs", "system/Practitioner.rs", "system/Organization.rs",
            "patient/*.read", "user/*.read", "user/*.write", "system/*.read"
        ],
        "capabilities": CAPABILITIES,
    });
    ([(ACCESS_CONTROL_ALLOW_ORIGIN, "*")], Json(body))
}
