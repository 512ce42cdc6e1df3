//! Every path the gateway does not answer itself: route, authenticate, forward, and count.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use service_kit::RequestId;

use crate::auth;
use crate::configuration::Access;
use crate::error::GatewayError;
use crate::metrics::{ReasonLabels, RequestLabels, RouteLabels};
use crate::routing::{Route, is_safe_path};
use crate::startup::GatewayState;

/// Finds the route for the path, checks the token (and roles) when the route is protected,
/// forwards the request with the verified identity, and records the outcome.
pub async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<GatewayState>,
    request_id: RequestId,
) -> Result<HttpResponse, GatewayError> {
    let started = Instant::now();
    let path = req.path();
    let safe = is_safe_path(path);
    let route = if safe { state.routes.find(path) } else { None };
    let result = match route {
        None if !safe => Err(GatewayError::UnsafePath),
        None => Err(GatewayError::NotFound),
        Some(route) => authenticate_and_forward(&req, payload, &state, route, &request_id).await,
    };
    let label = route.map_or("none", |r| r.prefix);
    record(&state, label, started, &result);
    result
}

async fn authenticate_and_forward(
    req: &HttpRequest,
    payload: web::Payload,
    state: &GatewayState,
    route: &Route,
    request_id: &RequestId,
) -> Result<HttpResponse, GatewayError> {
    let identity = match route.access {
        Access::Public => None,
        Access::Protected => {
            let token = auth::token_from(req.headers()).ok_or(GatewayError::TokenMissing)?;
            let identity = state.verifier.verify(token).await?;
            if !route.admits(&identity.identity.roles) {
                return Err(GatewayError::MissingRole);
            }
            Some(identity)
        }
    };
    state
        .proxy
        .forward(
            req,
            payload,
            &route.upstream,
            identity.as_deref(),
            request_id,
        )
        .await
}

fn record(
    state: &GatewayState,
    route: &'static str,
    started: Instant,
    result: &Result<HttpResponse, GatewayError>,
) {
    let metrics = &state.metrics;
    let status = match result {
        Ok(response) => response.status().as_u16(),
        Err(error) => error.status_code().as_u16(),
    };
    match result {
        Err(GatewayError::TokenInvalid(reason)) => {
            metrics
                .token_rejections
                .get_or_create(&ReasonLabels {
                    reason: reason.to_string(),
                })
                .inc();
        }
        Err(GatewayError::UpstreamUnavailable { upstream, .. }) => {
            metrics.upstream_error(upstream, "unavailable")
        }
        Err(GatewayError::UpstreamTimeout(upstream)) => metrics.upstream_error(upstream, "timeout"),
        Err(GatewayError::NoHealthyInstance(upstream)) => {
            metrics.upstream_error(upstream, "no_healthy_instance")
        }
        _ => {}
    }
    metrics
        .duration
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels { route, status })
        .inc();
}
