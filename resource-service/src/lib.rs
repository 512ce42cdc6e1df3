//! The resource-service: the protected endpoints, answering for the identity the gateway
//! verified and forwarded.

pub mod configuration;
pub mod identity;
pub mod openapi;
pub mod routes;
pub mod startup;
