//! Helpers for the tests that run real `kvapp` processes: [`cluster`] spawns, kills and restarts
//! nodes and talks to them; [`http`] is the small HTTP client underneath. Each test binary uses
//! a different subset, hence the `dead_code` allowance.

#![allow(dead_code)]

pub mod cluster;
pub mod http;
