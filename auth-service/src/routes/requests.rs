//! The JSON bodies the auth-service takes: read field by field (so that a 400 names the field
//! that is wrong, see `body`), and described for the OpenAPI document from the same limits,
//! so that the document cannot drift from what the service accepts.

use actix_web::HttpRequest;
use secrecy::SecretString;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, schema::SchemaType};
use utoipa::{PartialSchema, ToSchema};

use super::body::json_object;
use crate::error::ApiError;
use crate::users::{MAX_USERNAME_CHARS, MIN_PASSWORD_CHARS, USERNAME_PATTERN};

/// Longest username accepted at login, in characters (registration allows 64).
pub const MAX_USERNAME_LENGTH: usize = 256;
/// Longest password accepted, in characters. With the body limit, bounds the hashing work
/// one request can cause.
pub const MAX_PASSWORD_LENGTH: usize = 1024;
/// Longest refresh token accepted, in characters; ours are 43.
pub const MAX_REFRESH_TOKEN_LENGTH: usize = 256;

/// `POST /login`: a username and a password, checked against the store.
#[derive(Debug)]
pub struct Credentials {
    /// Who logs in.
    pub username: String,
    /// Their password.
    pub password: SecretString,
}

impl Credentials {
    /// The credentials in `body`, or 400/415 naming what is wrong.
    pub fn read(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        let mut fields = json_object(req, body)?;
        Ok(Self {
            username: fields.string("username", MAX_USERNAME_LENGTH)?,
            password: SecretString::from(fields.string("password", MAX_PASSWORD_LENGTH)?),
        })
    }
}

/// `POST /register`: the same fields as a login, under the rules a new account must meet
/// (checked by `users::validate_username` and `users::validate_password`).
#[derive(Debug)]
pub struct NewUser(pub Credentials);

impl NewUser {
    /// The fields in `body`, or 400/415 naming what is wrong; the rules of a new account
    /// are checked when it is created.
    pub fn read(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        Credentials::read(req, body).map(Self)
    }
}

/// `POST /refresh` and `POST /logout`: a refresh token.
#[derive(Debug)]
pub struct RefreshRequest {
    /// The token presented.
    pub refresh_token: String,
}

impl RefreshRequest {
    /// The token in `body`, or 400/415 naming what is wrong.
    pub fn read(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        let refresh_token =
            json_object(req, body)?.string("refresh_token", MAX_REFRESH_TOKEN_LENGTH)?;
        Ok(Self { refresh_token })
    }
}

/// A string property of at least `min` and at most `max` characters.
fn text(description: &str, min: usize, max: usize) -> ObjectBuilder {
    let builder = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some(description))
        .max_length(Some(max));
    if min > 0 {
        builder.min_length(Some(min))
    } else {
        builder
    }
}

/// An object with these string properties, all required. Other properties are ignored.
fn object(properties: Vec<(&str, ObjectBuilder)>) -> RefOr<Schema> {
    let mut builder = ObjectBuilder::new().schema_type(SchemaType::Type(Type::Object));
    for (name, property) in properties {
        builder = builder.property(name, property).required(name);
    }
    builder.into()
}

impl PartialSchema for Credentials {
    fn schema() -> RefOr<Schema> {
        object(vec![
            ("username", text("The username.", 0, MAX_USERNAME_LENGTH)),
            ("password", text("The password.", 0, MAX_PASSWORD_LENGTH)),
        ])
    }
}

impl ToSchema for Credentials {}

impl PartialSchema for NewUser {
    fn schema() -> RefOr<Schema> {
        let username = text(
            "No control characters, no blank ends.",
            1,
            MAX_USERNAME_CHARS,
        )
        .pattern(Some(USERNAME_PATTERN));
        object(vec![
            ("username", username),
            (
                "password",
                text("The password.", MIN_PASSWORD_CHARS, MAX_PASSWORD_LENGTH),
            ),
        ])
    }
}

impl ToSchema for NewUser {}

impl PartialSchema for RefreshRequest {
    fn schema() -> RefOr<Schema> {
        object(vec![(
            "refresh_token",
            text(
                "The refresh token of the last login or refresh.",
                0,
                MAX_REFRESH_TOKEN_LENGTH,
            ),
        )])
    }
}

impl ToSchema for RefreshRequest {}
