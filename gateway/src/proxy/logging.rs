//! Stage 5, logging: every request's outcome counted, whoever answered it. The per-request
//! log line itself comes from the request-span middleware.

use std::sync::Arc;

use actix_web::{HttpResponse, ResponseError};

use crate::error::{GatewayError, Refusal};
use crate::metrics::{Metrics, ReasonLabels, RequestLabels, RouteLabels};
use crate::proxy::context::RequestContext;

/// Counts the request under its route (`none` when no route matched) and status, its
/// duration, and the token rejection or upstream failure it ended in, if any.
pub fn logging(
    metrics: &Metrics,
    ctx: &RequestContext<'_>,
    result: &Result<HttpResponse, GatewayError>,
) {
    let route = Arc::clone(ctx.route.map_or(&metrics.unmatched, |r| &r.prefix));
    let status = match result {
        Ok(response) => response.status().as_u16(),
        Err(error) => error.status_code().as_u16(),
    };
    if let Err(error) = result {
        if let GatewayError::Refused { refusal, .. } = error {
            let why = match refusal {
                Refusal::TokenMissing => "missing_token",
                Refusal::TokenInvalid(_) => "invalid_token",
                Refusal::MissingRole => "role_denied",
            };
            metrics
                .refusals
                .get_or_create(&ReasonLabels { reason: why })
                .inc();
            if let Refusal::TokenInvalid(reason) = refusal {
                metrics
                    .token_rejections
                    .get_or_create(&ReasonLabels {
                        reason: reason.label(),
                    })
                    .inc();
            }
        }
        if let Some((upstream, kind)) = error.upstream_failure() {
            metrics.upstream_error(upstream, kind);
        }
    }
    metrics
        .duration
        .get_or_create(&RouteLabels {
            route: Arc::clone(&route),
        })
        .observe(ctx.started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels { route, status })
        .inc();
}
