//! Wire types shared by every service: what travels between the client, the gateway and the
//! services. Depends on serde and nothing else: no framework, no business logic. With the
//! `openapi` feature, the types describe themselves as OpenAPI schemas (`utoipa::ToSchema`)
//! for the services' documents.

pub mod claims;
pub mod error;
pub mod headers;
pub mod identity;
pub mod login;
pub mod openapi;
pub mod revocation;

pub use claims::Claims;
pub use error::{ErrorBody, messages};
pub use identity::Identity;
