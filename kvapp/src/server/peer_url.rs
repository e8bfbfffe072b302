//! Peer URLs: where a node's Raft traffic goes, as raftexample writes them
//! (`http://127.0.0.1:12379`).
//!
//! The scheme is kept for compatibility with raftexample's command line; the traffic itself is
//! this crate's framed TCP protocol (see [`super::frame`]), sent to the URL's host and port.

use std::fmt;
use std::str::FromStr;

/// A parsed peer URL: `http://HOST:PORT`, with an optional trailing `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerUrl {
    host: String,
    port: u16,
}

/// Why a peer URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid peer URL {url:?}: {reason}")]
pub struct PeerUrlError {
    /// The text as given.
    pub url: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl PeerUrl {
    /// The host: a name, an IPv4 address, or an IPv6 address in brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port of the node's Raft listener.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `HOST:PORT`, as `std::net` resolves and binds it.
    pub fn socket_address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl fmt::Display for PeerUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "http://{}:{}", self.host, self.port)
    }
}

impl FromStr for PeerUrl {
    type Err = PeerUrlError;

    fn from_str(text: &str) -> Result<PeerUrl, PeerUrlError> {
        let refuse = |reason| PeerUrlError {
            url: text.to_string(),
            reason,
        };
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| refuse("must start with http://"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(refuse("must have no path, query, fragment or user"));
        }
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| refuse("must name a port"))?;
        let host_is_valid = if let Some(inner) = host.strip_prefix('[') {
            inner
                .strip_suffix(']')
                .is_some_and(|address| address.parse::<std::net::Ipv6Addr>().is_ok())
        } else {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        };
        if !host_is_valid {
            return Err(refuse("the host is not a name or an IP address"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|&port| port != 0)
            .ok_or_else(|| refuse("the port must be a number in 1..=65535"))?;
        Ok(PeerUrl {
            host: host.to_string(),
            port,
        })
    }
}

/// Parses raftexample's `--cluster`: comma-separated peer URLs, the k-th being node k's.
pub fn parse_cluster(text: &str) -> Result<Vec<PeerUrl>, PeerUrlError> {
    text.split(',').map(|url| url.trim().parse()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_raftexample_urls() {
        let url: PeerUrl = "http://127.0.0.1:12379".parse().unwrap();
        assert_eq!(url.host(), "127.0.0.1");
        assert_eq!(url.port(), 12379);
        assert_eq!(url.socket_address(), "127.0.0.1:12379");
        assert_eq!(url.to_string(), "http://127.0.0.1:12379");
        let url: PeerUrl = "http://localhost:9021/".parse().unwrap();
        assert_eq!(url.socket_address(), "localhost:9021");
        let url: PeerUrl = "http://[::1]:7000".parse().unwrap();
        assert_eq!(url.socket_address(), "[::1]:7000");
    }

    #[test]
    fn refuses_what_is_not_a_peer_url() {
        for text in [
            "",
            "127.0.0.1:12379",
            "https://127.0.0.1:12379",
            "http://127.0.0.1",
            "http://127.0.0.1:0",
            "http://127.0.0.1:65536",
            "http://127.0.0.1:x",
            "http://:12379",
            "http://127.0.0.1:12379/raft",
            "http://user@127.0.0.1:12379",
            "http://[::1:7000",
            "http://a b:1",
        ] {
            assert!(text.parse::<PeerUrl>().is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn a_cluster_lists_urls_in_node_id_order() {
        let cluster =
            parse_cluster("http://127.0.0.1:12379, http://127.0.0.1:22379,http://127.0.0.1:32379")
                .unwrap();
        let ports: Vec<u16> = cluster.iter().map(PeerUrl::port).collect();
        assert_eq!(ports, [12379, 22379, 32379]);
        assert!(parse_cluster("http://127.0.0.1:1,,http://127.0.0.1:2").is_err());
    }
}
