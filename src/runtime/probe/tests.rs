//! HTTP runs driven by a real poll loop against one-shot servers on 127.0.0.1.

use std::time::Duration;

use super::request::build_request;
use super::testing::{Server, drive, now_ms};
use super::url::Url;
use super::{HttpRequest, ProbeOutcome, ProbeRun, Purpose, Target};
use crate::spec::{HttpGet, HttpHeader, LifecycleHandler, PortRef, ProbeHandler, Scheme};

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn status(code: u16, extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 {code} Whatever\r\n{extra}Content-Length: 0\r\n\r\n").into_bytes()
}

fn probe(server: &Server, path: &str, headers: &[(&str, &str)], timeout_ms: u64) -> ProbeOutcome {
    let req = HttpRequest::get(server.addr, path, headers, Purpose::Probe);
    drive(ProbeRun::http(req, now_ms(), timeout_ms))
}

#[test]
fn a_200_succeeds_with_the_kubelet_request() {
    let server = Server::new(vec![ok("fine")]);
    let out = probe(&server, "/healthz", &[], 2000);
    assert_eq!(out, ProbeOutcome::success());
    let req = server.requests.recv().unwrap();
    let port = server.addr.port();
    assert_eq!(
        req,
        format!(
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: kube-probe/1.34\r\n\
             Accept: */*\r\nConnection: close\r\n\r\n"
        )
    );
}

#[test]
fn a_503_fails_with_its_status() {
    let server = Server::new(vec![status(503, "")]);
    let out = probe(&server, "/", &[], 2000);
    assert_eq!(
        out,
        ProbeOutcome::failure("HTTP probe failed with statuscode: 503")
    );
}

#[test]
fn a_same_host_redirect_is_followed() {
    let server = Server::new(vec![status(302, "Location: /ready\r\n"), ok("")]);
    let out = probe(&server, "/", &[("X-Token", "t")], 2000);
    assert_eq!(out, ProbeOutcome::success());
    let reqs = server.take_requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs[1].starts_with("GET /ready HTTP/1.1\r\n"),
        "{}",
        reqs[1]
    );
    assert!(reqs[1].contains("X-Token: t\r\n"));
}

#[test]
fn a_redirect_to_another_host_succeeds_with_a_warning() {
    let moved = b"HTTP/1.1 302 Found\r\nLocation: http://example.invalid/\r\nContent-Length: 5\r\n\r\nmoved";
    let server = Server::new(vec![moved.to_vec()]);
    let out = probe(&server, "/", &[], 2000);
    assert!(out.success);
    assert_eq!(
        out.message.as_deref(),
        Some("Probe terminated redirects, Response body: moved")
    );
    assert_eq!(server.take_requests().len(), 1);
}

#[test]
fn ten_redirects_are_too_many() {
    let server = Server::new(vec![status(307, "Location: /again\r\n"); 10]);
    let out = probe(&server, "/", &[], 5000);
    assert_eq!(
        out,
        ProbeOutcome::failure("Get \"/again\": stopped after 10 redirects")
    );
    assert_eq!(server.take_requests().len(), 10);
}

#[test]
fn a_slow_server_times_out_awaiting_headers() {
    let server = Server::with(vec![ok("late")], Duration::from_millis(1500));
    let start = now_ms();
    let out = probe(&server, "/", &[], 200);
    let took = now_ms() - start;
    assert!((200..1400).contains(&took), "took {took} ms");
    let url = format!("http://{}/", server.addr);
    assert_eq!(
        out,
        ProbeOutcome::failure(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        ))
    );
}

#[test]
fn oversized_headers_fail_within_the_bound() {
    let mut resp = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..4000 {
        resp.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(40)).as_bytes());
    }
    resp.extend_from_slice(b"\r\n");
    let server = Server::new(vec![resp]);
    let out = probe(&server, "/", &[], 2000);
    assert!(!out.success);
    let msg = out.message.unwrap();
    assert!(
        msg.ends_with("server response headers exceeded 16384 bytes; aborted"),
        "{msg}"
    );
}

#[test]
fn user_headers_override_user_agent_and_accept() {
    let server = Server::new(vec![ok("")]);
    let headers = [
        ("user-agent", "my-probe"),
        ("Accept", "application/json"),
        ("Host", "app.local"),
    ];
    assert!(probe(&server, "/", &headers, 2000).success);
    let req = server.requests.recv().unwrap();
    assert!(req.contains("\r\nHost: app.local\r\n"), "{req}");
    assert!(req.contains("\r\nUser-Agent: my-probe\r\n"), "{req}");
    assert!(req.contains("\r\nAccept: application/json\r\n"), "{req}");
    assert!(!req.contains("kube-probe") && !req.contains("*/*"), "{req}");
}

#[test]
fn a_body_larger_than_the_limit_is_fine() {
    let big = "z".repeat(100 * 1024);
    let server = Server::new(vec![ok(&big)]);
    assert_eq!(probe(&server, "/", &[], 2000), ProbeOutcome::success());
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let server = Server::new(vec![chunked.to_vec()]);
    assert_eq!(probe(&server, "/", &[], 2000), ProbeOutcome::success());
}

#[test]
fn a_short_body_or_no_response_fails() {
    let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec();
    let server = Server::new(vec![short, Vec::new()]);
    let url = format!("http://{}/", server.addr);
    let out = probe(&server, "/", &[], 2000);
    assert_eq!(
        out,
        ProbeOutcome::failure(format!("Get \"{url}\": unexpected EOF"))
    );
    let out = probe(&server, "/", &[], 2000);
    assert_eq!(out, ProbeOutcome::failure(format!("Get \"{url}\": EOF")));
}

#[test]
fn informational_responses_are_skipped() {
    let resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n".to_vec();
    let server = Server::new(vec![resp]);
    assert_eq!(probe(&server, "/", &[], 2000), ProbeOutcome::success());
}

#[test]
fn an_endless_series_of_100_continue_fails_within_the_bound() {
    // Far more than the bound: were they all skipped, the probe would end in an EOF.
    let resp = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(4000);
    let server = Server::new(vec![resp]);
    let url = format!("http://{}/", server.addr);
    assert_eq!(
        probe(&server, "/", &[], 5000),
        ProbeOutcome::failure(format!(
            "Get \"{url}\": net/http: too many 1xx informational responses"
        ))
    );
}

#[test]
fn a_closed_port_is_refused() {
    let addr = Server::new(vec![]).addr;
    let req = HttpRequest::get(addr, "/", &[], Purpose::Probe);
    let out = drive(ProbeRun::http(req, now_ms(), 2000));
    let want = format!("Get \"http://{addr}/\": dial tcp {addr}: connect: connection refused");
    assert_eq!(out, ProbeOutcome::failure(want));
}

fn http_get(port: u16, scheme: Scheme) -> HttpGet {
    HttpGet {
        host: None,
        path: Some("live".try_into().unwrap()),
        port: PortRef::Number(port),
        scheme,
        http_headers: Default::default(),
    }
}

#[test]
fn https_is_reported_as_unsupported() {
    let target = Target {
        pod_ip: None,
        ports: &[],
    };
    let handler = ProbeHandler::HttpGet(http_get(8443, Scheme::Https));
    let mut run = ProbeRun::for_probe(&handler, &target, 10, 1000).unwrap();
    assert!(run.fd().is_none());
    assert_eq!(
        run.advance(10),
        Some(ProbeOutcome::failure(
            "Get \"https://127.0.0.1:8443/live\": https probes are not supported"
        ))
    );
}

#[test]
fn http_hooks_succeed_on_any_response() {
    let server = Server::new(vec![status(500, "")]);
    let target = Target {
        pod_ip: None,
        ports: &[],
    };
    let handler = LifecycleHandler::HttpGet(http_get(server.addr.port(), Scheme::Http));
    let run = ProbeRun::for_hook(&handler, &target, now_ms(), 2000).unwrap();
    assert_eq!(drive(run), ProbeOutcome::success());
    let req = server.requests.recv().unwrap();
    assert!(req.starts_with("GET /live HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("User-Agent: kube-lifecycle/1.34\r\n"), "{req}");
}

#[test]
fn request_bytes_follow_the_header_rules() {
    let url = Url::new(Scheme::Http, "10.0.0.5".into(), 80, "/p?q=1");
    let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let bytes = |hs: &[(&str, &str)], host: Option<&str>| {
        build_request(&url, host, &h(hs), Purpose::Probe).map(|b| String::from_utf8(b).unwrap())
    };
    assert_eq!(
        bytes(&[], None).unwrap(),
        "GET /p?q=1 HTTP/1.1\r\nHost: 10.0.0.5:80\r\nUser-Agent: kube-probe/1.34\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    // Empty User-Agent and Accept remove them; Connection and framing headers are ours.
    let req = bytes(
        &[
            ("USER-AGENT", ""),
            ("accept", ""),
            ("Connection", "keep-alive"),
            ("X-A", "1"),
        ],
        Some("virt.example"),
    )
    .unwrap();
    assert_eq!(
        req,
        "GET /p?q=1 HTTP/1.1\r\nHost: virt.example\r\nX-A: 1\r\nConnection: close\r\n\r\n"
    );
    let two = bytes(&[("Accept", "a/b"), ("accept", "c/d")], None).unwrap();
    assert!(two.contains("Accept: a/b\r\naccept: c/d\r\n"), "{two}");
    assert_eq!(
        bytes(&[("Bad Name", "x")], None).unwrap_err(),
        "net/http: invalid header field name \"Bad Name\""
    );
    assert_eq!(
        bytes(&[("X-Evil", "a\r\nInjected: 1")], None).unwrap_err(),
        "net/http: invalid header field value for \"X-Evil\""
    );
    let lifecycle = build_request(&url, None, &[], Purpose::Lifecycle).unwrap();
    assert!(
        String::from_utf8(lifecycle)
            .unwrap()
            .contains("kube-lifecycle/1.34")
    );
}

#[test]
fn spec_headers_and_named_ports_reach_the_request() {
    let server = Server::new(vec![ok("")]);
    let mut get = http_get(0, Scheme::Http);
    get.port = PortRef::Name("web".try_into().unwrap());
    get.host = Some("localhost".try_into().unwrap());
    let header = HttpHeader {
        name: "X-Probe".try_into().unwrap(),
        value: "yes".try_into().unwrap(),
    };
    get.http_headers.push(header).unwrap();
    let ports = [crate::spec::ContainerPort {
        name: Some("web".try_into().unwrap()),
        container_port: server.addr.port(),
        host_port: None,
        protocol: crate::spec::Protocol::Tcp,
    }];
    let target = Target {
        pod_ip: None,
        ports: &ports,
    };
    let run = ProbeRun::for_probe(&ProbeHandler::HttpGet(get), &target, now_ms(), 2000);
    assert_eq!(drive(run.unwrap()), ProbeOutcome::success());
    let req = server.requests.recv().unwrap();
    let port = server.addr.port();
    assert!(
        req.starts_with(&format!("GET /live HTTP/1.1\r\nHost: localhost:{port}\r\n")),
        "{req}"
    );
    assert!(req.contains("X-Probe: yes\r\n"), "{req}");
}
