//! The auth-service: checks passwords and issues signed access tokens.

pub mod configuration;
pub mod error;
pub mod password;
pub mod routes;
pub mod startup;
pub mod tokens;
pub mod users;
