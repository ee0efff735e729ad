//! Fuzzes the probes' URLs and redirect rules: a path as a spec gives it, then a
//! `Location` header as a server sends it. Never a panic; a request target always starts
//! with `/` and holds no space or control byte; a redirect is followed only on the first
//! request's host.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pealet::runtime::probe::url::{Redirect, Url, redirect};
use pealet::spec::Scheme;

fn check(url: &Url) {
    let target = url.target();
    assert!(target.starts_with('/'), "{target:?}");
    assert!(
        !target.bytes().any(|b| b <= b' ' || b == 0x7f),
        "{target:?}"
    );
    let _ = url.to_string();
    let _ = url.host_port();
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, location) = text.split_once('\n').unwrap_or((text, "/"));
    let url = Url::new(Scheme::Http, "127.0.0.1".into(), 8080, path);
    check(&url);
    for requests in [1, 10] {
        match redirect(302, Some(location), &url, "127.0.0.1", requests) {
            Redirect::Follow { url: next, .. } => {
                assert_eq!(next.host, "127.0.0.1");
                check(&next);
            }
            Redirect::UseResponse | Redirect::Fail(_) => {}
        }
    }
});
