use std::process::ExitCode;

/// Proxying allocates and frees many small buffers per request; mimalloc does that
/// markedly faster than the system allocator (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use gateway::configuration::Settings;
use gateway::startup::Application;

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
    tracing::info!(port = application.port(), "gateway listening");
    application.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}
