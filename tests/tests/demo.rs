//! The README demo runs to the end and exits 0, showing calls spread over its servers.

use std::time::Duration;

use slacker_tests::TestProcess;

#[tokio::test]
async fn demo_runs_and_exits_cleanly() {
    let mut demo = TestProcess::example("demo", Vec::<String>::new())
        .await
        .expect("demo started");
    let status = demo
        .wait(Duration::from_secs(90))
        .await
        .expect("demo ended");
    let out = demo.stdout_lines();
    assert!(status.success(), "demo failed: {}", demo.output_tail());
    let spread = out
        .iter()
        .find(|l| l.contains("30 calls answered by"))
        .unwrap_or_else(|| panic!("no spread line in {out:#?}"));
    assert_eq!(spread.matches("127.0.0.1:").count(), 3, "{spread}");
    assert!(out.iter().any(|l| l.contains("leaves gracefully")));
    assert!(out.iter().any(|l| l.contains("joins as")));
    assert!(out.last().is_some_and(|l| l.ends_with("bye")), "{out:#?}");
}
