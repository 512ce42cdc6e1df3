//! Integration tests of the resource-service: the real service on port 0, driven over HTTP.

mod helpers;
mod protected;
