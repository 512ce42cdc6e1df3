use auth_service::configuration::Settings;
use auth_service::startup::Application;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    service_kit::telemetry::init(settings.telemetry.format);
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "auth-service listening");
    application.run_until_stopped().await?;
    Ok(())
}
