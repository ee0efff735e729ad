//! The encoder's parse: a hash-chain match finder over the dictionary and the input, and
//! a lazy choice between a literal, a new match and a repeated distance.
//!
//! Only the encoder runs this; the decoder does not depend on how tokens were chosen, so
//! a better parse needs no change of format. Chains are cut at a fixed depth, which bounds
//! the time per byte.

use super::lz::{MAX_LEN, MIN_LEN, Model, Token};

const HASH_BITS: u32 = 14;
/// Candidates tried per position.
const DEPTH: usize = 48;
/// A match this long is taken at once.
const NICE: usize = 96;
const NONE: u32 = u32::MAX;

pub struct Finder<'a> {
    buf: &'a [u8],
    head: Vec<u32>,
    prev: Vec<u32>,
    /// Positions below this one are in the chains.
    inserted: usize,
}

fn hash(b: &[u8]) -> usize {
    let v = u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
    (v.wrapping_mul(0x9e37_79b1) >> (32 - HASH_BITS)) as usize
}

impl<'a> Finder<'a> {
    pub fn new(buf: &'a [u8]) -> Finder<'a> {
        Finder {
            buf,
            head: vec![NONE; 1 << HASH_BITS],
            prev: vec![NONE; buf.len()],
            inserted: 0,
        }
    }

    /// Puts every position before `pos` in the chains.
    pub fn insert_to(&mut self, pos: usize) {
        while self.inserted < pos {
            let i = self.inserted;
            if i + 3 <= self.buf.len() {
                let h = hash(&self.buf[i..]);
                self.prev[i] = self.head[h];
                self.head[h] = i as u32;
            }
            self.inserted += 1;
        }
    }

    fn common(&self, a: usize, b: usize, max: usize) -> usize {
        let (x, y) = (&self.buf[a..a + max], &self.buf[b..b + max]);
        x.iter().zip(y).take_while(|(p, q)| p == q).count()
    }

    /// The longest earlier match at `pos` (length >= 3), nearest first on ties:
    /// `(len, dist)`, or `(0, 0)`.
    pub fn longest(&mut self, pos: usize) -> (usize, usize) {
        self.insert_to(pos);
        let max = (self.buf.len() - pos).min(MAX_LEN);
        if max < 3 {
            return (0, 0);
        }
        let mut best = (0, 0);
        let mut cand = self.head[hash(&self.buf[pos..])];
        for _ in 0..DEPTH {
            if cand == NONE {
                break;
            }
            let c = cand as usize;
            let len = self.common(pos, c, max);
            if len > best.0 {
                best = (len, pos - c);
                if len >= NICE.min(max) {
                    break;
                }
            }
            cand = self.prev[c];
        }
        if best.0 < 3 { (0, 0) } else { best }
    }

    /// The longest of the repeated distances at `pos`: `(len, idx)`.
    pub fn longest_rep(&self, pos: usize, reps: &[usize; 4]) -> (usize, usize) {
        let max = (self.buf.len() - pos).min(MAX_LEN);
        let mut best = (0, 0);
        for (idx, &d) in reps.iter().enumerate() {
            if d <= pos {
                let len = self.common(pos, pos - d, max);
                if len > best.0 {
                    best = (len, idx);
                }
            }
        }
        best
    }
}

/// Whether a match of distance `big` is worse than one byte shorter at distance `small`.
fn much_farther(small: usize, big: usize) -> bool {
    (big >> 7) > small
}

/// Chooses the token at `pos` (LZMA's fast mode, with one step of lazy evaluation).
pub fn choose(f: &mut Finder, m: &Model, pos: usize) -> Token {
    let avail = f.buf.len() - pos;
    let (rep_len, rep_idx) = f.longest_rep(pos, &m.reps);
    if rep_len >= NICE {
        return Token::Rep {
            idx: rep_idx,
            len: rep_len,
        };
    }
    let (mut len, mut dist) = f.longest(pos);
    if len >= NICE {
        return Token::Match { len, dist };
    }
    // A match one byte shorter and much nearer is cheaper.
    if len > 3 {
        let (len2, dist2) = f.shorter_nearer(pos, len - 1, dist);
        if len2 == len - 1 && much_farther(dist2, dist) {
            (len, dist) = (len2, dist2);
        }
    }
    if rep_len >= MIN_LEN
        && (rep_len + 1 >= len
            || (rep_len + 2 >= len && dist >= 1 << 9)
            || (rep_len + 3 >= len && dist >= 1 << 15))
    {
        return Token::Rep {
            idx: rep_idx,
            len: rep_len,
        };
    }
    if len < 3 {
        if f.buf[pos] == f.buf[pos - m.reps[0]] {
            return Token::ShortRep;
        }
        return Token::Literal;
    }
    if len + 1 >= avail {
        return Token::Match { len, dist };
    }
    // Lazy evaluation: a literal now, if the next position does clearly better.
    let (next_len, next_dist) = f.longest(pos + 1);
    if next_len >= 3
        && ((next_len >= len && next_dist < dist)
            || (next_len == len + 1 && !much_farther(dist, next_dist))
            || next_len > len + 1
            || (next_len + 1 >= len && len >= 3 && much_farther(next_dist, dist)))
    {
        return Token::Literal;
    }
    let (next_rep, _) = f.longest_rep(pos + 1, &m.reps);
    if next_rep + 1 >= len.max(3) {
        return Token::Literal;
    }
    Token::Match { len, dist }
}

impl Finder<'_> {
    /// The nearest match of exactly `want` bytes or more at `pos`, nearer than `dist`.
    fn shorter_nearer(&mut self, pos: usize, want: usize, dist: usize) -> (usize, usize) {
        let max = want;
        let mut cand = self.head[hash(&self.buf[pos..])];
        for _ in 0..DEPTH {
            if cand == NONE || pos - cand as usize >= dist {
                break;
            }
            let c = cand as usize;
            if self.common(pos, c, max) == want {
                return (want, pos - c);
            }
            cand = self.prev[c];
        }
        (0, 0)
    }
}
