//! The HTTP stack every function shares, on Lambda and locally alike: `app` wraps a
//! function's Router with path normalisation, request context, security headers,
//! panic capture, one log line per request (with its metrics on Lambda: metrics.rs), and envelope answers for unknown routes
//! and methods.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};

use crate::request_id::REQUEST_ID;
use crate::{ApiError, metrics};

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// API Gateway's request id on AWS; generated locally.
    pub request_id: String,
    pub source_ip: Option<IpAddr>,
}

impl RequestMeta {
    /// For building statements outside a request (the schema test).
    pub fn placeholder() -> Self {
        Self { request_id: String::new(), source_ip: None }
    }

    fn of(request: &Request) -> Self {
        let lambda = request.extensions().get::<lambda_http::request::RequestContext>().and_then(|ctx| match ctx {
            lambda_http::request::RequestContext::ApiGatewayV2(ctx) => Some(ctx),
            #[allow(unreachable_patterns)]
            _ => None,
        });
        let request_id =
            lambda.and_then(|ctx| ctx.request_id.clone()).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let source_ip = match lambda {
            Some(ctx) => ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
            None => request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip()),
        };
        Self { request_id, source_ip }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestMeta>()
            .cloned()
            .ok_or_else(|| ApiError::internal("RequestMeta missing: the router was not wrapped by shared::http::app"))
    }
}

/// The service a function serves: its Router plus everything above.
pub type App = NormalizePath<Router>;

pub fn app(router: Router) -> App {
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(request_context));
    // Outside the Router, so `/api/patients/` is routed as `/api/patients`.
    NormalizePathLayer::trim_trailing_slash().layer(router)
}

async fn request_context(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let meta = RequestMeta::of(&request);
    let method = request.method().clone();
    // The route template, never the raw path or query: those can carry names (`?q=`).
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    request.extensions_mut().insert(meta.clone());

    let request_id = meta.request_id.clone();
    // Copied out only when a metrics line will carry it: the request moves on below.
    let lambda_request_id =
        metrics::emf().and(request.extensions().get::<lambda_runtime::Context>()).map(|c| c.request_id.clone());
    let (mut response, recorded) = metrics::scoped(REQUEST_ID.scope(request_id.clone(), next.run(request))).await;

    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let route = route.as_deref().unwrap_or("(unmatched)");
    let latency = started.elapsed();
    match metrics::emf() {
        Some(emf) => metrics::emit(emf.request(&metrics::RequestLine {
            lambda_request_id: lambda_request_id.as_deref(),
            request_id: &request_id,
            method: method.as_str(),
            route,
            status: response.status().as_u16(),
            latency,
            recorded,
        })),
        None => tracing::info!(
            request_id = %request_id,
            method = %method,
            route,
            status = response.status().as_u16(),
            latency_ms = latency.as_secs_f64() * 1000.0,
            database_ms = recorded.database.as_secs_f64() * 1000.0,
            login = recorded.login,
            "request"
        ),
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound("No such route.".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A handler's panic as a 500, never a dropped connection.
pub fn panic_response(_: Box<dyn std::any::Any + Send>) -> Response {
    ApiError::internal("a handler panicked").into_response()
}
