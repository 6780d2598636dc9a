//! `slacker console` in a real headless Chromium (Debian's, through chromedriver): ZooKeeper
//! and three `cluster_server` processes; the page shows the three servers and the namespace's
//! leader (as ZooKeeper, read by kazoo, names it); a server taken offline with the page's button
//! leaves the namespace in ZooKeeper and on the page; a call through the form shows each
//! server's result. A screenshot is saved (`target/console.png`, or `$SLACKER_SCREENSHOT`).

use serde_json::Value;
use slacker_tests::{wait_for, wait_until, Browser, Kazoo, LocalZooKeeper, TestProcess, DEADLINE};
use slacker_zk::paths::{ClusterPaths, DEFAULT_ROOT};

const NS: &str = "slacker.example.api";

async fn count(browser: &Browser, selector: &str) -> usize {
    let script = format!("return document.querySelectorAll({selector:?}).length");
    browser
        .eval(&script)
        .await
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as usize
}

async fn text(browser: &Browser, selector: &str) -> String {
    let script =
        format!("const e = document.querySelector({selector:?}); return e ? e.textContent : ''");
    browser
        .eval(&script)
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_the_cluster_and_drives_the_manager() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..3 {
        let args = [
            "--zk",
            connect.as_str(),
            "--cluster",
            "console",
            "--manager",
        ];
        let (p, addr) = TestProcess::cluster_server(args)
            .await
            .expect("cluster_server");
        addrs.push(addr);
        servers.push(p);
    }
    let args = [
        "--zk",
        connect.as_str(),
        "--cluster",
        "console",
        "console",
        "--listen",
        "127.0.0.1:0",
    ];
    let (mut console, url) = TestProcess::slacker(args, "console on ")
        .await
        .expect("console listening");

    let browser = Browser::start()
        .await
        .expect("chromium through chromedriver");
    browser.goto(&url).await.expect("open the console");
    wait_until(DEADLINE, || async {
        count(&browser, "[data-server]").await == 3
    })
    .await
    .expect("the page shows 3 servers");
    for addr in &addrs {
        let selector = format!("[data-server=\"{addr}\"]");
        assert_eq!(count(&browser, &selector).await, 1, "{addr} listed");
    }
    let kazoo = Kazoo::new(&connect);
    let paths = ClusterPaths::new(DEFAULT_ROOT, "console").expect("paths");
    let leader_selector = format!("[data-leader=\"{NS}\"]");
    let leader = wait_for(DEADLINE, || async {
        let in_zk = kazoo.node(&paths.leader(NS)).await.ok().flatten()?;
        let in_zk = String::from_utf8(in_zk.data).ok()?;
        let on_page = text(&browser, &leader_selector).await;
        (!in_zk.is_empty() && on_page == in_zk).then_some(in_zk)
    })
    .await
    .expect("the page shows ZooKeeper's leader");
    assert!(addrs.contains(&leader), "{leader}");

    let victim = addrs
        .iter()
        .find(|a| **a != leader)
        .expect("a non-leader")
        .clone();
    let click = format!(
        "document.querySelector('button[data-action=\"offline\"][data-addr=\"{victim}\"]').click(); return true"
    );
    assert_eq!(
        browser.eval(&click).await.expect("click offline"),
        Value::Bool(true)
    );
    wait_until(DEADLINE, || async {
        kazoo
            .children(&paths.namespace(NS))
            .await
            .ok()
            .flatten()
            .is_some_and(|c| !c.contains(&victim) && c.len() >= 2)
    })
    .await
    .expect("ZooKeeper no longer lists the server under the namespace");
    let servers_selector = format!("[data-servers=\"{NS}\"]");
    wait_until(DEADLINE, || async {
        let listed = text(&browser, &servers_selector).await;
        !listed.is_empty() && !listed.contains(&victim)
    })
    .await
    .expect("the page no longer lists it under the namespace");

    let fill = format!(
        "document.getElementById('call-ns').value = {NS:?}; \
         document.getElementById('call-fn').value = 'whoami'; \
         document.getElementById('call-args').value = '[]'; \
         document.getElementById('call-grouping').value = 'all'; \
         document.getElementById('call-go').click(); return true"
    );
    browser.eval(&fill).await.expect("submit the call form");
    wait_until(DEADLINE, || async {
        count(&browser, "#result [data-result]").await == 2
    })
    .await
    .expect("two servers answered");
    for addr in addrs.iter().filter(|a| **a != victim) {
        let shown = text(&browser, &format!("#result [data-result=\"{addr}\"]")).await;
        assert!(shown.contains(&format!("\"{addr}\"")), "{shown}");
    }
    wait_until(DEADLINE, || async {
        text(&browser, "#log").await.contains("no longer serves")
    })
    .await
    .expect("the event log shows the change");

    let png = browser.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let out = std::env::var("SLACKER_SCREENSHOT").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/console.png").to_owned()
    });
    std::fs::write(&out, &png).expect("write the screenshot");
    eprintln!("screenshot: {out} ({} bytes)", png.len());

    console.kill().await.expect("stop the console");
    for p in &servers {
        p.terminate().await.expect("SIGTERM");
    }
}
