//! Fuzzes what a registry (or a config file) hands pealet as text: `WWW-Authenticate`
//! challenges, Docker `config.json` auths, base64, URLs and `Location` redirects, and
//! the config file's TOML subset. Any input gives a value or an error, never a panic;
//! base64 round-trips.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pealet::config::toml;
use pealet::images::registry::auth::{
    base64_decode, base64_encode, parse_challenge, parse_docker_auths,
};
use pealet::images::registry::url::Url;

fuzz_target!(|data: &[u8]| {
    let _ = parse_docker_auths(data);
    if let Some(bytes) = base64_decode(&String::from_utf8_lossy(data)) {
        assert_eq!(base64_decode(&base64_encode(&bytes)), Some(bytes));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_challenge(text);
    let _ = toml::parse(text);
    let (first, second) = text.split_once('\n').unwrap_or((text, "/"));
    if let Ok(url) = Url::parse(first) {
        let _ = url.authority();
        let _ = url.join(second);
    }
});
