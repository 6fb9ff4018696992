//! What a request's log line costs on Lambda, before and after it carried its metrics
//! (docs/BENCHMARKS.md, "Changes and their cost"). Before: the tracing line Lambda's JSON
//! subscriber wrote for every request. After: the EMF line (`shared::metrics`). Both go to
//! stdout, as on Lambda, so run it with stdout thrown away; the figures go to stderr:
//!
//!     cargo run --release -p shared --example emf_cost > /dev/null

use std::time::{Duration, Instant};

use shared::metrics::{Emf, Recorded, RequestLine, emit};

const LINES: u32 = 200_000;

fn main() {
    // SAFETY: set before any thread exists; Lambda sets it in the environment.
    unsafe { std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON") };
    lambda_runtime::tracing::init_default_subscriber();
    let request_id = uuid::Uuid::now_v7().to_string();

    let started = Instant::now();
    for _ in 0..LINES {
        tracing::info!(
            request_id = %request_id,
            method = "GET",
            route = "/api/patients/{id}",
            status = 200u16,
            latency_ms = 1.234,
            "request"
        );
    }
    let tracing_line = started.elapsed() / LINES;

    let emf = Emf { namespace: "HealthcareApi".into(), function: "patients" };
    let recorded = Recorded { database: Duration::from_micros(812), login: None, emergency_access: false };
    let started = Instant::now();
    for _ in 0..LINES {
        emit(emf.request(&RequestLine {
            lambda_request_id: Some(&request_id),
            request_id: &request_id,
            method: "GET",
            route: "/api/patients/{id}",
            status: 200,
            latency: Duration::from_micros(1234),
            recorded,
        }));
    }
    let emf_line = started.elapsed() / LINES;
    eprintln!(
        "{{\"tracing_line_us\": {:.2}, \"emf_line_us\": {:.2}}}",
        tracing_line.as_secs_f64() * 1e6,
        emf_line.as_secs_f64() * 1e6
    );
}
