//! Leader election against a real ZooKeeper, participants in this process: exactly one leader
//! at every observed instant, stepping down on a cut connection before anyone else leads, and
//! coming back after session expiry.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slacker_tests::{wait_for, wait_until, LocalZooKeeper, Proxy, DEADLINE};
use slacker_zk::election::{self, Election, Leadership, LeadershipEnd, Phase, SessionSource};
use zookeeper_client as zk;

/// One term as the leader function saw it.
#[derive(Clone, Debug)]
struct Term {
    id: String,
    token: i64,
    elected: Instant,
    ended: Option<(Instant, LeadershipEnd)>,
}

impl Term {
    /// How long after `instant` this term began.
    fn elapsed_since(&self, instant: Instant) -> Duration {
        self.elected - instant
    }
}

/// Every term of every participant of a test, in the order they began.
#[derive(Clone, Default)]
struct Terms(Arc<Mutex<Vec<Term>>>);

impl Terms {
    fn all(&self) -> Vec<Term> {
        self.0.lock().unwrap().clone()
    }

    fn of(&self, id: &str) -> Vec<Term> {
        self.all().into_iter().filter(|t| t.id == id).collect()
    }

    /// Terms never overlap and tokens only grow.
    fn assert_sequential(&self) {
        let terms = self.all();
        for pair in terms.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            let (ended, _) = before
                .ended
                .expect("a later term began while this one was running");
            assert!(
                ended <= after.elected,
                "overlapping terms: {before:?} and {after:?}"
            );
            assert!(
                before.token < after.token,
                "token went back: {before:?} then {after:?}"
            );
        }
    }
}

/// A participant in this process whose leader function records its terms and keeps the current
/// [`Leadership`] so the test can release it.
struct Member {
    id: String,
    election: Election,
    current: Arc<Mutex<Option<Leadership>>>,
}

impl Member {
    fn start(sessions: impl SessionSource, path: &str, id: &str, terms: &Terms) -> Member {
        let current = Arc::new(Mutex::new(None));
        let (slot, terms, who) = (Arc::clone(&current), terms.clone(), id.to_string());
        let election = Election::builder(path, id)
            .auto_requeue(true)
            .start(sessions, move |leadership: Leadership| {
                let (slot, terms, id) = (Arc::clone(&slot), terms.clone(), who.clone());
                async move {
                    let index = {
                        let mut terms = terms.0.lock().unwrap();
                        terms.push(Term {
                            id,
                            token: leadership.token(),
                            elected: Instant::now(),
                            ended: None,
                        });
                        terms.len() - 1
                    };
                    *slot.lock().unwrap() = Some(leadership.clone());
                    let end = leadership.lost().await;
                    terms.0.lock().unwrap()[index].ended = Some((Instant::now(), end));
                }
            })
            .unwrap();
        Member {
            id: id.to_string(),
            election,
            current,
        }
    }

    fn release(&self) {
        self.current
            .lock()
            .unwrap()
            .as_ref()
            .expect("never led")
            .release();
    }
}

fn sessions(servers: String, timeout: Duration) -> impl SessionSource {
    move || {
        let connector = zk::Client::connector().with_session_timeout(timeout);
        let servers = servers.clone();
        async move { connector.connect(&servers).await }
    }
}

async fn leader_of(members: &[Member]) -> usize {
    wait_for(DEADLINE, || async {
        members.iter().position(|m| m.election.is_leader())
    })
    .await
    .expect("someone leads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_have_exactly_one_leader_at_every_instant() {
    let zk = LocalZooKeeper::start().await.unwrap();
    let path = "/it/three/_leader/mutex";
    let terms = Terms::default();
    let timeout = Duration::from_secs(10);
    let members: Vec<Member> = ["a", "b", "c"]
        .iter()
        .map(|id| Member::start(sessions(zk.connect_string(), timeout), path, id, &terms))
        .collect();
    let members = Arc::new(members);

    // Sample every participant's belief, and ZooKeeper's lock owner between two samples of it.
    let observer = zk::Client::connect(&zk.connect_string()).await.unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let owner_checks = Arc::new(AtomicU64::new(0));
    let mut sampler = tokio::spawn({
        let (members, done) = (Arc::clone(&members), Arc::clone(&done));
        let owner_checks = Arc::clone(&owner_checks);
        async move {
            let believers = || -> Vec<String> {
                members
                    .iter()
                    .filter(|m| m.election.is_leader())
                    .map(|m| m.id.clone())
                    .collect()
            };
            let mut samples = 0u64;
            while !done.load(Ordering::SeqCst) {
                let before = believers();
                let owner = election::current_leader(&observer, path).await.unwrap();
                let after = believers();
                for sample in [&before, &after] {
                    assert!(
                        sample.len() <= 1,
                        "two participants believe they lead: {sample:?}"
                    );
                }
                if before.len() == 1 && before == after {
                    // It believed it led for the whole read, so ZooKeeper must agree.
                    assert_eq!(
                        owner.as_deref(),
                        Some(before[0].as_str()),
                        "belief vs lock owner"
                    );
                    owner_checks.fetch_add(1, Ordering::SeqCst);
                }
                samples += 2;
            }
            samples
        }
    });

    // Hand leadership over repeatedly: the leader releases (and requeues at the back), once
    // ZooKeeper has confirmed it a few times.
    let mut leader = leader_of(&members).await;
    for _ in 0..12 {
        let target = owner_checks.load(Ordering::SeqCst) + 3;
        wait_until(DEADLINE, || async {
            owner_checks.load(Ordering::SeqCst) >= target || sampler.is_finished()
        })
        .await
        .expect("the sampler confirms the leader");
        if sampler.is_finished() {
            (&mut sampler)
                .await
                .expect("the sampler found two leaders or a wrong owner");
        }
        members[leader].release();
        let old = leader;
        leader = wait_for(DEADLINE, || async {
            members
                .iter()
                .position(|m| m.election.is_leader())
                .filter(|i| *i != old)
        })
        .await
        .expect("a different participant leads after a release");
    }
    // The view agrees with the beliefs: all three queued, the leader first.
    let view = wait_for(DEADLINE, || async {
        let view = members[leader].election.view();
        (view.participants.len() == 3 && view.leader() == Some(&members[leader].id)).then_some(view)
    })
    .await
    .expect("the leader's view lists everyone with itself first");
    let listed = election::participants(&observer_for(&zk).await, path)
        .await
        .unwrap();
    assert_eq!(listed.len(), 3, "{listed:?} vs {view:?}");

    done.store(true, Ordering::SeqCst);
    let samples = sampler
        .await
        .expect("the sampler found two leaders or a wrong owner");
    let checked_owner = owner_checks.load(Ordering::SeqCst);
    assert_eq!(terms.all().len(), 13, "one first term and one per release");
    let members = Arc::into_inner(members).expect("sampler finished");
    for member in members {
        member.election.stop().await;
    }
    terms.assert_sequential();
    eprintln!(
        "three participants: {samples} belief samples, {checked_owner} owner checks, 13 terms"
    );
}

const EPHEMERAL: zk::CreateOptions<'static> =
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());

async fn observer_for(zk: &LocalZooKeeper) -> zk::Client {
    zk::Client::connect(&zk.connect_string()).await.unwrap()
}

/// A leader whose connection is cut steps down when it sees `Disconnected`, and the other
/// participant is elected only after that (once ZooKeeper expired the cut session).
async fn cut_leader_steps_down_first(cut: impl Fn(&Proxy)) {
    let zk = LocalZooKeeper::start().await.unwrap();
    let proxy = Proxy::start(zk.addr()).await.unwrap();
    let path = "/it/cut/_leader/mutex";
    let terms = Terms::default();
    let timeout = Duration::from_secs(4);
    let a = Member::start(
        sessions(proxy.addr().to_string(), timeout),
        path,
        "a",
        &terms,
    );
    wait_until(DEADLINE, || async { a.election.is_leader() })
        .await
        .expect("a leads");
    let b = Member::start(sessions(zk.connect_string(), timeout), path, "b", &terms);
    wait_until(DEADLINE, || async {
        b.election.view().phase == Phase::Following
    })
    .await
    .expect("b queues behind a");

    let cut_at = Instant::now();
    cut(&proxy);
    wait_until(DEADLINE, || async { b.election.is_leader() })
        .await
        .expect("b takes over");

    let a_term = &terms.of("a")[0];
    let b_term = &terms.of("b")[0];
    let (stepped_down, why) = a_term.ended.expect("a stepped down");
    assert_eq!(why, LeadershipEnd::Suspended);
    assert!(
        stepped_down < b_term.elected,
        "overlap: {a_term:?} vs {b_term:?}"
    );
    assert!(a_term.token < b_term.token);
    eprintln!(
        "cut leader: stepped down after {:?}, other elected after {:?} (session timeout {timeout:?})",
        stepped_down - cut_at,
        b_term.elected - cut_at
    );

    // After the cut heals, a comes back (with a new session) and queues behind b.
    proxy.heal();
    wait_until(DEADLINE, || async {
        a.election.view().phase == Phase::Following && a.election.view().participants.len() == 2
    })
    .await
    .expect("a rejoins after the heal");
    terms.assert_sequential();
    a.election.stop().await;
    b.election.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackholed_leader_steps_down_before_another_is_elected() {
    cut_leader_steps_down_first(Proxy::blackhole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_leader_steps_down_before_another_is_elected() {
    cut_leader_steps_down_first(Proxy::reset).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_rejoins_and_leads_again() {
    let zk = LocalZooKeeper::start().await.unwrap();
    let proxy = Proxy::start(zk.addr()).await.unwrap();
    let path = "/it/expiry/_leader/mutex";
    let terms = Terms::default();
    let timeout = Duration::from_secs(3);
    let a = Member::start(
        sessions(proxy.addr().to_string(), timeout),
        path,
        "a",
        &terms,
    );
    wait_until(DEADLINE, || async { a.election.is_leader() })
        .await
        .expect("a leads");
    let b = Member::start(sessions(zk.connect_string(), timeout), path, "b", &terms);

    // Cut a for longer than its session: ZooKeeper expires it and b leads.
    proxy.blackhole();
    wait_until(DEADLINE, || async { b.election.is_leader() })
        .await
        .expect("b takes over");
    // a's client gives the session up on its own, then a keeps asking for a new one.
    wait_until(DEADLINE, || async { proxy.accepted() >= 3 })
        .await
        .expect("a tries to reconnect");
    proxy.heal();
    wait_until(DEADLINE, || async {
        a.election.view().phase == Phase::Following
    })
    .await
    .expect("a rejoins with a new session");

    // b leaves: a leads again, in a new term with a larger token.
    b.election.stop().await;
    wait_until(DEADLINE, || async { a.election.is_leader() })
        .await
        .expect("a leads again");
    let a_terms = terms.of("a");
    assert_eq!(a_terms.len(), 2, "{a_terms:?}");
    assert_eq!(
        a_terms[0].ended.map(|(_, why)| why),
        Some(LeadershipEnd::Suspended)
    );
    terms.assert_sequential();
    a.election.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_ends_when_the_leader_function_returns_and_requeues() {
    let zk = LocalZooKeeper::start().await.unwrap();
    let path = "/it/returns/_leader/mutex";
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let election = Election::builder(path, "solo")
        .auto_requeue(true)
        .start(
            sessions(zk.connect_string(), Duration::from_secs(10)),
            move |l: Leadership| {
                let tx = tx.clone();
                // Returns at once: each term is one call; auto_requeue makes the next one.
                async move { tx.send(l.token()).unwrap() }
            },
        )
        .unwrap();
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(rx.recv().await.unwrap());
    }
    assert!(
        tokens.windows(2).all(|w| w[0] < w[1]),
        "tokens grow: {tokens:?}"
    );
    election.stop().await;

    // Without auto_requeue a participant contends once.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let once = Election::builder(path, "once")
        .start(
            sessions(zk.connect_string(), Duration::from_secs(10)),
            move |l: Leadership| {
                let tx = tx.clone();
                async move { tx.send(l.token()).unwrap() }
            },
        )
        .unwrap();
    rx.recv().await.unwrap();
    let mut view = once.subscribe();
    view.wait_for(|v| v.phase == Phase::Stopped).await.unwrap();
    assert!(rx.try_recv().is_err());
    let observer = observer_for(&zk).await;
    assert_eq!(
        election::current_leader(&observer, path).await.unwrap(),
        None
    );

    // The election path was made a container: ZooKeeper reaps it once empty. Its ancestors were
    // made persistent (they may belong to another layout) and stay.
    wait_until(DEADLINE, || async {
        observer.check_stat(path).await.unwrap().is_none()
    })
    .await
    .expect("the empty election path is reaped");
    assert!(observer
        .check_stat("/it/returns/_leader")
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_leader_function_ends_its_term_and_frees_the_lock() {
    let zk = LocalZooKeeper::start().await.unwrap();
    let path = "/it/panics/_leader/mutex";
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // One session for both participants: a node left behind would block the election for good.
    let shared = zk::Client::connect(&zk.connect_string()).await.unwrap();
    let one_session = move || {
        let client = shared.clone();
        async move { Ok(client) }
    };
    let panicky = Election::builder(path, "panicky")
        .start(one_session.clone(), move |l: Leadership| {
            tx.send(l.token()).unwrap();
            async move { panic!("leader function failed") }
        })
        .unwrap();
    let first = rx.recv().await.unwrap();
    let mut view = panicky.subscribe();
    view.wait_for(|v| v.phase == Phase::Stopped).await.unwrap();

    let terms = Terms::default();
    let next = Member::start(one_session, path, "next", &terms);
    wait_until(DEADLINE, || async { next.election.is_leader() })
        .await
        .expect("next leads");
    assert!(terms.of("next")[0].token > first);
    next.election.stop().await;
}

/// Measures (does not assert) the handover after `stop()`: the old leader deletes its node, the
/// next one's predecessor watch fires, it lists the queue and checks its node's owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_hands_over_in_a_few_round_trips() {
    let zk = LocalZooKeeper::start().await.unwrap();
    let path = "/it/graceful/_leader/mutex";
    let terms = Terms::default();
    let timeout = Duration::from_secs(10);
    let observer = observer_for(&zk).await;
    let mut leader = Member::start(sessions(zk.connect_string(), timeout), path, "m0", &terms);
    wait_until(DEADLINE, || async { leader.election.is_leader() })
        .await
        .expect("m0 leads");
    let (mut handovers, mut round_trips) = (Vec::new(), Vec::new());
    for run in 1..=5 {
        let id = format!("m{run}");
        let next = Member::start(sessions(zk.connect_string(), timeout), path, &id, &terms);
        wait_until(DEADLINE, || async {
            next.election.view().phase == Phase::Following
        })
        .await
        .expect("the next member queues");
        // One ZooKeeper write (a delete is one, and it goes through the transaction log).
        let probe = format!("/it/graceful/probe-{run}");
        let started = Instant::now();
        observer.create(&probe, b"", &EPHEMERAL).await.unwrap();
        round_trips.push(started.elapsed());

        let stopping = Instant::now();
        leader.election.stop().await;
        wait_until(DEADLINE, || async { next.election.is_leader() })
            .await
            .expect("next leads");
        handovers.push(terms.of(&id)[0].elapsed_since(stopping));
        leader = next;
    }
    leader.election.stop().await;
    terms.assert_sequential();
    handovers.sort();
    round_trips.sort();
    eprintln!("graceful handover (stop() -> next elected): {handovers:?}; one ZooKeeper write: {round_trips:?}");
}

/// Writes fenced on the term's lock node land during the term and fail after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_fenced_on_the_lock_node_fail_after_the_term() {
    let zk = LocalZooKeeper::start().await.unwrap();
    let path = "/it/fenced/_leader/mutex";
    let data = "/it/fenced/data";
    let observer = observer_for(&zk).await;
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    observer.mkdir(data, &persistent).await.unwrap();

    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Mutex::new(Some(tx));
    let election = Election::builder(path, "writer")
        .start(
            sessions(zk.connect_string(), Duration::from_secs(10)),
            move |l: Leadership| {
                let tx = tx.lock().unwrap().take();
                async move {
                    if let Some(tx) = tx {
                        tx.send(l.clone()).unwrap();
                    }
                    l.lost().await;
                }
            },
        )
        .unwrap();
    let leadership = rx.await.unwrap();
    let fenced_write = |value: &'static [u8]| {
        let leadership = leadership.clone();
        async move {
            let mut writer = leadership
                .client()
                .new_check_writer(leadership.node_path(), None)?;
            writer.add_set_data(data, value, None)?;
            writer.commit().await.map_err(zk::Error::from)
        }
    };
    fenced_write(b"during")
        .await
        .expect("a fenced write lands during the term");

    leadership.release();
    let mut view = election.subscribe();
    view.wait_for(|v| v.phase == Phase::Stopped).await.unwrap();
    assert!(
        fenced_write(b"after").await.is_err(),
        "the lock node is gone"
    );
    assert_eq!(observer.get_data(data).await.unwrap().0, b"during");
}

/// A blip shorter than the session: the leader steps down at once (Curator's Standard policy),
/// deletes its node when the connection is back, and queues again in the same session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_steps_down_on_a_blip_and_requeues_in_the_same_session() {
    let zk = LocalZooKeeper::start().await.unwrap();
    let proxy = Proxy::start(zk.addr()).await.unwrap();
    let path = "/it/blip/_leader/mutex";
    let terms = Terms::default();
    let timeout = Duration::from_secs(20);
    let a = Member::start(
        sessions(proxy.addr().to_string(), timeout),
        path,
        "a",
        &terms,
    );
    wait_until(DEADLINE, || async { a.election.is_leader() })
        .await
        .expect("a leads");
    let b = Member::start(sessions(zk.connect_string(), timeout), path, "b", &terms);
    wait_until(DEADLINE, || async {
        b.election.view().phase == Phase::Following
    })
    .await
    .expect("b queues behind a");

    proxy.reset();
    wait_until(DEADLINE, || async { !a.election.is_leader() })
        .await
        .expect("a steps down");
    // Nobody leads while a's node (and session) live on without a connection.
    assert!(!b.election.is_leader());
    proxy.heal();
    wait_until(DEADLINE, || async { b.election.is_leader() })
        .await
        .expect("b takes over");
    wait_until(DEADLINE, || async {
        a.election.view().phase == Phase::Following
    })
    .await
    .expect("a queues again");

    let session = a
        .current
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .client()
        .session_id();
    let observer = observer_for(&zk).await;
    let queue = election::participants(&observer, path).await.unwrap();
    assert_eq!(
        queue.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    let (_, stat) = observer
        .get_data(&format!("{path}/{}", queue[1].node))
        .await
        .unwrap();
    assert_eq!(
        stat.ephemeral_owner, session.0,
        "a requeued in the session it led in"
    );
    assert_eq!(
        terms.of("a")[0].ended.map(|(_, why)| why),
        Some(LeadershipEnd::Suspended)
    );
    terms.assert_sequential();
    a.election.stop().await;
    b.election.stop().await;
}

/// Sends `signal` (`"STOP"`, `"CONT"`) to a process with kill(1).
async fn signal(pid: u32, signal: &str) {
    let status = tokio::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .await
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// The node's create is in flight when the connection dies (the server is frozen), so its reply
/// is lost: the participant finds its node by the protection prefix, or creates it again, and in
/// either case ends up with exactly one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_a_lost_reply_leaves_exactly_one_node() {
    let zk = LocalZooKeeper::start().await.unwrap();
    let pid = zk.pid().unwrap();
    let proxy = Arc::new(Proxy::start(zk.addr()).await.unwrap());
    let path = "/it/lost-create/_leader/mutex";
    let observer = observer_for(&zk).await;
    observer
        .mkdir(
            path,
            &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
        )
        .await
        .unwrap();
    let observer_session = observer.session_id();

    // The first session is handed over with the server frozen: the election's first request,
    // the create, cannot be answered.
    let frozen = Arc::new(AtomicBool::new(false));
    let sessions = {
        let (addr, frozen) = (proxy.addr().to_string(), Arc::clone(&frozen));
        move || {
            let (addr, frozen) = (addr.clone(), Arc::clone(&frozen));
            async move {
                let client = zk::Client::connector()
                    .with_session_timeout(Duration::from_secs(20))
                    .with_connection_timeout(Duration::from_secs(1))
                    .connect(&addr)
                    .await?;
                if !frozen.swap(true, Ordering::SeqCst) {
                    signal(pid, "STOP").await;
                }
                Ok(client)
            }
        }
    };
    let terms = Terms::default();
    let member = Member::start(sessions, path, "lossy", &terms);
    // The client gave the connection up (so the create failed with ConnectionLoss) and tries
    // another one.
    wait_until(DEADLINE, || async {
        frozen.load(Ordering::SeqCst) && proxy.accepted() >= 2
    })
    .await
    .expect("the client reconnects");
    signal(pid, "CONT").await;

    wait_until(DEADLINE, || async { member.election.is_leader() })
        .await
        .expect("it leads");
    let (children, _) = observer.get_children(path).await.unwrap();
    assert_eq!(children.len(), 1, "exactly one node: {children:?}");
    let session = member
        .current
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .client()
        .session_id();
    assert_ne!(session, observer_session);
    member.election.stop().await;
    let (children, _) = observer.get_children(path).await.unwrap();
    assert!(children.is_empty(), "{children:?}");
}

/// A participant that does not track the queue still leads and hands over, but reads nothing
/// to keep a participant list: its view's list stays empty while a tracking participant's
/// shows both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_can_leave_the_queue_untracked() {
    let zk = LocalZooKeeper::start().await.unwrap();
    let path = "/it/untracked/_leader/mutex";
    let quiet = Election::builder(path, "quiet")
        .auto_requeue(true)
        .track_participants(false)
        .start(
            sessions(zk.connect_string(), Duration::from_secs(10)),
            |l: Leadership| async move {
                l.lost().await;
            },
        )
        .unwrap();
    let mut view = quiet.subscribe();
    tokio::time::timeout(DEADLINE, view.wait_for(|v| v.is_leader()))
        .await
        .expect("the untracked participant leads")
        .unwrap();
    let tracking = Election::builder(path, "tracking")
        .start(
            sessions(zk.connect_string(), Duration::from_secs(10)),
            |l: Leadership| async move {
                l.lost().await;
            },
        )
        .unwrap();
    let mut seen = tracking.subscribe();
    let both = |v: &election::ElectionView| {
        let ids: Vec<&str> = v.participants.iter().map(|p| p.id.as_str()).collect();
        ids == ["quiet", "tracking"]
    };
    tokio::time::timeout(DEADLINE, seen.wait_for(both))
        .await
        .expect("the tracking participant lists both")
        .unwrap();
    assert!(quiet.view().participants.is_empty(), "{:?}", quiet.view());
    // Handing over works the same.
    quiet.stop().await;
    tokio::time::timeout(DEADLINE, seen.wait_for(|v| v.is_leader()))
        .await
        .expect("the next participant leads")
        .unwrap();
    tracking.stop().await;
}
