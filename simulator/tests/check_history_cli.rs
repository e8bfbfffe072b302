//! `raftsim check-history` end to end: verdicts as exit codes, errors with line and column, the
//! picture.

use std::path::PathBuf;
use std::process::{Command, Output};

/// A scratch file under the target directory, named after the test.
fn scratch_file(name: &str, contents: &str) -> PathBuf {
    let directory = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("check_history_cli");
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn raftsim(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raftsim"))
        .args(arguments)
        .output()
        .expect("run raftsim")
}

const LINEARIZABLE_REGISTER: &str = "\
INFO  jepsen.util - 0\t:invoke\t:write\t1
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 0\t:ok\t:write\t1
INFO  jepsen.util - 1\t:ok\t:read\t1
INFO  jepsen.util - 2\t:invoke\t:cas\t[1 2]
INFO  jepsen.util - 2\t:info\t:cas\t:timed-out
";

const ILLEGAL_KV: &str = "\
{:process 0, :type :invoke, :f :put, :key \"k\", :value \"a\"}
{:process 0, :type :ok, :f :put, :key \"k\", :value \"a\"}
{:process 1, :type :invoke, :f :get, :key \"k\", :value nil}
{:process 1, :type :ok, :f :get, :key \"k\", :value \"\"}
";

#[test]
fn linearizable_exits_zero() {
    let path = scratch_file("linearizable.log", LINEARIZABLE_REGISTER);
    let output = raftsim(&[
        "check-history",
        "--format",
        "jepsen-register",
        path.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("linearizable"), "{stdout}");
}

#[test]
fn illegal_exits_one_and_writes_the_picture() {
    let path = scratch_file("illegal.txt", ILLEGAL_KV);
    let page = scratch_file("illegal.html", "");
    let output = raftsim(&[
        "check-history",
        "--format",
        "porcupine-kv",
        path.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("illegal in partition \"k\""), "{stdout}");
    assert!(stdout.contains("get(\"k\") -> \"\""), "{stdout}");
    let page = std::fs::read_to_string(page).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("operation breaking"));
}

#[test]
fn exhausted_budget_exits_two() {
    let path = scratch_file("budget.log", LINEARIZABLE_REGISTER);
    let output = raftsim(&[
        "check-history",
        "--format",
        "jepsen-register",
        path.to_str().unwrap(),
        "--max-steps",
        "0",
    ]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn malformed_file_exits_three_naming_line_and_column() {
    let path = scratch_file(
        "malformed.log",
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\tseven\n",
    );
    let output = raftsim(&[
        "check-history",
        "--format",
        "jepsen-register",
        path.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("malformed.log:2:33:"), "{stderr}");
}

#[test]
fn missing_file_exits_three() {
    let output = raftsim(&[
        "check-history",
        "--format",
        "porcupine-kv",
        "/nonexistent/history.txt",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("/nonexistent/history.txt"), "{stderr}");
}

#[test]
fn bad_arguments_exit_three_not_two() {
    // clap's own exit code for usage errors is 2, which would read as "unknown".
    let output = raftsim(&["check-history", "--format", "bogus", "file"]);
    assert_eq!(output.status.code(), Some(3));
    let output = raftsim(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
}
