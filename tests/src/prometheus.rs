//! A private Prometheus server (Debian's `prometheus`) for the tests: a generated config that
//! scrapes the given targets every 500 ms, a temp dir for its data, a free loopback port, and
//! the process killed (and the dir removed) on drop.

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::http;
use crate::wait::{wait_until, TimedOut, DEADLINE};

/// A running Prometheus.
#[derive(Debug)]
pub struct LocalPrometheus {
    addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

/// Why Prometheus could not be started or read.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// An I/O failure (no `prometheus` binary: see scripts/setup.sh).
    #[error("prometheus: {0}")]
    Io(#[from] std::io::Error),
    /// It did not become ready in time.
    #[error("prometheus: {0}")]
    TimedOut(#[from] TimedOut),
    /// Its API answered something unexpected.
    #[error("prometheus API: {0}")]
    Api(String),
}

impl LocalPrometheus {
    /// Starts Prometheus scraping `targets` (`host:port`, path `/metrics`) and waits until it
    /// is ready.
    ///
    /// # Errors
    /// [`PrometheusError`] when it cannot start or does not get ready within [`DEADLINE`].
    pub async fn start(targets: &[SocketAddr]) -> Result<Self, PrometheusError> {
        let dir = tempfile::Builder::new().prefix("slacker-prom-").tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let list = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let config = format!(
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\nscrape_configs:\n  - job_name: slacker\n    static_configs:\n      - targets: [{list}]\n"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config)?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let prometheus = Self {
            addr,
            child,
            _dir: dir,
        };
        wait_until(DEADLINE, || async {
            http::get(addr, "/-/ready", Duration::from_secs(2))
                .await
                .is_ok_and(|r| r.status == 200)
        })
        .await?;
        Ok(prometheus)
    }

    /// Its HTTP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET /api/v1/targets`: each active target's scrape URL and health (`up`, `down`,
    /// `unknown`).
    ///
    /// # Errors
    /// When the API cannot be read.
    pub async fn targets(&self) -> Result<Vec<(String, String)>, PrometheusError> {
        let r = http::get(self.addr, "/api/v1/targets", Duration::from_secs(5)).await?;
        let v: Value = r.json().map_err(|e| PrometheusError::Api(e.to_string()))?;
        let active = v["data"]["activeTargets"]
            .as_array()
            .ok_or_else(|| PrometheusError::Api(v.to_string()))?;
        Ok(active
            .iter()
            .map(|t| {
                (
                    t["scrapeUrl"].as_str().unwrap_or_default().to_owned(),
                    t["health"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    /// An instant query; the first sample's value, if the result has one.
    ///
    /// # Errors
    /// When the API cannot be read or answers with an error.
    pub async fn query(&self, promql: &str) -> Result<Option<f64>, PrometheusError> {
        let path = format!("/api/v1/query?query={}", encode(promql));
        let r = http::get(self.addr, &path, Duration::from_secs(5)).await?;
        let v: Value = r.json().map_err(|e| PrometheusError::Api(e.to_string()))?;
        if v["status"] != "success" {
            return Err(PrometheusError::Api(v.to_string()));
        }
        Ok(v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok()))
    }
}

impl Drop for LocalPrometheus {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Percent-encodes a query string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
