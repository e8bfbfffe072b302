//! Scripted tests in the style of etcd-io/raft's datadriven tests: each file under
//! `testdata/` is a sequence of changes applied to one tracker, each followed by the expected
//! configuration and progress.
//!
//! A block is optional `#` comment lines, a command, argument lines, a `----` line, and the
//! expected output, ending at a blank line:
//!
//! ```text
//! # Adding a voter to the empty configuration.
//! simple
//! v1
//! ----
//! voters=(1)
//! 1: Probe matched=0 next_index=1
//! ```
//!
//! Commands: `simple`, `enter-joint`, `enter-joint auto-leave`, `leave-joint`. Arguments are
//! space-separated changes: `v3` adds (or promotes) voter 3, `l3` adds (or demotes to) learner
//! 3, `r3` removes 3. The output is the new configuration and one line per progress, or the
//! error; a failed change leaves the tracker as it was. The last index given to the changer
//! starts at 0 and grows by one per block, so a node's `next_index` tells when it was added.
//!
//! `REWRITE_TESTDATA=1 cargo test -p raft confchange` rewrites the expected outputs from the
//! actual ones. Only commit a rewrite whose diff you understand.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::Changer;
use crate::message::{ConfChangeSingle, ConfChangeType, Index};
use crate::tracker::ProgressTracker;

/// One block of a script.
struct Block {
    /// The comment lines, kept verbatim for rewriting.
    comments: Vec<String>,
    /// The command line.
    command: String,
    /// The argument lines.
    arguments: Vec<String>,
    /// The expected output lines.
    expected: Vec<String>,
    /// The 1-based line of the command, for failure messages.
    line: usize,
}

fn parse(text: &str, file: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    loop {
        while lines.next_if(|(_, line)| line.trim().is_empty()).is_some() {}
        // Comments, and blank lines between comments (a file may open with a paragraph).
        let mut comments = Vec::new();
        while let Some((_, line)) =
            lines.next_if(|(_, line)| line.starts_with('#') || line.trim().is_empty())
        {
            comments.push(line.to_string());
        }
        let Some((number, command)) = lines.next() else {
            let stray = comments.iter().any(|line| !line.trim().is_empty());
            assert!(!stray, "{file}: comments after the last block");
            return blocks;
        };
        let mut arguments = Vec::new();
        loop {
            match lines.next() {
                Some((_, "----")) => break,
                Some((_, line)) => arguments.push(line.to_string()),
                None => panic!("{file}:{}: block without a ---- line", number + 1),
            }
        }
        let mut expected = Vec::new();
        while let Some((_, line)) = lines.next_if(|(_, line)| !line.trim().is_empty()) {
            expected.push(line.to_string());
        }
        blocks.push(Block {
            comments,
            command: command.to_string(),
            arguments,
            expected,
            line: number + 1,
        });
    }
}

fn parse_changes(arguments: &[String], location: &str) -> Vec<ConfChangeSingle> {
    let tokens = arguments.iter().flat_map(|line| line.split_whitespace());
    tokens
        .map(|token| {
            let (kind, id) = token.split_at(1);
            let change_type = match kind {
                "v" => ConfChangeType::AddNode,
                "l" => ConfChangeType::AddLearnerNode,
                "r" => ConfChangeType::RemoveNode,
                other => panic!("{location}: unknown change kind {other:?} in {token:?}"),
            };
            let node_id = id
                .parse()
                .unwrap_or_else(|error| panic!("{location}: bad node id in {token:?}: {error}"));
            ConfChangeSingle {
                change_type,
                node_id,
            }
        })
        .collect()
}

/// Runs one block against `tracker`, applying the change if it succeeds; returns the output.
fn run_block(
    tracker: &mut ProgressTracker,
    last_index: Index,
    block: &Block,
    location: &str,
) -> String {
    let changes = parse_changes(&block.arguments, location);
    let changer = Changer {
        tracker,
        last_index,
    };
    let result = match block.command.as_str() {
        "simple" => changer.simple(&changes),
        "enter-joint" => changer.enter_joint(false, &changes),
        "enter-joint auto-leave" => changer.enter_joint(true, &changes),
        "leave-joint" => {
            assert!(
                changes.is_empty(),
                "{location}: leave-joint takes no changes"
            );
            changer.leave_joint()
        }
        other => panic!("{location}: unknown command {other:?}"),
    };
    match result {
        Ok((config, progress)) => {
            tracker.apply(config, progress);
            let mut output = tracker.config.to_string();
            for (id, progress) in &tracker.progress {
                write!(output, "\n{id}: {progress}").expect("writing to a String");
            }
            output
        }
        Err(error) => error.to_string(),
    }
}

fn run_file(name: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/confchange/testdata")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let blocks = parse(&text, name);
    let rewrite = std::env::var_os("REWRITE_TESTDATA").is_some();

    let mut tracker = ProgressTracker::new(10);
    let mut rewritten = String::new();
    let mut failures = Vec::new();
    for (position, block) in blocks.iter().enumerate() {
        let location = format!("{name}:{}", block.line);
        let actual = run_block(&mut tracker, position as Index, block, &location);
        let expected = block.expected.join("\n");
        if actual != expected {
            failures.push(format!(
                "{location}: {} {}\n--- expected\n{expected}\n--- actual\n{actual}",
                block.command,
                block.arguments.join(" ")
            ));
        }
        for line in block
            .comments
            .iter()
            .chain([&block.command])
            .chain(&block.arguments)
        {
            writeln!(rewritten, "{line}").expect("writing to a String");
        }
        writeln!(rewritten, "----\n{actual}\n").expect("writing to a String");
    }
    if rewrite {
        let rewritten = rewritten.trim_end().to_string() + "\n";
        std::fs::write(&path, rewritten)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        return;
    }
    assert!(
        failures.is_empty(),
        "{} block(s) differ (REWRITE_TESTDATA=1 rewrites them):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn simple_changes() {
    run_file("simple.txt");
}

#[test]
fn joint_changes() {
    run_file("joint.txt");
}
