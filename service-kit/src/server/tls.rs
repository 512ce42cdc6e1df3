//! TLS on a listener, with rustls on the ring provider: the certificate and key come from
//! PEM files and are reloaded when either changes (checked every few seconds) or on SIGHUP.
//! A reload changes what new handshakes present; open connections keep theirs and are never
//! dropped. A reload that fails (a half-written file, a key that does not match) is logged
//! and the certificate in use stays.

use std::fs;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::configuration::TlsSettings;

/// ALPN's name for HTTP/2.
pub const H2: &[u8] = b"h2";

/// The certificate new handshakes present, swapped whole on reload.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
    provider: Arc<CryptoProvider>,
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|key| Arc::clone(&key))
    }
}

impl CertStore {
    /// Reads the files; fails naming the file and what is wrong with it.
    fn load(settings: &TlsSettings, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
        let certs = read_certificates(&settings.certificate_file)?;
        let key_file = &settings.key_file;
        let key = PrivateKeyDer::from_pem_file(key_file).with_context(|| {
            format!(
                "application.tls.key_file: no private key read from {}",
                key_file.display()
            )
        })?;
        let key = provider
            .key_provider
            .load_private_key(key)
            .with_context(|| format!("application.tls.key_file: {}", key_file.display()))?;
        let certified = CertifiedKey::new(certs, key);
        certified.keys_match().context(
            "application.tls.key_file: the key does not belong to the certificate's first entry",
        )?;
        Ok(certified)
    }

    /// Loads the files again; on failure the certificate in use stays.
    fn reload(&self, settings: &TlsSettings) {
        match Self::load(settings, &self.provider) {
            Ok(key) => {
                if let Ok(mut current) = self.current.write() {
                    *current = Arc::new(key);
                }
                tracing::info!(
                    certificate = %settings.certificate_file.display(),
                    "TLS certificate reloaded"
                );
            }
            Err(error) => tracing::error!(
                error = format!("{error:#}"),
                "TLS certificate not reloaded; the one in use stays"
            ),
        }
    }
}

/// The certificate chain of `path`: at least one certificate.
fn read_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("application.tls.certificate_file: {}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "application.tls.certificate_file: no certificate in {}",
        path.display()
    );
    Ok(certs)
}

/// A listener's TLS: the acceptor its connections go through, and the task reloading its
/// certificate (stopped when this is dropped).
pub struct Tls {
    pub acceptor: TlsAcceptor,
    reloader: JoinHandle<()>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        self.reloader.abort();
    }
}

impl Tls {
    /// Loads the certificate (failing start-up if it cannot be) and starts watching it.
    /// Must be called within a Tokio runtime.
    pub fn start(settings: &TlsSettings) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = CertStore::load(settings, &provider)?;
        let store = Arc::new(CertStore {
            current: RwLock::new(Arc::new(key)),
            provider: Arc::clone(&provider),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&store) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = if settings.http2 {
            vec![H2.to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        // Resumed sessions skip the key exchange: stateless tickets, keys rotated by rustls.
        config.ticketer = rustls::crypto::ring::Ticketer::new().context("TLS session tickets")?;
        let reloader = tokio::spawn(watch(settings.clone(), store));
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            reloader,
        })
    }
}

/// Reads the certificate and key as [`Tls::start`] does, without serving.
pub fn check(settings: &TlsSettings) -> anyhow::Result<()> {
    CertStore::load(settings, &rustls::crypto::ring::default_provider()).map(drop)
}

/// When each file was last modified, as far as the filesystem says.
fn stamps(settings: &TlsSettings) -> [Option<SystemTime>; 2] {
    let modified = |path: &Path| fs::metadata(path).and_then(|m| m.modified()).ok();
    [
        modified(&settings.certificate_file),
        modified(&settings.key_file),
    ]
}

/// Reloads the certificate on SIGHUP, and when the files' modification times change.
async fn watch(settings: TlsSettings, store: Arc<CertStore>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(hangup) => Some(hangup),
        Err(error) => {
            tracing::warn!(%error, "no SIGHUP handler: TLS reloads on file changes only");
            None
        }
    };
    let interval = Duration::from_secs(settings.reload_interval_seconds);
    let mut seen = stamps(&settings);
    loop {
        let sighup = async {
            match hangup.as_mut() {
                Some(hangup) => hangup.recv().await,
                None => std::future::pending().await,
            }
        };
        let tick = async {
            if interval.is_zero() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(interval).await;
        };
        tokio::select! {
            _ = sighup => {
                seen = stamps(&settings);
                store.reload(&settings);
            }
            () = tick => {
                let now = stamps(&settings);
                if now != seen {
                    seen = now;
                    store.reload(&settings);
                }
            }
        }
    }
}
