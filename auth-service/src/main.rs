use std::process::ExitCode;

/// Returns the memory of finished work to the system more readily than glibc's allocator
/// (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use auth_service::cli::{self, Command};
use auth_service::configuration::Settings;
use auth_service::startup::Application;

#[actix_web::main]
async fn main() -> anyhow::Result<ExitCode> {
    let command = cli::parse(std::env::args().skip(1).collect());
    if command == Command::Help {
        println!("{}", cli::USAGE);
        return Ok(ExitCode::SUCCESS);
    }
    let settings = Settings::load()?;
    match command {
        Command::HealthCheck => {
            return Ok(service_kit::health::probe_exit_code(
                settings.application.port,
            ));
        }
        Command::Admin(args) => {
            cli::run(settings, &args, &mut std::io::stdout()).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Serve | Command::Help => {}
    }
    service_kit::telemetry::init(settings.telemetry.format);
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "auth-service listening");
    application.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}
