//! Starting the resource-service for a test and talking to it as the gateway would.

use resource_service::configuration::Settings;
use resource_service::startup::Application;
use service_kit::assertion::IdentitySigner;
use service_kit::testing::local_settings_on_free_ports;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub signer: IdentitySigner,
    pub settings: Settings,
}

pub use service_kit::clock::unix_seconds as now;

/// The local profile on a free port, isolated from the shell's environment.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The same after `adjust` has had its say about the settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings =
        local_settings_on_free_ports("RESOURCE", &["application"], Settings::load_with);
    adjust(&mut settings);
    let signer = IdentitySigner::new(&settings.identity.secret).unwrap();
    let app = Application::build(settings.clone()).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        signer,
        settings,
    }
}

impl TestApp {
    /// `GET /protected` with exactly these headers.
    pub async fn get_protected(&self, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(format!("{}/protected", self.address));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// The gateway's assertion over `headers` for `GET path`, made at `time`.
    pub fn assertion(&self, headers: &[(&str, &str)], path: &str, time: u64) -> String {
        let lookup = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        self.signer.sign(time, "GET", path, lookup)
    }

    /// `GET /protected` with `headers` signed as the gateway signs them.
    pub async fn get_protected_signed(&self, headers: &[(&str, &str)]) -> reqwest::Response {
        let signature = self.assertion(headers, "/protected", now());
        let mut all = headers.to_vec();
        all.push(("x-auth-signature", &signature));
        self.get_protected(&all).await
    }
}
