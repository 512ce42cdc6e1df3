//! The certificate: refused at start-up when unusable, reloaded on change or SIGHUP.

use std::path::Path;
use std::time::{Duration, Instant};

use gateway::startup::Application;
use service_kit::configuration::TlsSettings;

use super::{Client, Pki, negotiated, socket, spawn_tls_app};

#[tokio::test]
async fn a_changed_certificate_reaches_new_connections_while_open_ones_go_on() {
    let pki = Pki::new();
    let app = spawn_tls_app(&pki, |_| {}).await;
    let first = pki.connect(socket(&app), &[b"h2"]).await;
    let (_, original) = negotiated(&first);
    let mut open_h2 = Client::over(first).await;
    let mut open_h1 = Client::over(pki.connect(socket(&app), &[b"http/1.1"]).await).await;
    assert_eq!(open_h2.get("/", None).await.0, 200);
    assert_eq!(open_h1.get("/", None).await.0, 200);

    // A half-written certificate is not taken: the one in use stays.
    std::fs::write(
        &pki.certificate_file,
        "-----BEGIN CERTIFICATE-----\nnot one",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, presented) = negotiated(&pki.connect(socket(&app), &[b"h2"]).await);
    assert_eq!(
        presented, original,
        "a broken file replaced the certificate"
    );

    let renewed = pki.issue();
    assert_ne!(renewed, original);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, presented) = negotiated(&pki.connect(socket(&app), &[b"h2"]).await);
        if presented == renewed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never presented"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The connections opened before the reload are served on.
    assert_eq!(open_h2.get("/", None).await.0, 200);
    assert_eq!(open_h1.get("/", None).await.0, 200);
}

#[tokio::test]
async fn certificate_files_that_cannot_be_used_stop_start_up_naming_the_key() {
    let pki = Pki::new();
    let other = Pki::new();
    let missing = Path::new("/nonexistent/cert.pem").to_path_buf();
    let cases = [
        (
            "application.tls.certificate_file",
            missing.clone(),
            pki.key_file.clone(),
        ),
        (
            "application.tls.key_file",
            pki.certificate_file.clone(),
            missing,
        ),
        // Another certificate's key.
        (
            "application.tls.key_file",
            pki.certificate_file.clone(),
            other.key_file.clone(),
        ),
    ];
    for (key, certificate_file, key_file) in cases {
        let mut settings = crate::helpers::spawn_settings();
        settings.application.tls = Some(TlsSettings {
            certificate_file,
            key_file,
            ..pki.settings()
        });
        // What `check-config` runs, and start-up.
        let error = format!("{:#}", settings.validate().unwrap_err());
        assert!(error.contains(key), "{key}: {error}");
        let error = format!("{:#}", Application::build(settings).unwrap_err());
        assert!(error.contains(key), "{key}: {error}");
    }
}

#[tokio::test]
async fn sighup_reloads_the_certificate_of_a_running_gateway() {
    let pki = Pki::new();
    let (certificate, key) = (
        pki.certificate_file.to_str().unwrap(),
        pki.key_file.to_str().unwrap(),
    );
    let (mut child, lines) = crate::helpers::start_gateway_process(&[
        ("GATEWAY__APPLICATION__TLS__CERTIFICATE_FILE", certificate),
        ("GATEWAY__APPLICATION__TLS__KEY_FILE", key),
        // SIGHUP only: a changed file alone is not reloaded.
        ("GATEWAY__APPLICATION__TLS__RELOAD_INTERVAL_SECONDS", "0"),
    ]);
    let address = format!("127.0.0.1:{}", crate::helpers::listening_port(&lines));
    let (_, original) = negotiated(&pki.connect(&address, &[b"h2"]).await);
    let mut open = Client::over(pki.connect(&address, &[b"h2"]).await).await;
    let renewed = pki.issue();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        negotiated(&pki.connect(&address, &[b"h2"]).await).1,
        original
    );

    let hup = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while negotiated(&pki.connect(&address, &[b"h2"]).await).1 != renewed {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload the certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open.get("/", None).await.0, 200);
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP stopped the gateway"
    );
    child.kill().unwrap();
    let reloaded = lines
        .try_iter()
        .any(|line| line.contains("TLS certificate reloaded"));
    assert!(reloaded, "the reload was not logged");
}
