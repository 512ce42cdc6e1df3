use auth_service::cli::{self, Command};
use auth_service::configuration::Settings;
use auth_service::startup::Application;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let command = cli::parse(std::env::args().skip(1).collect());
    if command == Command::Help {
        println!("{}", cli::USAGE);
        return Ok(());
    }
    let settings = Settings::load()?;
    if let Command::Admin(args) = command {
        return cli::run(settings, &args, &mut std::io::stdout()).await;
    }
    service_kit::telemetry::init(settings.telemetry.format);
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "auth-service listening");
    application.run_until_stopped().await?;
    Ok(())
}
