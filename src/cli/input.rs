//! Reading a command's input: a file, or standard input for `-`, never more than a limit.

use std::io::Read;

use super::CliError;

/// Largest manifest file accepted (the reader's own limit).
pub const MAX_MANIFEST: usize = 1024 * 1024;

/// Reads all of `path` (`-` is standard input), failing when it exceeds `max` bytes.
pub fn read_limited(path: &str, max: usize) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    let limit = max as u64 + 1;
    let result = if path == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut buf))
    };
    result.map_err(|e| CliError::Failed(format!("cannot read {}: {e}", display(path))))?;
    if buf.len() > max {
        return Err(CliError::Invalid(vec![format!(
            "{}: larger than the limit of {max} bytes",
            display(path)
        )]));
    }
    Ok(buf)
}

/// Reads a text file, failing on anything that is not UTF-8.
pub fn read_text(path: &str, max: usize) -> Result<String, CliError> {
    let bytes = read_limited(path, max)?;
    String::from_utf8(bytes)
        .map_err(|_| CliError::Invalid(vec![format!("{}: not UTF-8 text", display(path))]))
}

/// How a path is named in messages.
pub fn display(path: &str) -> &str {
    if path == "-" { "<stdin>" } else { path }
}

/// Decodes hex text (whitespace ignored); `None` when it is not hex.
pub fn from_hex(text: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if digits.is_empty() || digits.len() % 2 != 0 {
        return None;
    }
    let val = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    digits
        .chunks(2)
        .map(|p| Some(val(p[0])? << 4 | val(p[1])?))
        .collect()
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(from_hex(b"01ff\n0a"), Some(vec![1, 0xff, 10]));
        assert_eq!(from_hex(b"0g"), None);
        assert_eq!(from_hex(b"abc"), None);
        assert_eq!(from_hex(b""), None);
        assert_eq!(to_hex(&[1, 0xff, 10]), "01ff0a");
    }
}
