//! `AppState`: what every handler can reach, built once per cold start and cloned
//! (cheaply: it is handles all the way down) into each request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::auth::JwtKeys;
use crate::config::{ConfigError, Settings};
use crate::db::Db;
use crate::export::Exports;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub jwt: Arc<JwtKeys>,
    pub settings: Arc<Settings>,
    pub session_touches: Arc<SessionTouches>,
    /// Bulk export's bucket and worker, when `EXPORT_BUCKET` is set.
    pub exports: Option<Arc<Exports>>,
}

/// When this process last moved each session's `last_used_at`, so a request composes
/// the write only when a minute has passed: on Lambda an instance, locally the server,
/// writes at most once a minute per session, and most requests carry no write. Other
/// instances keep their own; together they still move it at least once a minute while
/// the session is in use, which is what the idle limit needs.
#[derive(Debug, Default)]
pub struct SessionTouches(Mutex<HashMap<Uuid, Instant>>);

/// How often a session's idle clock is moved.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

impl SessionTouches {
    /// True - and recorded as done - when `session` was not touched in the last minute.
    pub fn due(&self, session: Uuid) -> bool {
        let now = Instant::now();
        let mut touched = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if touched.get(&session).is_some_and(|at| now.duration_since(*at) < TOUCH_EVERY) {
            return false;
        }
        // Bounded: past 10,000 sessions, forget those whose minute is over anyway.
        if touched.len() >= 10_000 {
            touched.retain(|_, at| now.duration_since(*at) < TOUCH_EVERY);
        }
        touched.insert(session, now);
        true
    }
}

impl AppState {
    pub fn new(settings: Settings) -> Result<Self, ConfigError> {
        let exports = settings.export.clone().map(Exports::new).transpose()?.map(Arc::new);
        Ok(Self {
            exports,
            db: Db::connect_lazy(&settings)?,
            jwt: Arc::new(JwtKeys::new(&settings)),
            settings: Arc::new(settings),
            session_touches: Arc::default(),
        })
    }
}
