//! Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as
//! easy as 1, 2, 3", SC'11) and the Box-Muller transform, keyed by (seed, chain, step) so
//! that a chain's noise does not depend on batch size, chunking or scheduling.
//!
//! `shaders/philox.wgsl` is the GPU twin, written line for line like this file; the tests
//! hold the Rust version to the published known-answer vectors and the refinement tests
//! hold the GPU to this one.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// Philox4x32 with 10 rounds: four random words for a 128-bit counter and a 64-bit key.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// A uniform number in (0, 1] from the top 24 bits of a word: exact in float32, never 0.
pub fn uniform(word: u32) -> f64 {
    (f64::from(word >> 8) + 1.0) * (1.0 / 16_777_216.0)
}

/// Four standard normal numbers from four words, by Box-Muller on two pairs.
pub fn normals4(words: [u32; 4]) -> [f64; 4] {
    let pair = |a: u32, b: u32| {
        let r = (-2.0 * uniform(a).ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * uniform(b);
        (r * theta.cos(), r * theta.sin())
    };
    let (n0, n1) = pair(words[0], words[1]);
    let (n2, n3) = pair(words[2], words[3]);
    [n0, n1, n2, n3]
}

/// The key a 64-bit seed gives.
pub fn key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The Langevin noise for coordinates `4 * block .. 4 * block + 4` of `chain` at `step`.
pub fn langevin_normals(seed: u64, chain: u32, step: u32, block: u32) -> [f64; 4] {
    normals4(philox4x32_10([block, step, chain, 0], key(seed)))
}

/// A stream of uniforms in [-1, 1) for initialising weights and test data on the host.
pub struct HostRng {
    key: [u32; 2],
    stream: u32,
    counter: u64,
    words: [u32; 4],
    used: usize,
}

impl HostRng {
    /// A stream for `seed`; different `stream` values give independent streams.
    pub fn new(seed: u64, stream: u32) -> Self {
        HostRng {
            key: key(seed),
            stream,
            counter: 0,
            words: [0; 4],
            used: 4,
        }
    }

    /// The next random word.
    pub fn next_u32(&mut self) -> u32 {
        if self.used == 4 {
            let c = self.counter;
            self.words = philox4x32_10(
                [c as u32, (c >> 32) as u32, self.stream, 0x4E42_0001],
                self.key,
            );
            self.counter += 1;
            self.used = 0;
        }
        self.used += 1;
        self.words[self.used - 1]
    }

    /// A uniform number in [-1, 1).
    pub fn symmetric(&mut self) -> f64 {
        f64::from(self.next_u32() >> 8) / 8_388_608.0 - 1.0
    }

    /// A standard normal number.
    pub fn normal(&mut self) -> f64 {
        let words = [self.next_u32(), self.next_u32(), 0, 0];
        normals4(words)[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors from Random123's `kat_vectors` for philox4x32-10.
    #[test]
    fn philox_known_answers() {
        assert_eq!(
            philox4x32_10([0, 0, 0, 0], [0, 0]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn normals_have_unit_moments() {
        let n = 100_000u32;
        let (mut s1, mut s2) = (0.0, 0.0);
        for i in 0..n / 4 {
            for v in langevin_normals(7, i, 3, 0) {
                s1 += v;
                s2 += v * v;
            }
        }
        let mean = s1 / f64::from(n);
        let var = s2 / f64::from(n) - mean * mean;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }
}
