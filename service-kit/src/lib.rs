//! Plumbing every service shares, so that the three services behave alike at the edges:
//! layered settings, telemetry, request ids, header limits, JSON error bodies, health checks,
//! the OpenAPI document's endpoint and server startup. Business logic never lives here.

pub mod admin;
pub mod assertion;
pub mod cli;
pub mod clock;
pub mod configuration;
pub mod env_overrides;
pub mod errors;
pub mod health;
pub mod middleware;
pub mod openapi;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod secrets;
pub mod server;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod trace;

pub use errors::json_error;
pub use middleware::RequestId;
