//! Log setup for processes that are not Lambdas (the local API): readable lines on
//! stderr, filtered by `RUST_LOG` (default `info`). Coloured only on a terminal (and not
//! with `NO_COLOR` set): `scripts/dev > dev.log` or a pipe gets plain text.

use std::io::IsTerminal;

pub fn init_local() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}
