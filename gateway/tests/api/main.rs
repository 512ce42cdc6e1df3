//! Integration tests of the gateway: the real gateway on port 0 in front of real HTTP
//! servers standing in for the upstreams.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod access_log;
mod assertions;
mod balancing;
mod cli;
mod client_address;
mod connections;
mod edge;
mod forward_auth;
mod helpers;
mod hop_by_hop;
mod identity_provider;
mod jwks;
mod lifecycle;
mod openapi;
mod openapi_merge;
mod openapi_upstreams;
mod operations;
mod providers;
mod proxy;
mod rate_limits;
mod revocation;
mod tls;
mod tokens;
mod trace_context;
mod welcome;
