//! The LZ77 token model of the compression stage (LZMA's, with one position state):
//! literals, matches, repeated distances, their adaptive models, and the decoder.
//!
//! The window is the preset dictionary followed by the output. Choosing tokens (the
//! parse) is `parse.rs`; this file only codes them, so that encoder and decoder share
//! every model update. The decoder checks every length and distance before it copies.

use std::sync::OnceLock;

use super::Error;
use super::dict::DICT;
use super::range::{self, Decoder, HALF, Prob, Sink, Train};

/// High bits of the previous byte that select a literal model.
pub const LC: u32 = 3;
pub const MIN_LEN: usize = 2;
/// The longest match: 2 + 8 + 8 + 256 - 1.
pub const MAX_LEN: usize = 273;
const STATES: usize = 12;
/// States at and above this one follow a match: literals are coded against the byte at
/// the last distance.
const AFTER_MATCH: usize = 7;
const SLOT_BITS: u32 = 6;
const END_TREE_SLOT: u32 = 14;
const ALIGN_BITS: u32 = 4;

/// One token of the parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Literal,
    /// A copy from a new distance (>= 1).
    Match {
        len: usize,
        dist: usize,
    },
    /// A copy from the `idx`-th most recent distance.
    Rep {
        idx: usize,
        len: usize,
    },
    /// One byte from the most recent distance.
    ShortRep,
}

impl Token {
    pub fn len(self) -> usize {
        match self {
            Token::Literal | Token::ShortRep => 1,
            Token::Match { len, .. } | Token::Rep { len, .. } => len,
        }
    }
}

#[derive(Clone)]
struct LenModel {
    choice: Prob,
    choice2: Prob,
    low: [Prob; 8],
    mid: [Prob; 8],
    high: [Prob; 256],
}

impl LenModel {
    const fn new() -> LenModel {
        LenModel {
            choice: HALF,
            choice2: HALF,
            low: [HALF; 8],
            mid: [HALF; 8],
            high: [HALF; 256],
        }
    }

    fn encode<S: Sink>(&mut self, s: &mut S, len: usize) {
        let l = (len - MIN_LEN) as u32;
        if l < 8 {
            s.bit(&mut self.choice, 0);
            range::tree(s, &mut self.low, 3, l);
        } else if l < 16 {
            s.bit(&mut self.choice, 1);
            s.bit(&mut self.choice2, 0);
            range::tree(s, &mut self.mid, 3, l - 8);
        } else {
            s.bit(&mut self.choice, 1);
            s.bit(&mut self.choice2, 1);
            range::tree(s, &mut self.high, 8, l - 16);
        }
    }

    fn decode(&mut self, d: &mut Decoder) -> usize {
        let l = if d.bit(&mut self.choice) == 0 {
            d.tree(&mut self.low, 3)
        } else if d.bit(&mut self.choice2) == 0 {
            8 + d.tree(&mut self.mid, 3)
        } else {
            16 + d.tree(&mut self.high, 8)
        };
        l as usize + MIN_LEN
    }
}

/// Every adaptive probability, and the coder's state: the kind of the last tokens and
/// the four most recent distances.
#[derive(Clone)]
pub struct Model {
    literal: Vec<Prob>,
    is_match: [Prob; STATES],
    is_rep: [Prob; STATES],
    is_rep0: [Prob; STATES],
    is_rep0_long: [Prob; STATES],
    is_rep1: [Prob; STATES],
    is_rep2: [Prob; STATES],
    slot: [[Prob; 1 << SLOT_BITS]; 4],
    special: [Prob; 115],
    align: [Prob; 1 << ALIGN_BITS],
    len: LenModel,
    rep_len: LenModel,
    state: usize,
    pub reps: [usize; 4],
}

fn slot_of(dist0: u32) -> u32 {
    if dist0 < 4 {
        return dist0;
    }
    let n = 31 - dist0.leading_zeros();
    2 * n + ((dist0 >> (n - 1)) & 1)
}

impl Model {
    fn new() -> Model {
        Model {
            literal: vec![HALF; 0x300 << LC],
            is_match: [HALF; STATES],
            is_rep: [HALF; STATES],
            is_rep0: [HALF; STATES],
            is_rep0_long: [HALF; STATES],
            is_rep1: [HALF; STATES],
            is_rep2: [HALF; STATES],
            slot: [[HALF; 1 << SLOT_BITS]; 4],
            special: [HALF; 115],
            align: [HALF; 1 << ALIGN_BITS],
            len: LenModel::new(),
            rep_len: LenModel::new(),
            state: 0,
            reps: [1; 4],
        }
    }

    /// The initial model of every message: all probabilities 1/2, then the literal
    /// models trained on the dictionary as if each of its bytes were a plain literal.
    pub fn primed() -> Model {
        static PRIMED: OnceLock<Model> = OnceLock::new();
        PRIMED
            .get_or_init(|| {
                let mut m = Model::new();
                let mut prev = 0;
                for &b in DICT {
                    let probs = m.literals(prev);
                    range::tree(&mut Train, probs, 8, u32::from(b));
                    prev = b;
                }
                m
            })
            .clone()
    }

    fn literals(&mut self, prev: u8) -> &mut [Prob] {
        let ctx = usize::from(prev >> (8 - LC));
        &mut self.literal[ctx * 0x300..(ctx + 1) * 0x300]
    }

    /// Codes `tok`, which starts at `buf[pos]` (`buf` is the dictionary and the input).
    pub fn encode<S: Sink>(&mut self, s: &mut S, buf: &[u8], pos: usize, tok: Token) {
        let st = self.state;
        match tok {
            Token::Literal => {
                s.bit(&mut self.is_match[st], 0);
                let (byte, matched) = (buf[pos], buf[pos - self.reps[0]]);
                let probs = self.literals(buf[pos - 1]);
                if st >= AFTER_MATCH {
                    encode_matched(s, probs, byte, matched);
                } else {
                    range::tree(s, probs, 8, u32::from(byte));
                }
                self.state = after_literal(st);
            }
            Token::Match { len, dist } => {
                s.bit(&mut self.is_match[st], 1);
                s.bit(&mut self.is_rep[st], 0);
                self.len.encode(s, len);
                self.encode_dist(s, (dist - 1) as u32, len);
                self.reps = [dist, self.reps[0], self.reps[1], self.reps[2]];
                self.state = if st < AFTER_MATCH { 7 } else { 10 };
            }
            Token::ShortRep => {
                s.bit(&mut self.is_match[st], 1);
                s.bit(&mut self.is_rep[st], 1);
                s.bit(&mut self.is_rep0[st], 0);
                s.bit(&mut self.is_rep0_long[st], 0);
                self.state = if st < AFTER_MATCH { 9 } else { 11 };
            }
            Token::Rep { idx, len } => {
                s.bit(&mut self.is_match[st], 1);
                s.bit(&mut self.is_rep[st], 1);
                if idx == 0 {
                    s.bit(&mut self.is_rep0[st], 0);
                    s.bit(&mut self.is_rep0_long[st], 1);
                } else {
                    s.bit(&mut self.is_rep0[st], 1);
                    if idx == 1 {
                        s.bit(&mut self.is_rep1[st], 0);
                    } else {
                        s.bit(&mut self.is_rep1[st], 1);
                        s.bit(&mut self.is_rep2[st], (idx - 2) as u32);
                    }
                    self.promote(idx);
                }
                self.rep_len.encode(s, len);
                self.state = if st < AFTER_MATCH { 8 } else { 11 };
            }
        }
    }

    /// Moves the `idx`-th distance to the front.
    fn promote(&mut self, idx: usize) {
        let d = self.reps[idx];
        self.reps.copy_within(0..idx, 1);
        self.reps[0] = d;
    }

    fn encode_dist<S: Sink>(&mut self, s: &mut S, dist0: u32, len: usize) {
        let slot = slot_of(dist0);
        range::tree(s, &mut self.slot[len_state(len)], SLOT_BITS, slot);
        if slot < 4 {
            return;
        }
        let footer = (slot >> 1) - 1;
        let base = (2 | (slot & 1)) << footer;
        let rest = dist0 - base;
        if slot < END_TREE_SLOT {
            let at = (base - slot) as usize;
            range::reverse_tree(s, &mut self.special[at..], footer, rest);
        } else {
            s.direct(rest >> ALIGN_BITS, footer - ALIGN_BITS);
            range::reverse_tree(s, &mut self.align, ALIGN_BITS, rest & 0xf);
        }
    }

    fn decode_dist(&mut self, d: &mut Decoder, len: usize) -> usize {
        let slot = d.tree(&mut self.slot[len_state(len)], SLOT_BITS);
        if slot < 4 {
            return slot as usize + 1;
        }
        let footer = (slot >> 1) - 1;
        let base = (2 | (slot & 1)) << footer;
        let rest = if slot < END_TREE_SLOT {
            let at = (base - slot) as usize;
            d.reverse_tree(&mut self.special[at..], footer)
        } else {
            let high = d.direct(footer - ALIGN_BITS) << ALIGN_BITS;
            high | d.reverse_tree(&mut self.align, ALIGN_BITS)
        };
        // base + rest < 2^32 for every slot below 64: base < 2^31 + 2^30, rest < base.
        (base + rest) as usize + 1
    }
}

fn len_state(len: usize) -> usize {
    (len - MIN_LEN).min(3)
}

fn after_literal(st: usize) -> usize {
    match st {
        0..4 => 0,
        4..10 => st - 3,
        _ => st - 6,
    }
}

/// A literal after a match, coded in the context of the byte at the last distance while
/// their high bits agree.
fn encode_matched<S: Sink>(s: &mut S, probs: &mut [Prob], byte: u8, matched: u8) {
    let (mut offs, mut sym, mut mb) = (0x100u32, 1u32, u32::from(matched));
    for i in (0..8).rev() {
        mb <<= 1;
        let mbit = mb & offs;
        let bit = (u32::from(byte) >> i) & 1;
        s.bit(&mut probs[(offs + mbit + sym) as usize], bit);
        sym = (sym << 1) | bit;
        offs &= if bit == 1 { mbit } else { !mbit };
    }
}

fn decode_matched(d: &mut Decoder, probs: &mut [Prob], matched: u8) -> u8 {
    let (mut offs, mut sym, mut mb) = (0x100u32, 1u32, u32::from(matched));
    while sym < 0x100 {
        mb <<= 1;
        let mbit = mb & offs;
        let bit = d.bit(&mut probs[(offs + mbit + sym) as usize]);
        sym = (sym << 1) | bit;
        offs &= if bit == 1 { mbit } else { !mbit };
    }
    sym as u8
}

/// Decodes a stream of `out_len` bytes. Fails on a stream that ends early, refers
/// outside the window, runs past `out_len` or leaves bytes unread.
pub fn decode(data: &[u8], out_len: usize) -> Result<Vec<u8>, Error> {
    let mut d = Decoder::new(data).ok_or(Error::Corrupt("bad range coder start"))?;
    if d.overrun() {
        return Err(Error::Truncated);
    }
    let mut m = Model::primed();
    let mut buf = Vec::with_capacity(DICT.len() + out_len);
    buf.extend_from_slice(DICT);
    let end = DICT.len() + out_len;
    while buf.len() < end {
        let st = m.state;
        let pos = buf.len();
        if d.bit(&mut m.is_match[st]) == 0 {
            let matched = buf[pos - m.reps[0]];
            let probs = m.literals(buf[pos - 1]);
            let byte = if st >= AFTER_MATCH {
                decode_matched(&mut d, probs, matched)
            } else {
                d.tree(probs, 8) as u8
            };
            m.state = after_literal(st);
            buf.push(byte);
        } else {
            let len = if d.bit(&mut m.is_rep[st]) == 0 {
                let len = m.len.decode(&mut d);
                let dist = m.decode_dist(&mut d, len);
                m.reps = [dist, m.reps[0], m.reps[1], m.reps[2]];
                m.state = if st < AFTER_MATCH { 7 } else { 10 };
                len
            } else if d.bit(&mut m.is_rep0[st]) == 0 {
                if d.bit(&mut m.is_rep0_long[st]) == 0 {
                    m.state = if st < AFTER_MATCH { 9 } else { 11 };
                    1
                } else {
                    m.state = if st < AFTER_MATCH { 8 } else { 11 };
                    m.rep_len.decode(&mut d)
                }
            } else {
                let idx = if d.bit(&mut m.is_rep1[st]) == 0 {
                    1
                } else {
                    2 + d.bit(&mut m.is_rep2[st]) as usize
                };
                m.promote(idx);
                m.state = if st < AFTER_MATCH { 8 } else { 11 };
                m.rep_len.decode(&mut d)
            };
            if d.overrun() {
                return Err(Error::Truncated);
            }
            let dist = m.reps[0];
            if dist > pos {
                return Err(Error::Corrupt("distance beyond the window"));
            }
            if len > end - pos {
                return Err(Error::Corrupt("copy past the stated length"));
            }
            for i in pos..pos + len {
                let b = buf[i - dist];
                buf.push(b);
            }
        }
    }
    if d.overrun() {
        return Err(Error::Truncated);
    }
    if d.left() > 0 {
        return Err(Error::Trailing(d.left()));
    }
    buf.drain(..DICT.len());
    Ok(buf)
}
