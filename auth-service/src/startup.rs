//! Building the auth-service: database, stores, keys, routes, middleware, listener.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Service;
use actix_web::{App, web};
use ipnet::IpNet;
use service_kit::openapi::Document;
use service_kit::{errors, health, middleware, server};
use tokio::task::AbortHandle;

use crate::configuration::{Settings, SigningAlgorithm, UserSettings};
use crate::db::{self, Pool};
use crate::introspection::{self, Listener, TokenEndpoints};
use crate::keys::KeyRing;
use crate::limiter::LoginLimiter;
use crate::metrics::{Counted, Metrics};
use crate::password::PasswordHasher;
use crate::refresh::{RefreshLimiter, RefreshStore};
use crate::revocation::Revoker;
use crate::revocation::stream::{self, Feed};
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
    pub tokens: Arc<TokenIssuer>,
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
pub struct Application {
    server: server::BoundServer,
    admin: server::BoundServer,
    tasks: BackgroundTasks,
}

/// The service's background tasks (key reloads, revocation polls, refresh-token purges), aborted when the
/// application that started them is dropped or stops.
#[derive(Debug, Default)]
struct BackgroundTasks(Vec<AbortHandle>);

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Application {
    /// Opens the database, creates configured users and the first key if missing, and binds
    /// the listener; serving starts with [`Self::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = db::connect(&settings.database).await?;
        // Counts several instances on one PostgreSQL database share (`limits.store`).
        let shared_limits = settings
            .limits
            .in_database(settings.database.is_postgres())?;
        let hashing = &settings.hashing;
        let metrics = Arc::new(Metrics::default());
        let hasher = PasswordHasher::new(
            hashing.threads(),
            hashing.max_waiting,
            Duration::from_secs(hashing.busy_retry_after_seconds),
        )
        .recording_waits(metrics.hash_wait.clone());
        let users = UserStore::new(pool.clone(), hasher.clone());
        bootstrap_users(&users, &settings.users).await?;
        let mut tasks = BackgroundTasks::default();
        let keys = match settings.jwt.algorithm {
            SigningAlgorithm::EdDSA => {
                let ring = Arc::new(
                    KeyRing::load(pool.clone(), settings.jwt.access_token_ttl_seconds).await?,
                );
                let every = Duration::from_secs(settings.keys.reload_interval_seconds);
                tasks.0.push(ring.spawn_reloader(every).abort_handle());
                Some(ring)
            }
            SigningAlgorithm::HS256 => None,
        };
        let revoker = Revoker::new(&settings.jwt.issuer, settings.jwt.access_token_ttl_seconds);
        let streamed = &settings.revocations;
        let feed = Feed::new(
            pool.clone(),
            Duration::from_millis(streamed.heartbeat_interval_ms),
            metrics.feed.clone(),
        )
        .await?;
        let poller = feed.spawn_poller(
            Duration::from_millis(streamed.poll_interval_ms),
            keys.clone(),
        );
        tasks.0.push(poller.abort_handle());
        let refresh = RefreshStore::new(
            pool.clone(),
            settings.jwt.refresh_token_ttl_seconds,
            settings.jwt.refresh_reuse_grace_seconds,
            revoker.clone(),
        )
        .limited_by(if shared_limits {
            RefreshLimiter::in_database(&settings.refresh)
        } else {
            RefreshLimiter::in_memory(&settings.refresh)
        });
        let tokens = Arc::new(TokenIssuer::new(&settings.jwt, keys.clone())?);
        let endpoints = Arc::new(TokenEndpoints::new(
            &settings.introspection,
            pool.clone(),
            Arc::clone(&tokens),
            refresh.clone(),
            revoker,
        )?);
        let on_public = settings.introspection.listener == Listener::Public;
        let (public_endpoints, admin_endpoints) = if on_public {
            (Some(introspection::configure(endpoints)), None)
        } else {
            (None, Some(introspection::configure(endpoints)))
        };
        let purge = &settings.refresh;
        let purger = refresh.spawn_purger(
            Duration::from_secs(purge.purge_interval_seconds),
            purge.purge_batch_size,
        );
        tasks.0.push(purger.abort_handle());
        let limiter = if shared_limits {
            LoginLimiter::in_database(&settings.login, pool.clone())
        } else {
            LoginLimiter::in_memory(&settings.login)
        };
        let state = web::Data::new(AppState {
            refresh,
            tokens,
            keys,
            users,
            pool,
            limiter,
            registration_enabled: settings.registration.enabled,
            trusted_proxies: settings.login.trusted_proxies.clone(),
            issuer: settings.jwt.issuer.clone(),
            public_url: settings.public_url.clone(),
        });
        let counted = Arc::clone(&metrics);
        let document = Document::new(crate::openapi::document()?);
        let server = server::start(&settings.application, move || {
            let metrics = Arc::clone(&counted);
            let document = document.clone();
            middleware::stack(App::new())
                .wrap_fn(move |req, srv| {
                    // Only the counted endpoints pay for the counting.
                    let counted = Counted::of(req.path()).map(|e| (e, Arc::clone(&metrics)));
                    let answer = srv.call(req);
                    async move {
                        let res = answer.await?;
                        if let Some((endpoint, metrics)) = counted {
                            metrics.observe(endpoint, &res);
                        }
                        Ok(res)
                    }
                })
                .app_data(state.clone())
                .configure(health::configure_live)
                .configure(|cfg| document.configure(cfg))
                .configure(routes::configure)
                .configure(|cfg| {
                    if let Some(endpoints) = &public_endpoints {
                        endpoints(cfg);
                    }
                })
                .default_service(web::to(errors::not_found))
        })?;
        let admin = service_kit::admin::start_with(
            &settings.admin,
            Arc::new(move || metrics.encode(&hasher)),
            {
                let stream = stream::configure(feed);
                move |cfg: &mut web::ServiceConfig| {
                    stream(cfg);
                    if let Some(endpoints) = &admin_endpoints {
                        endpoints(cfg);
                    }
                }
            },
        )?;
        Ok(Self {
            server,
            admin,
            tasks,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The port of the admin listener (`GET /metrics`).
    pub fn admin_port(&self) -> u16 {
        self.admin.port()
    }

    /// Handles of the background tasks, to see that they run and end with the application.
    pub fn background_tasks(&self) -> Vec<AbortHandle> {
        self.tasks.0.clone()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests; the background tasks
    /// end with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            server,
            admin,
            tasks,
        } = self;
        let admin_handle = admin.handle();
        let admin = tokio::spawn(admin.run_until_stopped());
        let result = server.run_until_stopped().await;
        // Not gracefully: gateways' revocation streams never end by themselves, and would
        // hold the shutdown for its whole timeout. They reconnect to another instance.
        admin_handle.stop(false).await;
        let _ = admin.await;
        drop(tasks);
        result
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
