//! `wan-proxy`: a shaped TCP link (see `shaper.rs`) between clients and one upstream
//! server, for benchmarks (scripts/bench-wan.sh). Build it with
//! `cargo build --release --example wan-proxy`; run it as
//! `wan-proxy --listen 127.0.0.1:9883 --upstream 127.0.0.1:1883 --delay-ms 150`.
//! It prints `listening on ADDR`, then takes one control per line on standard input
//! and answers each with `ok`, a line of counters, or `error: ...`.

// The tests use the rest of it.
#[allow(dead_code)]
mod shaper;

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use shaper::{Dir, Link, Proxy, Shape};

const HELP: &str = "\
Usage: wan-proxy --upstream ADDR [--listen ADDR] [--delay-ms MS] [--jitter-ms MS]
                 [--rate-bps BITS] [--seed N]

  --listen ADDR     where clients connect (default 127.0.0.1:0, printed at start)
  --upstream ADDR   the server behind the link, e.g. 127.0.0.1:1883
  --delay-ms MS     delay in each direction (a round trip costs twice this)
  --jitter-ms MS    each chunk waits up to this much more, order kept
  --rate-bps BITS   bandwidth cap in each direction, bits per second (64000 = 64 kbit/s)
  --seed N          seed of the jitter (default 1)

Controls on standard input, one per line:
  delay MS | jitter MS | rate BITS|off     change both directions (new chunks)
  blackhole on|off                        stall every connection, new ones included
  reset                                   reset (RST) every open connection
  refuse on|off                           reset new connections at once
  close up|down                           FIN toward the server (up) or the clients (down)
  stats                                   accepted refused open up-bytes down-bytes
";

struct Args {
    listen: SocketAddr,
    upstream: SocketAddr,
    link: Link,
    seed: u64,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let (mut upstream, mut seed) = (None, 1);
    let mut way = Shape::default();
    while let Some(arg) = p.next()? {
        match arg {
            Long("listen") => listen = p.value()?.parse()?,
            Long("upstream") => upstream = Some(p.value()?.parse()?),
            Long("delay-ms") => way.delay = Duration::from_millis(p.value()?.parse()?),
            Long("jitter-ms") => way.jitter = Duration::from_millis(p.value()?.parse()?),
            Long("rate-bps") => way.rate = Some(p.value()?.parse::<u64>()? / 8),
            Long("seed") => seed = p.value()?.parse()?,
            Long("help") | Short('h') => {
                print!("{HELP}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    let upstream = upstream.ok_or("--upstream is required")?;
    let link = Link { up: way, down: way };
    Ok(Args {
        listen,
        upstream,
        link,
        seed,
    })
}

/// Applies one control line; the answer to print.
fn control(proxy: &Proxy, line: &str) -> Result<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let number = |w: &str| w.parse::<u64>().map_err(|e| format!("{w}: {e}"));
    let on = |w: &str| match w {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{w}: expected on or off")),
    };
    let both = |f: &dyn Fn(&mut Shape)| {
        let mut link = proxy.link();
        f(&mut link.up);
        f(&mut link.down);
        proxy.set_link(link);
    };
    match words[..] {
        ["delay", ms] => {
            let d = Duration::from_millis(number(ms)?);
            both(&|s| s.delay = d);
        }
        ["jitter", ms] => {
            let d = Duration::from_millis(number(ms)?);
            both(&|s| s.jitter = d);
        }
        ["rate", "off"] => both(&|s| s.rate = None),
        ["rate", bits] => {
            let r = number(bits)? / 8;
            both(&|s| s.rate = Some(r));
        }
        ["blackhole", v] => proxy.black_hole(on(v)?),
        ["refuse", v] => proxy.refuse(on(v)?),
        ["reset"] => proxy.reset_all(),
        ["close", "up"] => proxy.close(Dir::Up),
        ["close", "down"] => proxy.close(Dir::Down),
        ["stats"] => {
            let s = proxy.stats();
            return Ok(format!(
                "accepted {} refused {} open {} up-bytes {} down-bytes {}",
                s.accepted, s.refused, s.open, s.up_bytes, s.down_bytes
            ));
        }
        [] => return Ok(String::new()),
        _ => return Err(format!("unknown control {line:?} (see --help)")),
    }
    Ok("ok".into())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wan-proxy: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let proxy = match Proxy::bind(args.listen, args.upstream, args.link, args.seed) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wan-proxy: listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}", proxy.addr());
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let answer = control(&proxy, &line).unwrap_or_else(|e| format!("error: {e}"));
        if !answer.is_empty() {
            let _ = writeln!(out, "{answer}");
            let _ = out.flush();
        }
    }
    // No more controls: keep the link until killed.
    loop {
        std::thread::park();
    }
}
