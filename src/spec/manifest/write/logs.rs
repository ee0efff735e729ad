//! Remote-logs messages as `pealet decode` prints them (pealet's own kinds, no
//! Kubernetes counterpart): field names as in docs/wire-format.md, in camelCase.

use super::{Map, bool, s, uint};
use crate::spec::logs::{Cursor, LogsRequest, LogsResponse, LogsResult};
use crate::spec::manifest::node::Node;

pub fn logs_request(r: &LogsRequest) -> Node {
    Map::new()
        .put("id", s(&r.id))
        .put("pod", s(&r.pod))
        .opt("container", r.container.as_deref().map(s))
        .opt("tailLines", r.tail.map(uint))
        .put("previous", bool(r.previous))
        .put("timestamps", bool(r.timestamps))
        .opt(
            "follow",
            r.follow
                .map(|f| Map::new().opt("after", f.after.map(cursor)).done()),
        )
        .done()
}

fn cursor(c: Cursor) -> Node {
    Map::new()
        .put("file", uint(c.file))
        .put("offset", uint(c.offset))
        .done()
}

pub fn logs_response(r: &LogsResponse) -> Node {
    let result = match &r.result {
        LogsResult::Text(t) => Map::new()
            .put("container", s(&t.container))
            .put("text", s(&String::from_utf8_lossy(&t.text)))
            .put("truncated", bool(t.truncated)),
        LogsResult::Error(e) => Map::new()
            .put("reason", s(e.reason.as_str()))
            .put("message", s(&e.message)),
        LogsResult::Chunk(c) => Map::new()
            .put("seq", uint(c.seq))
            .put("container", s(&c.container))
            .put("text", s(&String::from_utf8_lossy(&c.text)))
            .put("skipped", bool(c.skipped))
            .put("cursor", cursor(c.cursor))
            .opt("end", c.end.map(|e| s(e.as_str()))),
    };
    Map::new()
        .put("id", s(&r.id))
        .put(
            match r.result {
                LogsResult::Text(_) => "logs",
                LogsResult::Error(_) => "error",
                LogsResult::Chunk(_) => "chunk",
            },
            result.done(),
        )
        .done()
}
