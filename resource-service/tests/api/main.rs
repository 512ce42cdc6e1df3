//! Integration tests of the resource-service: the real service on port 0, driven over HTTP.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod edge;
mod helpers;
mod openapi;
mod protected;
