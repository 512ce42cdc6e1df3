//! Building the resource-service: routes, middleware, listener.

use actix_web::{App, web};
use service_kit::assertion::IdentitySigner;
use service_kit::openapi::Document;
use service_kit::{errors, health, middleware, server};

use crate::configuration::Settings;
use crate::routes;

/// A bound, not yet running, resource-service.
#[derive(Debug)]
pub struct Application(server::BoundServer);

impl Application {
    /// Binds the listener; serving starts with [`Self::run_until_stopped`].
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let signer = web::Data::new(IdentitySigner::new(&settings.identity.secret)?);
        let document = Document::new(crate::openapi::document()?);
        let server = server::start(&settings.application, move || {
            let document = document.clone();
            middleware::stack(App::new())
                .app_data(signer.clone())
                .configure(health::configure)
                .configure(|cfg| document.configure(cfg))
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
