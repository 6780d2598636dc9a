//! [`Load`]: workers calling one function in a loop while a test changes the cluster under them,
//! recording who answered each call and when, and every failure. The one load generator of the
//! suites (routing, fault, resilience and manager tests all drive their clusters with it).
//!
//! Every loop is bounded: workers stop when [`Load::stop`] is called or after [`MAX_RUN`],
//! whichever comes first, so a broken test cannot leave load running.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use slacker_core::{Error, ServerAddr};
use tokio::task::JoinHandle;

use crate::{wait_until, DEADLINE};

/// The longest a [`Load`]'s workers run, stopped or not.
pub const MAX_RUN: Duration = Duration::from_secs(150);

/// One answered call.
#[derive(Debug, Clone)]
struct Answer {
    /// Position of the call in the order calls were started, over all workers.
    seq: u64,
    started: Instant,
    completed: Instant,
    server: String,
}

/// The calls one server answered: how many, and when the first and the last of them started.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen {
    /// When the first call this server answered was started.
    pub first: Option<Instant>,
    /// When the last call this server answered was started.
    pub last: Option<Instant>,
    /// How many calls it answered.
    pub count: usize,
}

/// What a load saw over its whole run (from [`Load::stop`]).
#[derive(Debug, Clone)]
pub struct Report {
    /// Calls that completed, answered or failed.
    pub attempted: usize,
    /// Every failure, as its `Display`.
    pub failures: Vec<String>,
    /// The longest call.
    pub slowest: Duration,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    next_seq: AtomicU64,
    attempted: AtomicU64,
    answers: Mutex<Vec<Answer>>,
    failures: Mutex<Vec<String>>,
    slowest: Mutex<Duration>,
}

/// Workers calling a function in a loop; see the module docs.
pub struct Load {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Load {
    /// Starts `workers` tasks, each calling `call` in a loop. `call` returns the address of the
    /// server that answered (the example API's `whoami`), or the call's error.
    pub fn start<F, Fut>(workers: usize, call: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, Error>> + Send + 'static,
    {
        let shared = Arc::new(Shared::default());
        let call = Arc::new(call);
        let tasks = (0..workers)
            .map(|_| {
                let (shared, call) = (shared.clone(), call.clone());
                tokio::spawn(async move {
                    let end = Instant::now() + MAX_RUN;
                    while !shared.stop.load(Ordering::SeqCst) && Instant::now() < end {
                        let seq = shared.next_seq.fetch_add(1, Ordering::SeqCst);
                        let started = Instant::now();
                        let result = call().await;
                        let completed = Instant::now();
                        {
                            let mut slowest = lock(&shared.slowest);
                            *slowest = (*slowest).max(completed - started);
                        }
                        match result {
                            Ok(server) => lock(&shared.answers).push(Answer {
                                seq,
                                started,
                                completed,
                                server,
                            }),
                            Err(e) => lock(&shared.failures).push(e.to_string()),
                        }
                        shared.attempted.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        Self { shared, tasks }
    }

    /// Calls completed so far, answered or failed.
    pub fn attempted(&self) -> usize {
        self.shared.attempted.load(Ordering::SeqCst) as usize
    }

    /// Calls answered so far.
    pub fn answered(&self) -> usize {
        lock(&self.shared.answers).len()
    }

    /// Calls `server` answered so far.
    pub fn answered_by(&self, server: &ServerAddr) -> usize {
        self.seen(server).count
    }

    /// The calls `server` answered so far.
    pub fn seen(&self, server: &ServerAddr) -> Seen {
        let answers = lock(&self.shared.answers);
        let mut seen = Seen::default();
        for a in answers.iter().filter(|a| a.server == server.as_str()) {
            seen.first = Some(seen.first.map_or(a.started, |f| f.min(a.started)));
            seen.last = Some(seen.last.map_or(a.started, |l| l.max(a.started)));
            seen.count += 1;
        }
        seen
    }

    /// The sequence number the next call will get: with [`Load::answers_after`], "the calls
    /// started from now on".
    pub fn next_seq(&self) -> u64 {
        self.shared.next_seq.load(Ordering::SeqCst)
    }

    /// Who answered each call started at or after `seq`, in completion order.
    pub fn answers_after(&self, seq: u64) -> Vec<String> {
        let answers = lock(&self.shared.answers);
        answers
            .iter()
            .filter(|a| a.seq >= seq)
            .map(|a| a.server.clone())
            .collect()
    }

    /// Every failure so far.
    pub fn failures(&self) -> Vec<String> {
        lock(&self.shared.failures).clone()
    }

    /// The longest stretch within `[from, to]` in which no call was answered.
    pub fn longest_gap(&self, from: Instant, to: Instant) -> Duration {
        let mut times: Vec<Instant> = lock(&self.shared.answers)
            .iter()
            .map(|a| a.completed)
            .filter(|t| *t >= from && *t <= to)
            .collect();
        times.sort();
        let mut edges = vec![from];
        edges.extend(times);
        edges.push(to);
        edges
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default()
    }

    /// Waits until `n` more calls have completed (answered or failed).
    ///
    /// # Panics
    /// When they have not within [`DEADLINE`].
    pub async fn advance(&self, n: usize) {
        let target = self.attempted() + n;
        wait_until(DEADLINE, || async { self.attempted() >= target })
            .await
            .expect("calls keep completing");
    }

    /// Keeps the load running for `period` (a fault's duration, not a wait for an event),
    /// checking that calls keep completing all along.
    ///
    /// # Panics
    /// When 50 calls take longer than [`DEADLINE`] at any point.
    pub async fn keep_completing_for(&self, period: Duration) {
        let start = Instant::now();
        while start.elapsed() < period {
            self.advance(50).await;
        }
    }

    /// Keeps the load running for `period` (a fault's duration, not a wait for an event),
    /// whether or not calls complete meanwhile.
    pub async fn run_for(&self, period: Duration) {
        tokio::time::sleep(period).await;
    }

    /// Stops the workers (each finishes its call under way) and reports the whole run.
    ///
    /// # Panics
    /// When a worker panicked.
    pub async fn stop(mut self) -> Report {
        self.shared.stop.store(true, Ordering::SeqCst);
        for task in std::mem::take(&mut self.tasks) {
            task.await.expect("load worker");
        }
        Report {
            attempted: self.attempted(),
            failures: self.failures(),
            slowest: *lock(&self.shared.slowest),
        }
    }
}
