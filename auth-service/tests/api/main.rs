//! Integration tests of the auth-service: the real service on port 0, driven over HTTP,
//! on SQLite and (when `TEST_DATABASE_URL` names a server) on PostgreSQL.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod cli;
mod durability;
mod edge;
mod hashing;
mod health;
mod helpers;
mod introspection;
mod keys;
mod lifecycle;
mod limits;
mod login;
mod metrics;
mod openapi;
mod process;
mod refresh;
mod refresh_limits;
mod register;
mod revocations;
mod shared_limits;
