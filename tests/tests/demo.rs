//! The examples run to the end and exit 0: the README demo (calls spread over its servers) and
//! the tower example.

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

/// The tower example (two layers on each side) runs to the end: the server's limit sheds the
/// third concurrent call, the client's timeout layer stops the long one.
#[tokio::test]
async fn tower_layers_example_runs() {
    let mut example = TestProcess::example("tower_layers", Vec::<String>::new())
        .await
        .expect("tower_layers started");
    let status = example
        .wait(Duration::from_secs(60))
        .await
        .expect("tower_layers ended");
    let out = example.stdout_lines();
    assert!(status.success(), "failed: {}", example.output_tail());
    let shed = out
        .iter()
        .filter(|l| l.contains("shed by the server"))
        .count();
    let slept = out
        .iter()
        .filter(|l| l.starts_with("concurrent call") && l.contains("slept 500 ms"))
        .count();
    assert_eq!((slept, shed), (2, 1), "{out:#?}");
    assert!(
        out.iter()
            .any(|l| l.starts_with("long call: stopped by a client layer")),
        "{out:#?}"
    );
    assert!(
        out.iter().any(|l| l == "short call: slept 10 ms"),
        "{out:#?}"
    );
}
