//! Starting the resource-service for a test and talking to it.

use std::collections::HashMap;

use resource_service::configuration::Settings;
use resource_service::startup::Application;
use service_kit::configuration::{EnvVars, Environment};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
}

/// The local profile on a free port, isolated from the shell's environment.
pub async fn spawn_app() -> TestApp {
    let mut settings =
        Settings::load_with(Environment::Local, EnvVars::Given(HashMap::new())).unwrap();
    settings.application.port = 0;
    let app = Application::build(settings).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
    }
}

impl TestApp {
    /// `GET /protected` with the given headers.
    pub async fn get_protected(&self, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(format!("{}/protected", self.address));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }
}
