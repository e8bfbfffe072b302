//! `kvapp`: one node of a replicated key-value store, with raftexample's command line.
//!
//! ```text
//! kvapp --id 1 --cluster http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379 --port 12380
//! ```
//!
//! Logs go to stderr; `RUST_LOG` filters them (default `info`).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use kvapp::node::ReadMode;
use kvapp::server::{self, peer_url, ServerConfig};
use tracing_subscriber::EnvFilter;

/// One node of a replicated key-value store (Raft), with an HTTP API.
#[derive(Parser, Debug)]
#[command(name = "kvapp", version)]
struct Args {
    /// This node's id: the 1-based position of its URL in --cluster.
    #[arg(long, default_value_t = 1)]
    id: u64,

    /// Comma-separated peer URLs in node id order; a node listens for its peers on its own
    /// URL's host and port.
    #[arg(long, default_value = "http://127.0.0.1:9021")]
    cluster: String,

    /// Port of the HTTP key-value API.
    #[arg(long, visible_alias = "kvport", default_value_t = 9121)]
    port: u16,

    /// Join an existing cluster: start with no configuration and wait to be added with
    /// `POST /ID` (body: this node's peer URL) on a member.
    #[arg(long)]
    join: bool,

    /// Directory of this node's WAL and snapshots [default: kvapp-ID].
    #[arg(long)]
    data_dir: Option<PathBuf>,

    /// Address the HTTP API binds to; 0.0.0.0 serves every interface (the API has no
    /// authentication).
    #[arg(long, default_value = "127.0.0.1")]
    http_host: String,

    /// How a linearizable GET is confirmed: `safe` (a heartbeat round to a quorum after the
    /// request arrives) or `lease` (no round while the leader's lease holds; correct only while
    /// the nodes' clocks drift, and messages are delayed, within the lease's margin, and a
    /// crashed node stays down for an election timeout).
    #[arg(long, default_value = "safe", value_parser = parse_read_mode)]
    read_mode: ReadMode,

    /// Milliseconds per Raft tick (an election timeout is 10 to 20 ticks).
    #[arg(long, default_value_t = 100, hide = true)]
    tick_ms: u64,

    /// Milliseconds a request may wait for its commit before it is answered 504.
    #[arg(long, default_value_t = 5_000, hide = true)]
    request_timeout_ms: u64,

    /// Entries applied between snapshots.
    #[arg(long, default_value_t = 10_000, hide = true)]
    snapshot_count: u64,

    /// HTTP worker threads (requests served at once).
    #[arg(long, default_value_t = 16, hide = true)]
    http_threads: usize,

    /// Exit when standard input closes, so that nodes started by a test harness never outlive
    /// it (even when it is killed).
    #[arg(long, hide = true)]
    exit_on_stdin_close: bool,
}

fn parse_read_mode(text: &str) -> Result<ReadMode, String> {
    text.parse()
}

fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    if args.exit_on_stdin_close {
        std::thread::Builder::new()
            .name("stdin-watch".to_string())
            .spawn(|| {
                let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
                tracing::info!("standard input closed; exiting");
                // As abrupt as a crash, which the WAL is built for.
                std::process::exit(0);
            })
            .context("starting the stdin watcher")?;
    }
    let cluster = peer_url::parse_cluster(&args.cluster).context("--cluster")?;
    let http_address = format!("{}:{}", args.http_host, args.port);
    let mut config = ServerConfig::new(args.id, cluster, http_address);
    config.join = args.join;
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    config.tick_interval_ms = args.tick_ms;
    config.request_timeout_ms = args.request_timeout_ms;
    config.snapshot_count = args.snapshot_count;
    config.http_threads = args.http_threads;
    config.read_mode = args.read_mode;
    server::run(config).context("kvapp")?;
    Ok(())
}
