//! A sixteen-lane SHA-256 nonce search on AVX-512: one nonce per 32-bit lane.
//!
//! SHA-256 is a chain of 32-bit additions, rotations and bitwise functions, so sixteen
//! independent compressions run side by side in the lanes of `zmm` registers: a rotation is
//! one `vprord`, any three-input bitwise function (the `Ch`, `Maj` and three-way XOR of the
//! round) one `vpternlogd`. Where the SHA extensions are slow (their latency bounds the
//! two-lane search of `sha_ni.rs`) this is the fastest kernel by far, and it stays ahead
//! where they are fast, so it is picked wherever the CPU has AVX-512 (the figures of each
//! machine class are in `benches/README.md`, "Proof of work and mining", and
//! `benches/NOTES.md`).
//!
//! Only the nonce (words 6 and 7 of the final block) differs between lanes and between
//! iterations, so everything that does not depend on it is computed once per template,
//! in scalar code: the state after rounds 0-5, the schedule words 16-20 (which read only
//! constant words), and the constant part of every later schedule word. The loop is fully
//! unrolled by `steps!`, with each word's kind (constant or per-lane) known when it is
//! compiled, so a constant word costs a broadcast operand and nothing else.
//!
//! Each iteration keeps only the state's first word for the target test; a lane whose
//! first word passes is recomputed by the caller through `sha2` before it is reported, so
//! no hit is ever claimed on this kernel's word alone.
#![allow(unsafe_code, reason = "calling a #[target_feature] function after runtime detection")]
#![allow(clippy::indexing_slicing, reason = "fixed-size arrays indexed below their length")]

use std::arch::x86_64::{
    __m512i, _mm512_add_epi32, _mm512_cmple_epu32_mask, _mm512_cmplt_epu32_mask,
    _mm512_mask_add_epi32, _mm512_ror_epi32, _mm512_set1_epi32, _mm512_setr_epi32,
    _mm512_setzero_si512, _mm512_srli_epi32, _mm512_ternarylogic_epi32,
};
#[cfg(test)]
use std::arch::x86_64::{_mm_cvtsi128_si32, _mm512_castsi512_si128, _mm512_maskz_compress_epi32};

use crate::K;

/// Nonces compressed per iteration: one per 32-bit lane of a 512-bit register.
pub(crate) const LANES: u64 = 16;

/// Returns `true` if this CPU has AVX-512 Foundation (all this kernel uses).
pub(crate) fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

/// Everything about a template that no nonce changes, computed once.
#[derive(Clone, Copy)]
struct Template {
    /// The midstate (the state after the header's first 64 bytes).
    midstate: [u32; 8],
    /// The state after rounds 0-5 of the final block, which read only constant words.
    after_six: [u32; 8],
    /// The schedule: the full word where it is constant (0-5, 8-20), otherwise the sum of
    /// the terms of its recurrence that are constant (0 for words 6 and 7).
    words: [u32; 64],
}

/// Whether schedule word `t` depends on the nonce (words 6 and 7, and every word from 21
/// on, whose recurrence reaches back to them).
const fn varies(t: usize) -> bool {
    t == 6 || t == 7 || t >= 21
}

impl Template {
    fn new(midstate: &[u32; 8], block: &[u32; 16]) -> Template {
        let mut words = [0u32; 64];
        for t in 0..64 {
            if t < 16 {
                if !varies(t) {
                    words[t] = block[t];
                }
                continue;
            }
            // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16]: keep the constant terms.
            let mut sum = 0u32;
            let terms = [
                (t - 2, small_sigma1 as fn(u32) -> u32),
                (t - 7, identity),
                (t - 15, small_sigma0),
                (t - 16, identity),
            ];
            for (i, f) in terms {
                if !varies(i) {
                    sum = sum.wrapping_add(f(words[i]));
                }
            }
            words[t] = sum;
        }
        let mut after_six = *midstate;
        for t in 0..6 {
            scalar_round(&mut after_six, K[t].wrapping_add(words[t]));
        }
        Template { midstate: *midstate, after_six, words }
    }
}

/// Searches `count` nonces from `start` (a multiple of [`LANES`]; `count` is), sixteen at
/// a time, over a final block whose words 6 and 7 are the nonce. `is_hit` is asked about
/// every nonce whose hash's first word is at most `target_head`, in order, and decides.
/// `None` without AVX-512.
pub(crate) fn search(
    midstate: &[u32; 8],
    block: &[u32; 16],
    start: u64,
    count: u64,
    target_head: u32,
    is_hit: &mut dyn FnMut(u64) -> bool,
) -> Option<Result<u64, u64>> {
    if !available() {
        return None;
    }
    let template = Template::new(midstate, block);
    // SAFETY: the CPU has every feature `search_avx512` is compiled for (checked above).
    Some(unsafe { search_avx512(&template, start, count, target_head, is_hit) })
}

/// Each lane's first state word after compressing `block` with nonce `start + lane`;
/// `None` without AVX-512. Lets the tests compare every lane with `sha2`.
#[cfg(test)]
pub(crate) fn first_words(midstate: &[u32; 8], block: &[u32; 16], start: u64) -> Option<[u32; 16]> {
    if !available() {
        return None;
    }
    let template = Template::new(midstate, block);
    // SAFETY: the CPU has every feature `first_words_avx512` is compiled for (checked above).
    Some(unsafe { first_words_avx512(&template, start) })
}

#[cfg(test)]
#[target_feature(enable = "avx512f")]
fn first_words_avx512(template: &Template, start: u64) -> [u32; 16] {
    let a = first_word(template, start);
    std::array::from_fn(|lane| lane_of(a, lane))
}

#[target_feature(enable = "avx512f")]
fn search_avx512(
    template: &Template,
    start: u64,
    count: u64,
    target_head: u32,
    is_hit: &mut dyn FnMut(u64) -> bool,
) -> Result<u64, u64> {
    let head = _mm512_set1_epi32(target_head as i32);
    let mut nonce = start;
    let mut left = count;
    while left >= LANES {
        let a = first_word(template, nonce);
        let mut candidates = _mm512_cmple_epu32_mask(a, head);
        while candidates != 0 {
            let lane = candidates.trailing_zeros();
            let candidate = nonce.wrapping_add(u64::from(lane));
            if is_hit(candidate) {
                return Ok(candidate);
            }
            candidates &= candidates - 1;
        }
        nonce = nonce.wrapping_add(LANES);
        left -= LANES;
    }
    Err(nonce)
}

/// The first word of the final state (midstate added) for nonces `start..start + 16`.
#[inline]
#[target_feature(enable = "avx512f")]
fn first_word(template: &Template, start: u64) -> __m512i {
    let c = &template.words;
    let broadcast = |x: u32| _mm512_set1_epi32(x as i32);
    // The nonce as two big-endian words per lane: a carry out of the low word of one lane
    // goes into that lane's high word.
    let low_base = broadcast(start as u32);
    let low = _mm512_add_epi32(
        low_base,
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    );
    let carried = _mm512_cmplt_epu32_mask(low, low_base);
    let high_base = broadcast((start >> 32) as u32);
    let high = _mm512_mask_add_epi32(high_base, carried, high_base, broadcast(1));

    let s = template.after_six;
    let [mut a, mut b, mut cc, mut d, mut e, mut f, mut g, mut h] = s.map(broadcast);
    // Only the per-lane words are ever read from `w`; constant ones come from `c`.
    let mut w = [_mm512_setzero_si512(); 64];
    w[6] = high;
    w[7] = low;

    // Word `t` of the schedule, for `t` from 21 on: the constant part plus the per-lane terms.
    macro_rules! schedule {
        ($t:literal) => {{
            let mut x = broadcast(c[$t]);
            if varies($t - 2) {
                x = _mm512_add_epi32(x, sigma1_small(w[$t - 2]));
            }
            if varies($t - 7) {
                x = _mm512_add_epi32(x, w[$t - 7]);
            }
            if varies($t - 15) {
                x = _mm512_add_epi32(x, sigma0_small(w[$t - 15]));
            }
            if varies($t - 16) {
                x = _mm512_add_epi32(x, w[$t - 16]);
            }
            w[$t] = x;
        }};
    }
    macro_rules! round {
        ($t:literal) => {{
            let kw = if varies($t) {
                _mm512_add_epi32(w[$t], broadcast(K[$t]))
            } else {
                broadcast(K[$t].wrapping_add(c[$t]))
            };
            // T1 = h + Σ1(e) + Ch(e, f, g) + K[t] + W[t]; T2 = Σ0(a) + Maj(a, b, c).
            let t1 = _mm512_add_epi32(
                _mm512_add_epi32(h, kw),
                _mm512_add_epi32(sigma1_big(e), _mm512_ternarylogic_epi32::<0xCA>(e, f, g)),
            );
            let t2 = _mm512_add_epi32(sigma0_big(a), _mm512_ternarylogic_epi32::<0xE8>(a, b, cc));
            h = g;
            g = f;
            f = e;
            e = _mm512_add_epi32(d, t1);
            d = cc;
            cc = b;
            b = a;
            a = _mm512_add_epi32(t1, t2);
        }};
    }
    macro_rules! rounds {
        ($($t:literal)*) => { $( round!($t); )* };
    }
    macro_rules! scheduled_rounds {
        ($($t:literal)*) => { $( schedule!($t); round!($t); )* };
    }
    rounds!(6 7 8 9 10 11 12 13 14 15 16 17 18 19 20);
    scheduled_rounds!(21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44
        45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
    let _ = (b, cc, d, e, f, g, h);
    _mm512_add_epi32(a, broadcast(template.midstate[0]))
}

/// Lane `lane` of `v`, for the tests.
#[cfg(test)]
#[inline]
#[target_feature(enable = "avx512f")]
fn lane_of(v: __m512i, lane: usize) -> u32 {
    _mm_cvtsi128_si32(_mm512_castsi512_si128(_mm512_maskz_compress_epi32(1 << lane, v))) as u32
}

/// Σ0(a) = ROTR²(a) ⊕ ROTR¹³(a) ⊕ ROTR²²(a), per lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn sigma0_big(a: __m512i) -> __m512i {
    _mm512_ternarylogic_epi32::<0x96>(
        _mm512_ror_epi32::<2>(a),
        _mm512_ror_epi32::<13>(a),
        _mm512_ror_epi32::<22>(a),
    )
}

/// Σ1(e) = ROTR⁶(e) ⊕ ROTR¹¹(e) ⊕ ROTR²⁵(e), per lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn sigma1_big(e: __m512i) -> __m512i {
    _mm512_ternarylogic_epi32::<0x96>(
        _mm512_ror_epi32::<6>(e),
        _mm512_ror_epi32::<11>(e),
        _mm512_ror_epi32::<25>(e),
    )
}

/// σ0(x) = ROTR⁷(x) ⊕ ROTR¹⁸(x) ⊕ SHR³(x), per lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn sigma0_small(x: __m512i) -> __m512i {
    _mm512_ternarylogic_epi32::<0x96>(
        _mm512_ror_epi32::<7>(x),
        _mm512_ror_epi32::<18>(x),
        _mm512_srli_epi32::<3>(x),
    )
}

/// σ1(x) = ROTR¹⁷(x) ⊕ ROTR¹⁹(x) ⊕ SHR¹⁰(x), per lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn sigma1_small(x: __m512i) -> __m512i {
    _mm512_ternarylogic_epi32::<0x96>(
        _mm512_ror_epi32::<17>(x),
        _mm512_ror_epi32::<19>(x),
        _mm512_srli_epi32::<10>(x),
    )
}

fn identity(x: u32) -> u32 {
    x
}

fn small_sigma0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}

fn small_sigma1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}

/// One scalar round on `s = [a, b, c, d, e, f, g, h]` with `kw = K[t] + W[t]`.
fn scalar_round(s: &mut [u32; 8], kw: u32) {
    let [a, b, c, d, e, f, g, h] = *s;
    let big_sigma1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
    let ch = (e & f) ^ (!e & g);
    let t1 = h.wrapping_add(big_sigma1).wrapping_add(ch).wrapping_add(kw);
    let big_sigma0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
    let maj = (a & b) ^ (a & c) ^ (b & c);
    let t2 = big_sigma0.wrapping_add(maj);
    *s = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
}
