//! `Principal`: who a handler acts for, and whose records that reaches. A resource
//! handler is written once, generic over it, and mounted twice:
//! - with `Caller` on `/api/patients` etc.: any signed-in user, scoped to their own records;
//! - with `Admin` on `/api/admin/*`: admins only (403 for others), across all users;
//! - with `RoleScoped` on FHIR, which has no admin routes of its own: an admin reaches
//!   everyone's records, anyone else their own.
//!
//! Authority is a type, never a nullable id: `scope()` is `Own(user)` or `All`, and only
//! `Admin` - which exists only for a verified admin token - says `All`. Statements get
//! it through `Statement::acting_as` (`:actor`, `:edits_all`), and who reaches which
//! patient from the access pieces it picks by scope (`shared::access`): the user's own
//! reach for `Own`, every patient for `All`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use super::{Caller, Role};
use crate::{ApiError, AppState};

/// Whose patients (and their mappings) a principal reaches: its own reach - personal,
/// organizations, care team - or every patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Own(Uuid),
    All,
}

pub trait Principal: FromRequestParts<AppState, Rejection = ApiError> + Send + Sync + 'static {
    /// The user acting, for audit events and `created_by`.
    fn caller(&self) -> &Caller;
    fn scope(&self) -> Scope;
    /// May change or delete records that others created (shared directory entries).
    fn edits_all(&self) -> bool;
    /// May change or delete a record created by `created_by`.
    fn may_edit(&self, created_by: Uuid) -> bool {
        self.edits_all() || created_by == self.caller().id
    }
}

/// On the ordinary routes everyone, admins included, sees their own patients; an admin
/// may still edit any doctor there (the contract's "creator or admin").
impl Principal for Caller {
    fn caller(&self) -> &Caller {
        self
    }
    fn scope(&self) -> Scope {
        Scope::Own(self.id)
    }
    fn edits_all(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A caller whose token carries the admin role.
#[derive(Debug, Clone, Copy)]
pub struct Admin(Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.role != Role::Admin {
            return Err(ApiError::Forbidden("This route is for admins only.".into()));
        }
        Ok(Admin(caller))
    }
}

impl Principal for Admin {
    fn caller(&self) -> &Caller {
        &self.0
    }
    fn scope(&self) -> Scope {
        Scope::All
    }
    fn edits_all(&self) -> bool {
        true
    }
}

/// A caller whose reach follows their role: all records for an admin, their own for
/// anyone else (FHIR, where one set of routes serves both).
#[derive(Debug, Clone, Copy)]
pub struct RoleScoped(Caller);

impl FromRequestParts<AppState> for RoleScoped {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Caller::from_request_parts(parts, state).await.map(RoleScoped)
    }
}

impl RoleScoped {
    /// A caller whose identity was checked elsewhere (FHIR's, for an app's token).
    pub fn new(caller: Caller) -> Self {
        RoleScoped(caller)
    }

    /// For building statements outside a request (the schema test).
    pub fn placeholder(role: Role) -> Self {
        RoleScoped(Caller::placeholder(role))
    }
}

impl Principal for RoleScoped {
    fn caller(&self) -> &Caller {
        &self.0
    }
    fn scope(&self) -> Scope {
        match self.0.role {
            Role::Admin => Scope::All,
            Role::User => Scope::Own(self.0.id),
        }
    }
    fn edits_all(&self) -> bool {
        self.0.role == Role::Admin
    }
}
