//! A real headless browser for the tests: Debian's `chromium` driven through `chromedriver`
//! (W3C WebDriver, JSON over HTTP, spoken with this harness's own HTTP client). Started on a
//! free loopback port with a fresh profile in a temp dir and the flags that keep Chromium off
//! the network; killed on drop.

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::http;
use crate::wait::{wait_until, TimedOut, DEADLINE};

/// Why the browser could not be driven.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// chromedriver or Chromium could not start (see scripts/setup.sh: chromium, chromium-driver).
    #[error("browser: {0}")]
    Io(#[from] std::io::Error),
    /// chromedriver did not get ready in time.
    #[error("browser: {0}")]
    TimedOut(#[from] TimedOut),
    /// A WebDriver command failed.
    #[error("webdriver: {0}")]
    WebDriver(String),
}

/// A chromedriver process with one headless Chromium session.
#[derive(Debug)]
pub struct Browser {
    driver: SocketAddr,
    session: String,
    child: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    ///
    /// # Errors
    /// [`BrowserError`] when either cannot start.
    pub async fn start() -> Result<Self, BrowserError> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        wait_until(DEADLINE, || async {
            http::get(driver, "/status", Duration::from_secs(2))
                .await
                .ok()
                .and_then(|r| r.json().ok())
                .is_some_and(|v| v["value"]["ready"] == true)
        })
        .await?;
        let profile = tempfile::Builder::new()
            .prefix("slacker-chromium-")
            .tempdir()?;
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--window-size=1400,900",
                        format!("--user-data-dir={}", profile.path().display()),
                    ]
                }
            }}
        });
        let mut browser = Self {
            driver,
            session: String::new(),
            child,
            _profile: profile,
        };
        let v = browser.command("POST", "/session", &caps).await?;
        browser.session = v["sessionId"]
            .as_str()
            .ok_or_else(|| BrowserError::WebDriver(format!("no session: {v}")))?
            .to_owned();
        Ok(browser)
    }

    async fn command(&self, method: &str, path: &str, body: &Value) -> Result<Value, BrowserError> {
        let body = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).map_err(|e| BrowserError::WebDriver(e.to_string()))?
        };
        let headers: &[(&str, &str)] = if body.is_empty() {
            &[]
        } else {
            &[("content-type", "application/json")]
        };
        let r = http::request(
            self.driver,
            method,
            path,
            headers,
            &body,
            Duration::from_secs(60),
        )
        .await?;
        let v: Value = r
            .json()
            .map_err(|e| BrowserError::WebDriver(format!("{e}: {}", r.text())))?;
        if r.status != 200 {
            return Err(BrowserError::WebDriver(v.to_string()));
        }
        Ok(v["value"].clone())
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    ///
    /// # Errors
    /// When navigation fails.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        self.command("POST", &self.session_path("/url"), &json!({ "url": url }))
            .await
            .map(drop)
    }

    /// Runs `script` (a function body; `return` its result) in the page.
    ///
    /// # Errors
    /// When the script throws or WebDriver fails.
    pub async fn eval(&self, script: &str) -> Result<Value, BrowserError> {
        self.command(
            "POST",
            &self.session_path("/execute/sync"),
            &json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// A PNG screenshot of the page.
    ///
    /// # Errors
    /// When WebDriver fails or the image does not decode.
    pub async fn screenshot(&self) -> Result<Vec<u8>, BrowserError> {
        let v = self
            .command("GET", &self.session_path("/screenshot"), &Value::Null)
            .await?;
        let b64 = v
            .as_str()
            .ok_or_else(|| BrowserError::WebDriver(v.to_string()))?;
        base64_decode(b64).ok_or_else(|| BrowserError::WebDriver("bad base64".into()))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        let mut n: usize = 0;
        for &c in chunk {
            if c == b'=' {
                break;
            }
            acc = (acc << 6) | value(c)?;
            n += 1;
        }
        acc <<= 6 * (4 - n);
        let got = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&got[..n.saturating_sub(1)]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_round_trip_of_known_values() {
        assert_eq!(
            super::base64_decode("aGVsbG8=").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(super::base64_decode("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(super::base64_decode("YWJj").as_deref(), Some(&b"abc"[..]));
    }
}
