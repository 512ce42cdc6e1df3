//! The auth-service: owns users, password hashes, refresh tokens and signing keys; checks
//! passwords and issues signed access tokens.

pub mod cli;
pub mod configuration;
pub mod db;
pub mod error;
pub mod introspection;
pub mod keys;
pub mod limiter;
pub mod metrics;
pub mod openapi;
pub mod password;
pub mod refresh;
pub mod revocation;
pub mod routes;
pub mod startup;
pub mod tokens;
pub mod users;
