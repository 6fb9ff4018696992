//! `AppState`: what every handler can reach, built once per cold start and cloned
//! (cheaply: it is handles all the way down) into each request.

use std::sync::Arc;

use crate::auth::JwtKeys;
use crate::config::{ConfigError, Settings};
use crate::db::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub jwt: Arc<JwtKeys>,
    pub settings: Arc<Settings>,
}

impl AppState {
    pub fn new(settings: Settings) -> Result<Self, ConfigError> {
        Ok(Self {
            db: Db::connect_lazy(&settings)?,
            jwt: Arc::new(JwtKeys::new(&settings)),
            settings: Arc::new(settings),
        })
    }
}
