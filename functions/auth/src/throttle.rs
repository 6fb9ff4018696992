//! Login throttling's limits, shared by the password step (`login`) and the code step
//! (`mfa`): failures are counted per email across both, in `login_failures`.

use shared::ApiError;

pub use shared::auth::{LOGIN_MAX_FAILURES as MAX_FAILURES, LOGIN_WINDOW_MINUTES as WINDOW_MINUTES};

/// 429 for an email whose allowance is used up: try again when the window has passed.
pub fn throttled() -> ApiError {
    ApiError::RateLimited { retry_after_secs: WINDOW_MINUTES as u64 * 60 }
}
