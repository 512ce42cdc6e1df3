use std::process::ExitCode;

use resource_service::configuration::Settings;
use resource_service::startup::Application;

#[actix_web::main]
async fn main() -> anyhow::Result<ExitCode> {
    let settings = Settings::load()?;
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return Ok(service_kit::health::probe_exit_code(
            settings.application.port,
        ));
    }
    service_kit::telemetry::init(settings.telemetry.format);
    let application = Application::build(settings)?;
    tracing::info!(port = application.port(), "resource-service listening");
    application.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}
