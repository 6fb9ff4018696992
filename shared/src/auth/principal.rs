//! `Principal`: who a handler acts for, and whose records that reaches. A resource
//! handler is written once, generic over it, and mounted twice:
//! - with `Caller` on `/api/patients` etc.: any signed-in user, scoped to their own records;
//! - with `Admin` on `/api/admin/*`: admins only (403 for others), across all users.
//!
//! Statements take `owner_scope()` as a parameter, `WHERE ($n::uuid IS NULL OR owner_id = $n)`.
//! Only `Admin` yields `None`, and an `Admin` exists only for a verified admin token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use super::Caller;
use crate::{ApiError, AppState};

pub trait Principal: FromRequestParts<AppState, Rejection = ApiError> + Send + Sync + 'static {
    /// The user acting, for audit events and `created_by`.
    fn caller(&self) -> &Caller;
    /// `Some(user)`: only that user's records. `None`: everyone's (admins only).
    fn owner_scope(&self) -> Option<Uuid>;
}

impl Principal for Caller {
    fn caller(&self) -> &Caller {
        self
    }
    fn owner_scope(&self) -> Option<Uuid> {
        Some(self.id)
    }
}

/// A caller whose token carries the admin role.
#[derive(Debug, Clone, Copy)]
pub struct Admin(Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if !caller.is_admin() {
            return Err(ApiError::Forbidden("This route is for admins only.".into()));
        }
        Ok(Admin(caller))
    }
}

impl Principal for Admin {
    fn caller(&self) -> &Caller {
        &self.0
    }
    fn owner_scope(&self) -> Option<Uuid> {
        None
    }
}
