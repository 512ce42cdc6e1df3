//! Starting the gateway in front of stand-in upstreams, and minting tokens for it.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use gateway::configuration::{Access, RouteSettings, Settings, UpstreamSettings, VerificationMode};
use gateway::startup::Application;
use jsonwebtoken::Header;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use service_kit::testing::{hs256_token, local_settings_on_free_ports, token_with};

/// Request timeout the test gateway runs with; `/slow` upstream answers take longer.
pub const REQUEST_TIMEOUT_MS: u64 = 500;
/// Body limit the test gateway runs with.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct TestApp {
    pub address: String,
    pub admin_address: String,
    pub handle: actix_web::dev::ServerHandle,
    pub client: reqwest::Client,
    pub settings: Settings,
}

/// Size of each chunk of a `/stream/...` answer.
pub const STREAM_CHUNK_BYTES: usize = 16 * 1024;

/// An upstream that answers every request with what it received, as JSON. `/slow/...`
/// answers after two seconds; `/status/<code>` answers with that status;
/// `/stream/<n>` answers `n` chunks of [`STREAM_CHUNK_BYTES`] `x`s with no declared length;
/// `/stall` sends one chunk, then nothing for two seconds.
async fn echo(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let path = req.path().to_owned();
    if path.starts_with("/slow") {
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    }
    if let Some(count) = path.strip_prefix("/stream/").and_then(|n| n.parse().ok()) {
        let chunks =
            futures_util::stream::iter((0..count).map(|_| {
                Ok::<_, std::io::Error>(web::Bytes::from(vec![b'x'; STREAM_CHUNK_BYTES]))
            }));
        return HttpResponse::Ok().streaming(chunks);
    }
    if path.starts_with("/stall") {
        let chunks = futures_util::stream::unfold(0, |sent| async move {
            if sent > 0 {
                actix_web::rt::time::sleep(Duration::from_secs(2)).await;
            }
            (sent < 2).then(|| (Ok::<_, std::io::Error>(web::Bytes::from("part;")), sent + 1))
        });
        return HttpResponse::Ok().streaming(chunks);
    }
    let status = path
        .strip_prefix("/status/")
        .and_then(|code| code.parse().ok())
        .unwrap_or(200);
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("<binary>").to_owned()))
        .collect();
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .insert_header(("x-upstream", "echo"))
        .json(json!({
            "method": req.method().as_str(),
            "path": path,
            "query": req.query_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
            "instance": req.app_config().local_addr().port(),
        }))
}

pub fn spawn_echo_upstream() -> String {
    spawn_echo_upstream_at("127.0.0.1:0").0
}

/// An echo upstream on `address`; returns its URL and a handle to stop it.
pub fn spawn_echo_upstream_at(address: &str) -> (String, actix_web::dev::ServerHandle) {
    let server = HttpServer::new(|| {
        App::new()
            .app_data(web::PayloadConfig::new(16 << 20))
            .default_service(web::to(echo))
    })
    .workers(1)
    .bind(address)
    .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (url, handle)
}

/// Adds upstream `name` made of `urls` (comma-separated) and a public route `/<name>` to it.
pub fn route_to_upstream(settings: &mut Settings, name: &str, urls: String) {
    settings
        .upstreams
        .insert(name.into(), UpstreamSettings { url: urls });
    settings.routes.push(RouteSettings {
        path: format!("/{name}"),
        upstream: name.into(),
        access: Access::Public,
        roles: vec![],
        rate_limit: Default::default(),
    });
}

/// An address nothing listens on.
pub fn closed_port_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    address
}

/// The gateway's local profile with the seed's routes pointed at an echo upstream, plus
/// `/public` (public, echo), `/slow` (public, echo, slower than the timeout) and `/down`
/// (public, nothing listening), `/admin` (protected, needs role admin or ops). Tokens are
/// HS256 with the local secret.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The settings [`spawn_app`] runs with: local ones on free ports, echo upstreams behind
/// the test routes, HS256.
pub fn spawn_settings() -> Settings {
    let mut settings =
        local_settings_on_free_ports("GATEWAY", &["application", "admin"], Settings::load_with);
    settings.proxy.request_timeout_ms = REQUEST_TIMEOUT_MS;
    settings.proxy.max_body_bytes = MAX_BODY_BYTES;
    settings.jwt.mode = VerificationMode::Hs256;
    // No auth-service here: no revocation stream (tests of revocation set one).
    settings.revocations.url = String::new();
    let echo = spawn_echo_upstream();
    settings.upstreams = HashMap::from([
        ("auth".into(), UpstreamSettings { url: echo.clone() }),
        ("resource".into(), UpstreamSettings { url: echo }),
        (
            "dead".into(),
            UpstreamSettings {
                url: closed_port_address(),
            },
        ),
    ]);
    let route = |path: &str, upstream: &str, access| RouteSettings {
        path: path.into(),
        upstream: upstream.into(),
        access,
        roles: vec![],
        rate_limit: Default::default(),
    };
    settings.routes = vec![
        route("/login", "auth", Access::Public),
        route("/protected", "resource", Access::Protected),
        route("/public", "auth", Access::Public),
        route("/slow", "auth", Access::Public),
        route("/status", "auth", Access::Public),
        route("/stream", "auth", Access::Public),
        route("/stall", "auth", Access::Public),
        route("/down", "dead", Access::Public),
        RouteSettings {
            roles: vec!["admin".into(), "ops".into()],
            ..route("/admin", "resource", Access::Protected)
        },
    ];
    settings
}

/// The same gateway after `adjust` has had its say about the settings. HS256 unless
/// `adjust` says otherwise: JWKS mode needs a JWKS URL that something answers on.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = spawn_settings();
    adjust(&mut settings);
    let app = Application::build(settings.clone()).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin_address = format!("http://127.0.0.1:{}", app.admin_port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        admin_address,
        handle,
        client: reqwest::Client::new(),
        settings,
    }
}

pub use service_kit::clock::unix_seconds as now;

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Claims the gateway accepts, for `user`.
    pub fn claims(&self, user: &str) -> Value {
        let now = now();
        json!({
            "user": user, "sub": format!("sub-{user}"), "roles": ["reader"],
            "iat": now, "nbf": now, "exp": now + 3600,
            "iss": self.settings.jwt.issuer, "aud": self.settings.jwt.audience,
            "jti": "jti-1",
        })
    }

    /// Signs `claims` with HS256 and the gateway's secret.
    pub fn sign(&self, claims: &Value) -> String {
        hs256_token(claims, self.secret())
    }

    pub fn sign_with(&self, header: Header, claims: &Value, secret: &[u8]) -> String {
        token_with(header, claims, secret)
    }

    pub fn secret(&self) -> &[u8] {
        self.settings.jwt.secret.expose_secret().as_bytes()
    }

    /// `GET path` written byte for byte on a fresh connection, so no client library can
    /// normalise the path first. Returns the status and the JSON body.
    pub async fn raw_get(&self, path: &str) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self.address.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let text = String::from_utf8(response).unwrap();
        let status = text[9..12].parse().unwrap();
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        (status, serde_json::from_str(body).unwrap())
    }

    pub async fn get_protected(&self, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(self.url("/protected"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }
}

pub use service_kit::testing::assert_json_error;

impl TestApp {
    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.admin_address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.text().await.unwrap()
    }
}

/// The gateway binary with JSON logs at `info` on free ports, plus `vars`; its standard
/// output, line by line.
pub fn start_gateway_process(
    vars: &[(&str, &str)],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .env_clear()
        .envs([
            ("RUST_LOG", "info"),
            ("GATEWAY__TELEMETRY__FORMAT", "json"),
            ("GATEWAY__APPLICATION__PORT", "0"),
            ("GATEWAY__ADMIN__PORT", "0"),
            // Nothing listens there: the keys are never needed by `GET /`.
            ("GATEWAY__JWT__JWKS_URL", "http://127.0.0.1:9/jwks.json"),
            (
                "GATEWAY__REVOCATIONS__URL",
                "http://127.0.0.1:9/revocations",
            ),
        ])
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, received)
}

/// The public port the gateway process says it listens on, in JSON lines (`"port":N`) or
/// human-readable ones (`port=N`).
pub fn listening_port(lines: &std::sync::mpsc::Receiver<String>) -> u16 {
    loop {
        let line = lines.recv_timeout(Duration::from_secs(10)).unwrap();
        if line.contains("gateway listening") {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
                return u16::try_from(value["port"].as_u64().unwrap()).unwrap();
            }
            let (_, after) = line.split_once("port=").unwrap();
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            return digits.parse().unwrap();
        }
    }
}
