//! The shim's clients: accepting connections, answering [`Request`]s, stop requests
//! from a signal, and the lifecycle's Events for watchers. Part of the executor of
//! `run.rs`.

use std::time::Duration;

use rustix::net::{RecvFlags, SocketFlags};

use super::proto::{ErrorCode, MAX_BACKLOG, Request, Response};
use super::run::{Client, Executor};
use crate::lifecycle::Event;
use crate::runtime::config;

impl Executor<'_> {
    pub(super) fn accept(&mut self) {
        if let Ok(fd) = rustix::net::accept_with(&self.listener, SocketFlags::CLOEXEC) {
            let _ = rustix::net::sockopt::set_socket_timeout(
                &fd,
                rustix::net::sockopt::Timeout::Send,
                Some(Duration::from_secs(1)),
            );
            self.clients.push(Client {
                fd,
                watch: false,
                stop: false,
                gone: false,
            });
        }
    }

    pub(super) fn on_signal(&mut self) {
        let mut buf = [0u8; crate::sys::SIGINFO_SIZE];
        while let Ok(n) = rustix::io::read(&self.signals, &mut buf) {
            if n < 4 {
                break;
            }
            // An orphan of the pod reparented to us (we are child subreaper), or a child
            // whose pidfd we no longer watch (an exec run killed at its deadline).
            if crate::sys::signal_number(&buf) == Some(libc::SIGCHLD) {
                self.reap();
                continue;
            }
            log::info!(
                "signal {:?}: stopping the pod",
                crate::sys::signal_number(&buf)
            );
            self.events.push_back(Event::StopRequested {
                grace_seconds: None,
            });
        }
    }

    pub(super) fn on_client(&mut self, i: usize) {
        let mut buf = vec![0u8; config::MAX_FRAME];
        let n = match rustix::net::recv(&self.clients[i].fd, &mut buf, RecvFlags::DONTWAIT) {
            Ok((0, _)) | Err(_) => {
                self.clients[i].gone = true;
                return;
            }
            Ok((n, _)) => n,
        };
        let response = match config::decode_frame::<Request>(&buf[..n.min(buf.len())]) {
            Err(e) => Some(Response::Error {
                code: ErrorCode::BadRequest,
                message: e.to_string(),
            }),
            Ok(request) => self.request(i, request),
        };
        if let Some(response) = response {
            if config::send(&self.clients[i].fd, &response).is_err() {
                self.clients[i].gone = true;
            }
        }
    }

    fn request(&mut self, i: usize, request: Request) -> Option<Response> {
        match request {
            Request::Status => Some(Response::Status(Box::new(self.lifecycle.status()))),
            Request::Watch { replay } => {
                self.clients[i].watch = true;
                let status = Response::Status(Box::new(self.lifecycle.status()));
                if config::send(&self.clients[i].fd, &status).is_err() {
                    self.clients[i].gone = true;
                    return None;
                }
                let backlog = self.backlog.iter().filter(|_| replay);
                for e in backlog {
                    let event = Response::Event(Box::new(e.clone()));
                    if config::send(&self.clients[i].fd, &event).is_err() {
                        self.clients[i].gone = true;
                        break;
                    }
                }
                None
            }
            Request::Stop { grace_seconds } => {
                self.clients[i].stop = true;
                self.events
                    .push_back(Event::StopRequested { grace_seconds });
                None
            }
            Request::ContainerPid { container } => {
                let found = self
                    .pod
                    .spec
                    .all_containers()
                    .position(|c| *c.name == *container);
                Some(match found.map(|i| self.slots[i].running.as_ref()) {
                    None => Response::Error {
                        code: ErrorCode::NoSuchContainer,
                        message: format!("no container {container:?} in pod {}", self.pod.name),
                    },
                    Some(None) => Response::Error {
                        code: ErrorCode::NotRunning,
                        message: format!("container {container:?} is not running"),
                    },
                    Some(Some(r)) => Response::ContainerPid(r.pid),
                })
            }
        }
    }

    /// Sends the Events the lifecycle recorded to every watcher, and keeps the newest.
    pub(super) fn tell_events(&mut self) {
        let (events, dropped) = self.lifecycle.take_events();
        if dropped > 0 {
            log::warn!("{dropped} events of the pod dropped: too many in one step");
        }
        for e in events {
            let response = Response::Event(Box::new(e.clone()));
            for c in self.clients.iter_mut().filter(|c| c.watch && !c.gone) {
                c.gone = config::send(&c.fd, &response).is_err();
            }
            if self.backlog.len() >= MAX_BACKLOG {
                self.backlog.pop_front();
            }
            self.backlog.push_back(e);
        }
    }
}
