//! A real mosquitto for one test: its own config, port and directory, persistence on or
//! off, optionally a TLS listener with certificates made by `openssl` for the test.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    tls: bool,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Tls {
    None,
    /// Server certificate only.
    Server,
    /// The client must present a certificate signed by the test CA.
    Mutual,
}

/// A fresh directory for one test.
pub fn temp_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pealet-mqtt-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A port that was free a moment ago: mosquitto cannot bind port 0 and say which.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Broker {
    pub fn start(test: &str, persistence: bool, tls: Tls) -> Broker {
        Broker::start_with(test, persistence, tls, "")
    }

    /// As [`Broker::start`], with `extra` lines of mosquitto configuration (written
    /// after the listener's; `{dir}` stands for the broker's directory).
    pub fn start_with(test: &str, persistence: bool, tls: Tls, extra: &str) -> Broker {
        let dir = temp_dir(test);
        let port = free_port();
        let mut conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n\
             persistence {persistence}\npersistence_location {}/\n\
             log_dest file {}/mosquitto.log\nlog_type all\n",
            dir.display(),
            dir.display()
        );
        if tls != Tls::None {
            make_certificates(&dir);
            conf.push_str(&format!(
                "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n\
                 require_certificate {1}\n",
                dir.display(),
                tls == Tls::Mutual
            ));
        }
        conf.push_str(&extra.replace("{dir}", &dir.display().to_string()));
        std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
        let mut b = Broker {
            child: None,
            port,
            dir,
            tls: tls != Tls::None,
        };
        b.run();
        b
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn run(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (Debian package mosquitto) must be installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops mosquitto as a service stop does (SIGTERM: it saves its persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            child.wait().unwrap();
        }
    }

    /// Starts it again on the same port with the same configuration.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`.
pub fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "1", "-subj", "/CN=pealet test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(dir, &ca);
    for (who, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        let (key, csr, pem, extfile) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.pem"),
            format!("{who}.ext"),
        );
        std::fs::write(
            dir.join(&extfile),
            format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n{ext}"),
        )
        .unwrap();
        let subj = format!("/CN=pealet test {who}");
        let mut req = vec!["req", "-subj", &subj, "-keyout", &key, "-out", &csr];
        req.extend(ec);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-out",
                &pem,
                "-extfile",
                &extfile,
            ],
        );
    }
}
