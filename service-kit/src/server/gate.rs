//! The cap on connections open at once, shared by all workers of a listener: a connection
//! over it is answered 503 and closed at once, so that open connections keep being served.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::rt::net::TcpStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The whole answer to a connection over the cap (to try again after a second).
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 51\r\n\r\n\
{\"message\":\"Too many connections; try again soon.\"}";

/// How long a refused connection may take to accept its answer and hang up.
const REFUSAL_LINGER: Duration = Duration::from_millis(500);

/// Refused connections answered at once at most; past it (a flood) more are closed without
/// an answer, so that answering them cannot use up the process's files.
const MAX_REFUSING: usize = 256;

/// Counts open connections against the cap.
#[derive(Debug, Clone)]
pub struct Gate {
    open: Arc<AtomicUsize>,
    refusing: Arc<AtomicUsize>,
    max: usize,
}

/// One open connection's place under the cap, given back when dropped.
#[derive(Debug)]
pub struct Permit(Arc<AtomicUsize>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    /// A gate letting at most `max` connections in at once.
    pub fn new(max: usize) -> Self {
        Self {
            open: Arc::new(AtomicUsize::new(0)),
            refusing: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A place for one more connection, if the cap allows it.
    pub fn try_enter(&self) -> Option<Permit> {
        let before = self.open.fetch_add(1, Ordering::AcqRel);
        let permit = Permit(Arc::clone(&self.open));
        (before < self.max).then_some(permit)
    }

    /// Answers a connection over the cap with 503 and closes it; lingers briefly (reading
    /// and dropping what the client sent) so that the close does not reset the answer away.
    /// In a flood, connections beyond [`MAX_REFUSING`] being refused are just closed.
    pub async fn refuse(&self, stream: TcpStream) {
        let _refusing = Permit(Arc::clone(&self.refusing));
        if self.refusing.fetch_add(1, Ordering::AcqRel) < MAX_REFUSING {
            answer_refusal(stream).await;
        }
    }
}

/// Writes the 503, shuts the connection down and lingers for at most [`REFUSAL_LINGER`].
async fn answer_refusal(mut stream: TcpStream) {
    let write = async {
        stream.write_all(REFUSAL).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        for _ in 0..64 {
            if stream.read(&mut sink).await? == 0 {
                break;
            }
        }
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(REFUSAL_LINGER, write).await;
}

/// Room kept for files other than client connections (listeners, upstream connections, the
/// database, logs).
const FILE_MARGIN: u64 = 1024;

/// Raises the soft limit on open files to the hard one when it is below `max_connections`
/// and a margin, so the cap and not the limit decides; says what it did.
pub fn raise_open_files_limit(max_connections: usize) {
    let wanted = (max_connections as u64).saturating_add(FILE_MARGIN);
    let Ok((soft, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE) else {
        return;
    };
    if soft >= wanted {
        return;
    }
    match rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard) {
        Ok(()) if hard >= wanted => {
            tracing::info!(from = soft, to = hard, "raised the open files limit");
        }
        Ok(()) => tracing::warn!(
            from = soft,
            to = hard,
            wanted,
            "raised the open files limit to its hard limit, below max_connections and a margin"
        ),
        Err(error) => tracing::warn!(%error, soft, wanted, "could not raise the open files limit"),
    }
}
