//! The README's shell blocks, run as written, in order (issue 14): the cluster by hand, the
//! `slacker` command, observing, the gateway and the console. Each line goes to `bash -c`
//! with only these substitutions: `cargo run -p slacker-examples --bin NAME --` is the built
//! example binary and `slacker` is the built command (so no nested cargo runs while the suite
//! holds the build), `cargo install --path slacker-cli` is skipped (its result is that
//! binary), and a long-running line (a server, `local_zk`, `watch`, a trailing `&`) runs in the
//! background until the line that shows it is up. The first block (`scripts/demo.sh`,
//! `scripts/test.sh`) is the demo test and this very suite, so it is not run again here.

use std::collections::HashMap;
use std::time::Duration;

use slacker_tests::{example_bin, wait_until, workspace_bin, TestProcess, DEADLINE};

/// The fenced `sh` blocks of the README, each as its command lines (comments and blanks
/// dropped, trailing `# ...` removed).
fn sh_blocks(readme: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in readme.lines() {
        match (&mut current, line.trim()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), l) if !l.is_empty() && !l.starts_with('#') => {
                let command = match l.find("  #") {
                    Some(i) => l[..i].trim_end(),
                    None => l,
                };
                block.push(command.to_owned());
            }
            _ => {}
        }
    }
    blocks
}

/// What a background line prints once it is up.
fn ready_line(command: &str) -> Option<&'static str> {
    if command.contains("--bin local_zk") {
        Some("export SLACKER_ZK=")
    } else if command.contains("--bin cluster_server") {
        Some("registered ")
    } else if command.contains(" watch") {
        Some("watching ")
    } else if command.contains(" gateway") {
        Some("gateway listening on ")
    } else if command.contains(" console") {
        Some("console on ")
    } else {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_commands_work_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let blocks = sh_blocks(&readme);
    assert!(blocks.len() >= 5, "{blocks:#?}");
    assert!(blocks[0]
        .iter()
        .any(|l| l.starts_with("bash scripts/demo.sh")));
    assert!(blocks[0]
        .iter()
        .any(|l| l.starts_with("bash scripts/test.sh")));

    let slacker = workspace_bin("slacker-cli", "slacker")
        .await
        .expect("slacker");
    let bin_dir = slacker.parent().expect("bin dir").to_path_buf();
    let mut examples = HashMap::new();
    for name in ["local_zk", "cluster_server", "cluster_client", "leader"] {
        examples.insert(name, example_bin(name).await.expect("example"));
    }
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut env: Vec<(String, String)> = vec![("PATH".into(), path)];
    let mut background: Vec<TestProcess> = Vec::new();
    let mut ran = 0;
    for line in blocks.iter().skip(1).flatten() {
        if line.starts_with("cargo install --path slacker-cli") {
            continue;
        }
        let mut command = line.trim_end_matches('&').trim().to_owned();
        for (name, bin) in &examples {
            let long = format!("cargo run -p slacker-examples --bin {name} --");
            let short = format!("cargo run -p slacker-examples --bin {name}");
            command = command.replace(&long, &bin.display().to_string());
            command = command.replace(&short, &bin.display().to_string());
        }
        if let Some(rest) = command.strip_prefix("export ") {
            for pair in rest.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("NAME=value");
                env.push((k.to_owned(), v.to_owned()));
            }
            continue;
        }
        assert!(!command.contains("cargo "), "unexpected cargo line: {line}");
        let mut bash = tokio::process::Command::new("bash");
        bash.arg("-c").arg(format!("exec {command}"));
        for (k, v) in &env {
            bash.env(k, v);
        }
        if let Some(ready) = ready_line(line) {
            let mut p = TestProcess::spawn(line, bash).expect("start");
            let up = p
                .wait_for_line(DEADLINE, |l| l.starts_with(ready))
                .await
                .unwrap_or_else(|e| panic!("`{line}` never printed `{ready}`: {e}"));
            if let Some(export) = up.strip_prefix("export ") {
                let (k, v) = export.split_once('=').expect("NAME=value");
                env.push((k.to_owned(), v.trim().to_owned()));
            }
            background.push(p);
        } else {
            // Calls may need a moment after a server registered: retry within the deadline.
            let last = std::sync::Mutex::new(String::new());
            let ok = wait_until(DEADLINE, || {
                let mut bash = tokio::process::Command::new("bash");
                bash.arg("-c").arg(&command);
                for (k, v) in &env {
                    bash.env(k, v);
                }
                let last = &last;
                async move {
                    let out = tokio::time::timeout(Duration::from_secs(30), bash.output()).await;
                    let outcome = match out {
                        Ok(Ok(o)) if o.status.success() && !o.stdout.is_empty() => return true,
                        Ok(Ok(o)) => format!(
                            "{:?}: {}{}",
                            o.status,
                            String::from_utf8_lossy(&o.stdout),
                            String::from_utf8_lossy(&o.stderr)
                        ),
                        other => format!("{other:?}"),
                    };
                    *last.lock().expect("lock") = outcome;
                    false
                }
            })
            .await
            .is_ok();
            let last = last.lock().expect("lock").clone();
            assert!(ok, "`{line}` failed: {last}");
        }
        ran += 1;
    }
    assert!(ran >= 12, "ran {ran} README lines");
    for mut p in background.into_iter().rev() {
        let _ = p.terminate().await;
        let _ = p.wait(Duration::from_secs(20)).await;
    }
}
