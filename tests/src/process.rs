//! Example binaries run as real child processes: the demo, crash and restart scenarios need a
//! process that can be SIGKILLed, not a task.
//!
//! `env!("CARGO_BIN_EXE_<name>")` only works for binaries of the package under test, and the
//! binaries live in `slacker-examples`. [`example_bin`] finds them next to the test executable
//! (`target/<profile>/<name>`) after running `cargo build -p slacker-examples --bin <name>` once
//! per test process, which is a quick no-op when it is up to date and makes sure a test never
//! runs a stale binary.
//!
//! [`TestProcess`] collects stdout and stderr lines as they come (so a chatty child never blocks
//! on a full pipe), lets a test await a stdout line matching a predicate under a deadline, and
//! puts the output tail into every error. The child is SIGKILLed when the handle drops, also
//! when a test panics.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// Lines of output shown in errors.
const TAIL_LINES: usize = 30;

/// Why a test process could not be built, started, awaited or signalled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// `cargo build` of an example binary failed.
    #[error("`cargo build --bin {name}` failed ({status}):\n{stderr}")]
    Build {
        /// The binary.
        name: String,
        /// Cargo's exit status.
        status: ExitStatus,
        /// Cargo's stderr.
        stderr: String,
    },

    /// Spawning, signalling or waiting failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// No matching stdout line, or no exit, before the deadline.
    #[error("{name}: {what} not seen within {waited:?}; output tail:\n{tail}")]
    Timeout {
        /// The process's label.
        name: String,
        /// What was awaited.
        what: &'static str,
        /// The deadline that passed.
        waited: Duration,
        /// The last lines of stdout and stderr.
        tail: String,
    },

    /// The process closed its stdout (usually: exited) before printing a matching line.
    #[error("{name}: stdout closed before a matching line; output tail:\n{tail}")]
    StdoutClosed {
        /// The process's label.
        name: String,
        /// The last lines of stdout and stderr.
        tail: String,
    },
}

impl ProcessError {
    fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// The path of the example binary `name` (see [`workspace_bin`]).
///
/// # Errors
///
/// As [`workspace_bin`].
pub async fn example_bin(name: &str) -> Result<PathBuf, ProcessError> {
    workspace_bin("slacker-examples", name).await
}

/// The path of the binary `name` of the workspace package `package`, built (or brought up to
/// date) with `cargo build -p <package> --bin <name>` the first time a test process asks for it.
///
/// # Errors
///
/// [`ProcessError::Build`] with cargo's output when the build fails (e.g. no such binary);
/// [`ProcessError::Io`] when cargo cannot run or the test executable's location is unknown.
pub async fn workspace_bin(package: &str, name: &str) -> Result<PathBuf, ProcessError> {
    static BUILT: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let exe =
        std::env::current_exe().map_err(|e| ProcessError::io("locating the test executable", e))?;
    // target/<profile>/deps/<test>-<hash>, or target/<profile>/<name> for a binary.
    let mut profile_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if profile_dir.ends_with("deps") {
        profile_dir.pop();
    }
    let bin = profile_dir.join(name);
    if BUILT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(name)
    {
        return Ok(bin);
    }

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--quiet",
            "-p",
            package,
            "--bin",
            name,
            "--manifest-path",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"));
    if let (Some(profile), Some(target_dir)) = (profile_dir.file_name(), profile_dir.parent()) {
        build.arg("--target-dir").arg(target_dir);
        match profile.to_str() {
            Some("debug") => {}
            Some("release") => {
                build.arg("--release");
            }
            _ => {
                build.arg("--profile").arg(profile);
            }
        }
    }
    let output = build
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| ProcessError::io("running cargo", e))?;
    if !output.status.success() {
        return Err(ProcessError::Build {
            name: name.to_owned(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    BUILT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.to_owned());
    Ok(bin)
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// Output collected so far, shared with the reader tasks.
#[derive(Debug, Default)]
struct Output {
    lines: Mutex<Vec<(Stream, String)>>,
    stdout_closed: AtomicBool,
    changed: Notify,
}

impl Output {
    fn lines(&self) -> std::sync::MutexGuard<'_, Vec<(Stream, String)>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tail(&self) -> String {
        let lines = self.lines();
        let start = lines.len().saturating_sub(TAIL_LINES);
        let tail: Vec<String> = lines[start..]
            .iter()
            .map(|(stream, line)| match stream {
                Stream::Stdout => format!("  out| {line}"),
                Stream::Stderr => format!("  err| {line}"),
            })
            .collect();
        tail.join("\n")
    }
}

async fn collect(reader: impl AsyncRead + Unpin, stream: Stream, output: Arc<Output>) {
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        output.lines().push((stream, line));
        output.changed.notify_waiters();
    }
    if stream == Stream::Stdout {
        output.stdout_closed.store(true, Ordering::SeqCst);
        output.changed.notify_waiters();
    }
}

/// A child process under test, SIGKILLed when dropped.
#[derive(Debug)]
pub struct TestProcess {
    name: String,
    child: Child,
    output: Arc<Output>,
    /// Index into `output.lines` where the next [`TestProcess::wait_for_line`] starts looking.
    cursor: usize,
}

impl TestProcess {
    /// Builds (if needed) and starts the example binary `name` with `args`.
    ///
    /// # Errors
    ///
    /// As [`example_bin`] and [`TestProcess::spawn`].
    pub async fn example<I, S>(name: &str, args: I) -> Result<Self, ProcessError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(example_bin(name).await?);
        command.args(args);
        Self::spawn(name, command)
    }

    /// Starts the `cluster_server` example with `args` and waits for its `registered ADDR`
    /// line; returns the process and the advertised address (an `http ADDR` line, printed
    /// before it with `--http`, stays in [`TestProcess::stdout_lines`]).
    ///
    /// # Errors
    ///
    /// As [`TestProcess::example`] and [`TestProcess::wait_for_line`].
    pub async fn cluster_server<I, S>(args: I) -> Result<(Self, String), ProcessError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut p = Self::example("cluster_server", args).await?;
        let line = p
            .wait_for_line(crate::DEADLINE, |l| l.starts_with("registered "))
            .await?;
        let addr = line.trim_start_matches("registered ").trim().to_owned();
        Ok((p, addr))
    }

    /// Starts the `slacker` command with `args` and waits for a stdout line starting with
    /// `ready` (a long-running subcommand: `gateway`, `console`, `watch`); returns the process
    /// and the rest of that line.
    ///
    /// # Errors
    ///
    /// As [`workspace_bin`], [`TestProcess::spawn`] and [`TestProcess::wait_for_line`].
    pub async fn slacker<I, S>(args: I, ready: &str) -> Result<(Self, String), ProcessError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(workspace_bin("slacker-cli", "slacker").await?);
        command.args(args);
        let mut p = Self::spawn("slacker", command)?;
        let line = p
            .wait_for_line(crate::DEADLINE, |l| l.starts_with(ready))
            .await?;
        let rest = line.trim_start_matches(ready).trim().to_owned();
        Ok((p, rest))
    }

    /// Starts `command` (stdin closed, stdout and stderr collected), labelled `name` in errors.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Io`] when the process cannot be started.
    pub fn spawn(name: &str, mut command: Command) -> Result<Self, ProcessError> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ProcessError::io(format!("starting {name}"), e))?;
        let output = Arc::new(Output::default());
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(collect(stdout, Stream::Stdout, Arc::clone(&output)));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(collect(stderr, Stream::Stderr, Arc::clone(&output)));
        }
        Ok(Self {
            name: name.to_owned(),
            child,
            output,
            cursor: 0,
        })
    }

    /// The process id, while it has not been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits until a stdout line *after the last matched one* satisfies `matches`, and returns
    /// it. Lines printed before this call count, so there is no race with a fast child.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Timeout`] after `timeout`; [`ProcessError::StdoutClosed`] as soon as the
    /// process closes stdout without a match. Both carry the output tail.
    pub async fn wait_for_line(
        &mut self,
        timeout: Duration,
        mut matches: impl FnMut(&str) -> bool,
    ) -> Result<String, ProcessError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register interest before looking, so a line pushed in between is not missed.
            let changed = self.output.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let closed = self.output.stdout_closed.load(Ordering::SeqCst);
            {
                let lines = self.output.lines();
                let found = lines[self.cursor..]
                    .iter()
                    .position(|(stream, line)| *stream == Stream::Stdout && matches(line));
                if let Some(offset) = found {
                    let line = lines[self.cursor + offset].1.clone();
                    self.cursor += offset + 1;
                    return Ok(line);
                }
            }
            if closed {
                return Err(ProcessError::StdoutClosed {
                    name: self.name.clone(),
                    tail: self.output.tail(),
                });
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(self.timeout("a matching stdout line", timeout));
            }
        }
    }

    /// Every stdout line so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.output
            .lines()
            .iter()
            .filter(|(stream, _)| *stream == Stream::Stdout)
            .map(|(_, line)| line.clone())
            .collect()
    }

    /// The last lines of stdout and stderr, for assertion messages.
    pub fn output_tail(&self) -> String {
        self.output.tail()
    }

    /// Sends SIGKILL and reaps the process.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Io`] when killing or reaping fails.
    pub async fn kill(&mut self) -> Result<ExitStatus, ProcessError> {
        let name = &self.name;
        self.child
            .start_kill()
            .map_err(|e| ProcessError::io(format!("killing {name}"), e))?;
        self.child
            .wait()
            .await
            .map_err(|e| ProcessError::io(format!("reaping {name}"), e))
    }

    /// Sends SIGTERM (graceful shutdown) without waiting; see [`TestProcess::wait`].
    ///
    /// # Errors
    ///
    /// As [`TestProcess::signal`].
    pub async fn terminate(&self) -> Result<(), ProcessError> {
        self.signal("TERM").await
    }

    /// Sends the signal named `signal` (`"TERM"`, `"INT"`, `"STOP"`, `"CONT"`, ...) with
    /// `kill(1)`, which keeps the harness free of unsafe code.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Io`] when the process has been reaped or `kill` fails.
    pub async fn signal(&self, signal: &str) -> Result<(), ProcessError> {
        let context = format!("sending SIG{signal} to {}", self.name);
        let pid = self
            .pid()
            .ok_or_else(|| ProcessError::io(&context, io::Error::other("already reaped")))?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .status()
            .await
            .map_err(|e| ProcessError::io(&context, e))?;
        if status.success() {
            Ok(())
        } else {
            Err(ProcessError::io(
                context,
                io::Error::other(format!("kill: {status}")),
            ))
        }
    }

    /// Waits for the process to exit, for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Timeout`] (the process keeps running) or [`ProcessError::Io`].
    pub async fn wait(&mut self, timeout: Duration) -> Result<ExitStatus, ProcessError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let status = match tokio::time::timeout_at(deadline, self.child.wait()).await {
            Ok(status) => {
                status.map_err(|e| ProcessError::io(format!("waiting for {}", self.name), e))?
            }
            Err(_) => return Err(self.timeout("exit", timeout)),
        };
        // The child has exited, but its last lines may still be in the pipe: wait until the
        // collector has read stdout to its end, so `stdout_lines` is complete afterwards.
        loop {
            let changed = self.output.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.output.stdout_closed.load(Ordering::SeqCst) {
                return Ok(status);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(self.timeout("stdout to close", timeout));
            }
        }
    }

    fn timeout(&self, what: &'static str, waited: Duration) -> ProcessError {
        ProcessError::Timeout {
            name: self.name.clone(),
            what,
            waited,
            tail: self.output.tail(),
        }
    }
}

impl Drop for TestProcess {
    fn drop(&mut self) {
        // kill_on_drop would do it too; explicit so the intent is visible. Errors mean it is gone.
        let _ = self.child.start_kill();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::process::Command;

    use super::{example_bin, ProcessError, TestProcess};
    use crate::{wait_until, DEADLINE};

    fn shell(script: &str) -> TestProcess {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script);
        TestProcess::spawn("sh", command).expect("spawn sh")
    }

    fn alive(pid: u32) -> bool {
        // A zombie (killed, not yet reaped by the runtime) counts as gone: state `Z` in stat,
        // after the parenthesised command name.
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
    }

    #[tokio::test]
    async fn waits_for_matching_lines_in_order() {
        let mut p = shell("echo starting; echo >&2 some-log; echo listening on 127.0.0.1:5; echo ready; exec sleep 1000");
        let line = p
            .wait_for_line(DEADLINE, |l| l.starts_with("listening on"))
            .await
            .expect("line");
        assert_eq!(line, "listening on 127.0.0.1:5");
        // Consumed lines are not matched again; later ones are.
        let next = p.wait_for_line(DEADLINE, |_| true).await.expect("line");
        assert_eq!(next, "ready");
        assert_eq!(
            p.stdout_lines(),
            ["starting", "listening on 127.0.0.1:5", "ready"]
        );
        assert!(p.output_tail().contains("err| some-log"));
    }

    #[tokio::test]
    async fn times_out_with_the_output_tail() {
        let mut p = shell("echo hello; exec sleep 1000");
        let err = p
            .wait_for_line(Duration::from_millis(200), |l| l == "never")
            .await
            .expect_err("no such line");
        assert!(
            matches!(&err, ProcessError::Timeout { tail, .. } if tail.contains("out| hello")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn reports_an_exit_before_the_line() {
        let mut p = shell("echo bye; exit 3");
        let err = p
            .wait_for_line(DEADLINE, |l| l == "never")
            .await
            .expect_err("exited");
        assert!(
            matches!(&err, ProcessError::StdoutClosed { tail, .. } if tail.contains("bye")),
            "{err}"
        );
        assert_eq!(p.wait(DEADLINE).await.expect("exit").code(), Some(3));
    }

    #[tokio::test]
    async fn sigterm_and_sigkill() {
        let mut p =
            // `ready` only once the background sleep exists (so `$!` names it when the trap
            // runs), and the sleep does not hold stdout open.
            shell("trap 'echo got-term; kill $!; exit 0' TERM; sleep 1000 >/dev/null & echo ready; wait");
        p.wait_for_line(DEADLINE, |l| l == "ready")
            .await
            .expect("ready");
        p.terminate().await.expect("SIGTERM");
        p.wait_for_line(DEADLINE, |l| l == "got-term")
            .await
            .expect("trap ran");
        assert!(p.wait(DEADLINE).await.expect("exit").success());

        let mut p = shell("echo ready; exec sleep 1000");
        p.wait_for_line(DEADLINE, |l| l == "ready")
            .await
            .expect("ready");
        let status = p.kill().await.expect("SIGKILL");
        assert!(!status.success());
        assert!(
            p.signal("TERM").await.is_err(),
            "signalling a reaped process fails"
        );
    }

    #[tokio::test]
    async fn drop_kills_the_process() {
        let mut p = shell("echo ready; exec sleep 1000");
        p.wait_for_line(DEADLINE, |l| l == "ready")
            .await
            .expect("ready");
        let pid = p.pid().expect("running");
        assert!(alive(pid));
        drop(p);
        wait_until(DEADLINE, || async { !alive(pid) })
            .await
            .expect("killed on drop");
    }

    #[tokio::test]
    async fn example_bin_reports_a_failed_build() {
        let err = example_bin("no-such-example-binary")
            .await
            .expect_err("no such binary");
        assert!(
            matches!(&err, ProcessError::Build { stderr, .. } if stderr.contains("no-such-example-binary")),
            "{err}"
        );
    }
}
