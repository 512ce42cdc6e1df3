//! Integration tests of the auth-service: the real service on port 0, driven over HTTP.

mod health;
mod helpers;
mod login;
