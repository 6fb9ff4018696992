//! The one error type of configuration: a setting missing or malformed, a secret that
//! could not be read. Every module that reads configuration depends on this leaf, and
//! nothing here depends on them.

use std::fmt;

/// What is wrong, naming the setting - never a secret's value.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}
