//! The real `auth-service` binary as a child process, for what only a process can show:
//! the command line, and surviving `kill -9`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started binary gets to print its port.
const START_TIMEOUT: Duration = Duration::from_secs(20);

fn command(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auth-service"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AUTH__DATABASE__URL", database_url);
    command
}

/// Runs `auth-service <args>` with `stdin` piped in; returns (success, stdout, stderr).
pub fn run_cli(database_url: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    run_cli_with(&[("AUTH__DATABASE__URL", database_url)], args, stdin)
}

/// Runs `auth-service <args>` with only these variables (and `PATH`) set.
pub fn run_cli_with(vars: &[(&str, &str)], args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_auth-service"));
    child
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(vars.iter().copied());
    let mut child = child
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A serving auth-service process; killed with SIGKILL when dropped.
pub struct ServiceProcess {
    child: Child,
    pub address: String,
}

impl ServiceProcess {
    /// Starts the binary on a free port and waits until it says where it listens.
    pub fn start(database_url: &str) -> Self {
        let mut child = command(database_url)
            .env("AUTH__APPLICATION__PORT", "0")
            // The metrics listener too: tests run side by side.
            .env("AUTH__ADMIN__PORT", "0")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("auth-service listening") {
                    let port = line.rsplit("port=").next().unwrap().trim().to_owned();
                    let _ = sender.send(port);
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let port = receiver
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("auth-service did not start");
        Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
        }
    }

    /// SIGKILL: no shutdown hooks, no flushing, as a crash.
    pub fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
