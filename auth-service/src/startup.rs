//! Building the auth-service: database, stores, keys, routes, middleware, listener.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, web};
use ipnet::IpNet;
use service_kit::{errors, health, middleware, server};

use crate::configuration::{Settings, SigningAlgorithm, UserSettings};
use crate::db::{self, Pool};
use crate::keys::KeyRing;
use crate::limiter::LoginLimiter;
use crate::password::PasswordHasher;
use crate::refresh::RefreshStore;
use crate::routes;
use crate::tokens::TokenIssuer;
use crate::users::{CreateUserError, UserStore};

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The database pool (readiness).
    pub pool: Pool,
    /// Users and their password hashes.
    pub users: UserStore,
    /// Refresh tokens.
    pub refresh: RefreshStore,
    /// Access-token signer.
    pub tokens: TokenIssuer,
    /// Signing keys (EdDSA mode only).
    pub keys: Option<Arc<KeyRing>>,
    /// Failed-login counters.
    pub limiter: LoginLimiter,
    /// Whether `POST /register` is open.
    pub registration_enabled: bool,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The `iss` of our tokens.
    pub issuer: String,
    /// Where clients reach the system; the base of the URLs discovery publishes.
    pub public_url: String,
}

/// A bound, not yet running, auth-service.
#[derive(Debug)]
pub struct Application(server::BoundServer);

impl Application {
    /// Opens the database, creates configured users and the first key if missing, and binds
    /// the listener; serving starts with [`Self::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = db::connect(&settings.database).await?;
        let users = UserStore::new(pool.clone(), PasswordHasher::default());
        bootstrap_users(&users, &settings.users).await?;
        let keys = match settings.jwt.algorithm {
            SigningAlgorithm::EdDSA => {
                let ring = Arc::new(
                    KeyRing::load(pool.clone(), settings.jwt.access_token_ttl_seconds).await?,
                );
                ring.spawn_reloader(Duration::from_secs(settings.keys.reload_interval_seconds));
                Some(ring)
            }
            SigningAlgorithm::HS256 => None,
        };
        let state = web::Data::new(AppState {
            refresh: RefreshStore::new(
                pool.clone(),
                settings.jwt.refresh_token_ttl_seconds,
                settings.jwt.refresh_reuse_grace_seconds,
            ),
            tokens: TokenIssuer::new(&settings.jwt, keys.clone())?,
            keys,
            users,
            pool,
            limiter: LoginLimiter::new(&settings.login),
            registration_enabled: settings.registration.enabled,
            trusted_proxies: settings.login.trusted_proxies.clone(),
            issuer: settings.jwt.issuer.clone(),
            public_url: settings.public_url.clone(),
        });
        let server = server::start(&settings.application, move || {
            middleware::stack(App::new())
                .app_data(state.clone())
                .configure(health::configure_live)
                .configure(routes::configure)
                .default_service(web::to(errors::not_found))
        })?;
        Ok(Self(server))
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.0.run_until_stopped().await
    }
}

/// Creates the configured users that do not exist yet; existing ones are left as they are
/// (their passwords may have been changed since).
async fn bootstrap_users(users: &UserStore, settings: &UserSettings) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let created = |result: Result<_, CreateUserError>, username: &str| match result {
        Ok(_) => {
            tracing::info!(username, "bootstrap user created");
            Ok(())
        }
        Err(CreateUserError::Taken) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("bootstrap user {username:?}: {e}")),
    };
    for demo in &settings.demo {
        if users.find(&demo.username).await?.is_none() {
            let result = match (&demo.password, &demo.password_hash) {
                (_, Some(hash)) => {
                    users
                        .create_with_hash(&demo.username, hash.expose_secret(), &demo.roles)
                        .await
                }
                (Some(password), None) => {
                    users
                        .create(&demo.username, password.clone(), &demo.roles)
                        .await
                }
                (None, None) => Err(CreateUserError::Invalid("no password".into())),
            };
            created(result, &demo.username)?;
        }
    }
    for user in &settings.bootstrap {
        let result = users
            .create_with_hash(
                &user.username,
                user.password_hash.expose_secret(),
                &user.roles,
            )
            .await;
        created(result, &user.username)?;
    }
    Ok(())
}
