//! The host's configuration grammars: `spin.toml` (manifest version 2, with
//! its variables, triggers, routes and `allowed_outbound_hosts`), the
//! runtime config (`--runtime-config-file`), and, line by line, route
//! patterns and outbound host patterns. Input: the text; each grammar gets
//! all of it.
//!
//! Checks: no panic, no hang; errors are values.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use studio_edge::manifest::Manifest;
use studio_edge::routes::RoutePattern;
use studio_edge_spin::outbound::AllowedHosts;
use studio_edge_spin::runtime_config::RuntimeConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Sources and files are resolved under a directory that does not exist,
    // so nothing on this machine is read.
    let base = Path::new("/nonexistent/studio-edge-fuzz");
    let _ = Manifest::parse(text, base);
    let _ = RuntimeConfig::parse(text, base);
    let lines: Vec<&str> = text.lines().collect();
    let _ = AllowedHosts::parse(&lines);
    for line in lines {
        let _ = RoutePattern::parse(line);
    }
});
