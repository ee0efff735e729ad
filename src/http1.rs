//! HTTP/1 rules that both HTTP clients share, the registry client
//! ([`crate::images::registry::http`]) and the httpGet probes and hooks
//! (`runtime::probe`): how many informational responses are skipped, and which header
//! names and values may be sent. Pure: no I/O.

/// At most this many 1xx informational responses (`100 Continue`, `103 Early Hints`)
/// are skipped before the final response, as Go's client does; one more is an error,
/// so an endless series of them cannot keep a client reading.
pub const MAX_INFORMATIONAL: usize = 5;

/// Whether `name` may be sent as a header name: an RFC 9110 token.
pub fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` may be sent as a header value: no control character but tab. A CR
/// or LF would end the header and start another one (header injection), a NUL is
/// refused by servers.
pub fn valid_header_value(value: &str) -> bool {
    !value.bytes().any(|b| b != b'\t' && (b < 0x20 || b == 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_tokens() {
        for ok in ["Authorization", "X-Custom_1", "a!#$%&'*+-.^_`|~z"] {
            assert!(valid_header_name(ok), "{ok:?}");
        }
        for bad in ["", "A B", "A:B", "A\r\nB", "Ä", "(x)", "a/b", "a\"b"] {
            assert!(!valid_header_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn header_values_have_no_line_breaks_or_controls() {
        for ok in ["", "Bearer abc.def-ghi", "a\tb", "with spaces", "ünïcode"] {
            assert!(valid_header_value(ok), "{ok:?}");
        }
        for bad in [
            "Bearer a\r\nX-Injected: 1",
            "a\nb",
            "a\rb",
            "a\0b",
            "a\x7fb",
            "a\x1bb",
        ] {
            assert!(!valid_header_value(bad), "{bad:?}");
        }
    }
}
