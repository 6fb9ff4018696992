//! Log setup for processes that are not Lambdas (the local API, the ops CLI): readable
//! lines on stderr, filtered by `RUST_LOG` (default `info`).

pub fn init_local() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
