//! Fuzzes the tar reader that unpacks image layers (`images::tar`): ustar, GNU long
//! names and links, pax headers, base-256 numbers, truncated archives. Any input gives
//! entries or an error, never a panic or an endless loop; an entry's data never yields
//! more bytes than its size says.

#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use pealet::images::tar::{Archive, parse_header};

fuzz_target!(|data: &[u8]| {
    if let Some(block) = data.first_chunk::<512>() {
        let _ = parse_header(block, 0);
    }
    let mut archive = Archive::new(data);
    // Every header takes at least one 512-byte block of the input.
    for _ in 0..=data.len() / 512 {
        let entry = match archive.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) | Err(_) => return,
        };
        let _ = entry.display();
        let mut got = 0u64;
        let mut buf = [0u8; 4096];
        let mut d = archive.data();
        loop {
            match d.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n as u64,
            }
        }
        assert!(
            got <= entry.size,
            "read {got} of an entry of {}",
            entry.size
        );
    }
});
