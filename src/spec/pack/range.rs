//! The adaptive binary range coder of the compression stage (LZMA's): 11-bit
//! probabilities updated by a shift of 5, bit trees, and 32-bit arithmetic.
//!
//! The encoder leaves out LZMA's always-zero first byte and writes exactly the bytes the
//! decoder reads, so a stream cut short always runs out. The decoder never fails on a
//! bit: past the end of its input it reads zeros and counts them, and the caller checks
//! `overrun` (a cheap test per token instead of a `Result` per bit). No I/O, no panics.

/// A probability that the next bit is 0, in units of 1/2048.
pub type Prob = u16;

const BITS: u32 = 11;
/// Probability 1/2: the initial state of every model.
pub const HALF: Prob = 1 << (BITS - 1);
const MOVE: u32 = 5;
const TOP: u32 = 1 << 24;

/// Where coded bits go: the real encoder, or `Train`, which only adapts the models.
pub trait Sink {
    fn bit(&mut self, p: &mut Prob, bit: u32);
    /// `count` bits of `value`, high bit first, each with probability 1/2.
    fn direct(&mut self, value: u32, count: u32);
}

fn adapt(p: &mut Prob, bit: u32) {
    if bit == 0 {
        *p += ((1 << BITS) - *p) >> MOVE;
    } else {
        *p -= *p >> MOVE;
    }
}

/// A sink that adapts the probabilities and writes nothing.
pub struct Train;

impl Sink for Train {
    fn bit(&mut self, p: &mut Prob, bit: u32) {
        adapt(p, bit);
    }
    fn direct(&mut self, _: u32, _: u32) {}
}

pub struct Encoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    /// Normalisations so far: the decoder reads 4 bytes plus one per normalisation.
    shifts: usize,
    out: Vec<u8>,
}

impl Encoder {
    pub fn new(out: Vec<u8>) -> Encoder {
        Encoder {
            low: 0,
            range: u32::MAX,
            cache: 0,
            cache_size: 1,
            shifts: 0,
            out,
        }
    }

    fn shift_low(&mut self) {
        if self.low < 0xff00_0000 || self.low >= 1 << 32 {
            let carry = (self.low >> 32) as u8;
            let mut byte = self.cache;
            while self.cache_size > 0 {
                self.out.push(byte.wrapping_add(carry));
                byte = 0xff;
                self.cache_size -= 1;
            }
            self.cache = (self.low >> 24) as u8;
        }
        self.cache_size += 1;
        self.low = (self.low & 0x00ff_ffff) << 8;
    }

    fn normalize(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.shifts += 1;
            self.shift_low();
        }
    }

    /// Flushes and returns the output: `start` bytes given to `new`, then the stream
    /// without its leading zero byte, exactly as long as a decoder reads.
    pub fn finish(mut self, start: usize) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        let want = start + 1 + 4 + self.shifts;
        self.out.truncate(want);
        // The first byte of an LZMA-style stream is always 0 (low starts below 2^32
        // minus the range, so no carry reaches it): it is not sent.
        debug_assert_eq!(self.out.get(start), Some(&0));
        self.out.remove(start);
        self.out
    }
}

impl Sink for Encoder {
    fn bit(&mut self, p: &mut Prob, bit: u32) {
        let bound = (self.range >> BITS) * u32::from(*p);
        if bit == 0 {
            self.range = bound;
        } else {
            self.low += u64::from(bound);
            self.range -= bound;
        }
        adapt(p, bit);
        self.normalize();
    }

    fn direct(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            self.range >>= 1;
            if (value >> i) & 1 == 1 {
                self.low += u64::from(self.range);
            }
            self.normalize();
        }
    }
}

pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    /// Bytes read past the end of `data` (as zeros).
    missing: usize,
    range: u32,
    code: u32,
}

impl<'a> Decoder<'a> {
    /// Starts decoding `data`; `None` when its first four bytes cannot start a stream.
    pub fn new(data: &'a [u8]) -> Option<Decoder<'a>> {
        let mut d = Decoder {
            data,
            pos: 0,
            missing: 0,
            range: u32::MAX,
            code: 0,
        };
        for _ in 0..4 {
            d.code = (d.code << 8) | u32::from(d.next_byte());
        }
        // A valid stream starts with code < range = 2^32 - 1.
        (d.code != u32::MAX).then_some(d)
    }

    fn next_byte(&mut self) -> u8 {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => {
                self.missing += 1;
                0
            }
        }
    }

    fn normalize(&mut self) {
        if self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | u32::from(self.next_byte());
        }
    }

    /// Whether the decoder has read past the end of its input.
    pub fn overrun(&self) -> bool {
        self.missing > 0
    }

    /// Bytes of input not read yet.
    pub fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn bit(&mut self, p: &mut Prob) -> u32 {
        let bound = (self.range >> BITS) * u32::from(*p);
        let bit = if self.code < bound {
            self.range = bound;
            0
        } else {
            self.code -= bound;
            self.range -= bound;
            1
        };
        adapt(p, bit);
        self.normalize();
        bit
    }

    pub fn direct(&mut self, count: u32) -> u32 {
        let mut value = 0;
        for _ in 0..count {
            self.range >>= 1;
            let bit = u32::from(self.code >= self.range);
            if bit == 1 {
                self.code -= self.range;
            }
            value = (value << 1) | bit;
            self.normalize();
        }
        value
    }

    /// A `bits`-bit symbol coded high bit first with `tree` (of `1 << bits` entries).
    pub fn tree(&mut self, tree: &mut [Prob], bits: u32) -> u32 {
        let mut m = 1;
        for _ in 0..bits {
            m = (m << 1) | self.bit(&mut tree[m as usize]);
        }
        m - (1 << bits)
    }

    /// A `bits`-bit symbol coded low bit first with `tree[1..1 << bits]`.
    pub fn reverse_tree(&mut self, tree: &mut [Prob], bits: u32) -> u32 {
        let mut m = 1;
        let mut value = 0;
        for i in 0..bits {
            let bit = self.bit(&mut tree[m as usize]);
            m = (m << 1) | bit;
            value |= bit << i;
        }
        value
    }
}

/// Codes the `bits`-bit `value` high bit first with `tree` (of `1 << bits` entries).
pub fn tree<S: Sink>(s: &mut S, tree: &mut [Prob], bits: u32, value: u32) {
    let mut m = 1;
    for i in (0..bits).rev() {
        let bit = (value >> i) & 1;
        s.bit(&mut tree[m as usize], bit);
        m = (m << 1) | bit;
    }
}

/// Codes the `bits`-bit `value` low bit first with `tree[1..1 << bits]`.
pub fn reverse_tree<S: Sink>(s: &mut S, tree: &mut [Prob], bits: u32, value: u32) {
    let mut m = 1;
    for i in 0..bits {
        let bit = (value >> i) & 1;
        s.bit(&mut tree[m as usize], bit);
        m = (m << 1) | bit;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*, for deterministic test data.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn bits_round_trip_and_the_decoder_reads_every_byte() {
        for n in [0usize, 1, 7, 100, 5000] {
            let mut seed = 0x1234_5678 + n as u64;
            let bits: Vec<u32> = (0..n)
                .map(|_| u32::from(rng(&mut seed) % 10 == 0))
                .collect();
            let mut e = Encoder::new(vec![0xaa]);
            let mut p = [HALF; 2];
            for (i, &b) in bits.iter().enumerate() {
                e.bit(&mut p[i % 2], b);
                e.direct(b * 5, 3);
            }
            let out = e.finish(1);
            assert_eq!(out[0], 0xaa);
            let mut d = Decoder::new(&out[1..]).unwrap();
            let mut p = [HALF; 2];
            for (i, &b) in bits.iter().enumerate() {
                assert_eq!(d.bit(&mut p[i % 2]), b);
                assert_eq!(d.direct(3), b * 5);
            }
            assert!(!d.overrun());
            assert_eq!(d.left(), 0, "{n} bits");
        }
    }
}
