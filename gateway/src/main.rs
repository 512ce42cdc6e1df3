use gateway::configuration::Settings;
use gateway::startup::Application;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    service_kit::telemetry::init(settings.telemetry.format);
    let application = Application::build(settings)?;
    tracing::info!(port = application.port(), "gateway listening");
    application.run_until_stopped().await?;
    Ok(())
}
