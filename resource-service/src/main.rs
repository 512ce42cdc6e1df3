use std::process::ExitCode;

use clap::Parser;

use resource_service::configuration::Settings;
use resource_service::startup::Application;
use service_kit::cli::{CommonArgs, CommonCommand, Next};

/// Serves the protected endpoints; trusts the identity the gateway forwards.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Option<CommonCommand>,
}

#[actix_web::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let loaded = Settings::load(cli.common.config.as_deref());
    let command = cli.command.unwrap_or(CommonCommand::Serve);
    let settings = match service_kit::cli::common(command, loaded, |s| s.application.port)? {
        Next::Serve(settings) => settings,
        Next::Exit(code) => return Ok(code),
    };
    // Kept until the server has stopped, so the last lines are written out.
    let _logs = service_kit::telemetry::init_with(&settings.telemetry, "resource-service")?;
    let application = Application::build(settings)?;
    tracing::info!(port = application.port(), "resource-service listening");
    application.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}
