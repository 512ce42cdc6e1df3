//! The gateway: the only public entry point. Answers `GET /` itself, verifies tokens on
//! protected routes and proxies each request to the upstream its route names.

pub mod auth;
pub mod configuration;
pub mod cors;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod pool;
pub mod proxy;
pub mod rate_limit;
pub mod routes;
pub mod routing;
pub mod startup;
pub mod state;
pub mod upstream;
