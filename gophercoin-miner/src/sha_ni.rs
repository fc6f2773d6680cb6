//! A multi-lane SHA-256 compression on the x86 SHA extensions, for the nonce search.
//!
//! Several nonces are compressed at once ([`LANES`]): the lanes are independent dependency
//! chains, so the CPU overlaps their `sha256rnds2` latencies. The intrinsics are safe to call inside
//! functions compiled for the SHA extensions; the one `unsafe` is the call into such a
//! function, made only after the CPU was seen to have them. `sha2::compress256` stays the
//! reference (property tests compare every lane against it) and the fallback.
#![allow(unsafe_code, reason = "calling a #[target_feature] function after runtime detection")]
#![allow(clippy::indexing_slicing, reason = "fixed-size arrays indexed below their length")]

use std::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_extract_epi32, _mm_insert_epi32,
    _mm_set_epi32, _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32,
    _mm_shuffle_epi32,
};

use crate::K;

/// Returns `true` if this CPU has the SHA extensions (and the SSE levels used with them).
pub(crate) fn available() -> bool {
    std::is_x86_feature_detected!("sha")
        && std::is_x86_feature_detected!("sse4.1")
        && std::is_x86_feature_detected!("ssse3")
}

/// Compresses two 16-word blocks on the same starting state; `None` without the SHA
/// extensions. (The search has its own copy of this loop; this one lets tests compare
/// each lane with `sha2` on arbitrary blocks.)
#[cfg(test)]
pub(crate) fn compress2(state: &[u32; 8], blocks: &[[u32; 16]; 2]) -> Option<[[u32; 8]; 2]> {
    if !available() {
        return None;
    }
    // SAFETY: the CPU has every feature `compress2_sha` is compiled for (checked above).
    Some(unsafe { compress2_sha(state, blocks) })
}

/// How many nonces the search compresses at once: independent dependency chains, so the
/// CPU overlaps their `sha256rnds2` latencies. Two keep every lane's state and schedule
/// window in the sixteen vector registers; a third spills them (benches/README.md has the
/// measurements).
pub(crate) const LANES: u64 = 2;

/// Searches `count` nonces from `start` (a multiple of [`LANES`]), [`LANES`] at a time,
/// over a final block whose words 6 and 7 are the nonce. What no nonce changes is computed
/// once: rounds 0-5 (they read words 0-5) and schedule words 16-19 (they read words 0-4,
/// 9-12, 14 and 15). `is_hit` is asked about every nonce whose hash's first word is at most
/// `target_head`, in order, and decides. `None` without the SHA extensions.
pub(crate) fn search(
    state: &[u32; 8],
    words: &[u32; 16],
    start: u64,
    count: u64,
    target_head: u32,
    is_hit: &mut dyn FnMut(u64) -> bool,
) -> Option<Result<u64, u64>> {
    if !available() {
        return None;
    }
    // SAFETY: the CPU has every feature `search_sha` is compiled for (checked above).
    Some(unsafe { search_sha(state, words, start, count, target_head, is_hit) })
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn search_sha(
    state: &[u32; 8],
    words: &[u32; 16],
    start: u64,
    count: u64,
    target_head: u32,
    is_hit: &mut dyn FnMut(u64) -> bool,
) -> Result<u64, u64> {
    const N: usize = LANES as usize;
    let (abef, cdgh) = to_lanes(state);
    let vector = |i: usize| {
        _mm_set_epi32(
            words[4 * i + 3] as i32,
            words[4 * i + 2] as i32,
            words[4 * i + 1] as i32,
            words[4 * i] as i32,
        )
    };
    let (w0, w1_base, w2, w3) = (vector(0), vector(1), vector(2), vector(3));
    let k: [__m128i; 16] = std::array::from_fn(|r| {
        _mm_set_epi32(
            K[4 * r + 3] as i32,
            K[4 * r + 2] as i32,
            K[4 * r + 1] as i32,
            K[4 * r] as i32,
        )
    });
    // Rounds 0-3, and the first two of rounds 4-7 (words 4 and 5, the low half).
    let (mut pre_abef, mut pre_cdgh) = (abef, cdgh);
    rounds4(&mut pre_abef, &mut pre_cdgh, w0, k[0]);
    let after5 = _mm_sha256rnds2_epu32(pre_cdgh, pre_abef, _mm_add_epi32(w1_base, k[1]));
    // Schedule words 16-19: `sha256msg1` takes only word 4 from its second operand.
    let w4 = schedule(w0, w1_base, w2, w3);
    let with_nonce = |nonce: u64| {
        let w = _mm_insert_epi32(w1_base, (nonce >> 32) as i32, 2);
        _mm_insert_epi32(w, nonce as i32, 3)
    };
    let mut nonce = start;
    let mut left = count;
    while left >= LANES {
        // Each lane's window of the last sixteen schedule words, oldest first: words 4-7
        // (the nonce in 6 and 7), 8-11, 12-15 and 16-19. It moves by value, never by a
        // computed index, so it stays in registers instead of going through memory.
        let mut window: [[__m128i; 4]; N] =
            std::array::from_fn(|lane| [with_nonce(nonce.wrapping_add(lane as u64)), w2, w3, w4]);
        // Rounds 6-7 (words 6 and 7, the nonce, in the high half).
        let mut cdgh_lanes = [after5; N];
        let mut abef_lanes: [__m128i; N] = std::array::from_fn(|lane| {
            let wk = _mm_add_epi32(window[lane][0], k[1]);
            _mm_sha256rnds2_epu32(pre_abef, after5, _mm_shuffle_epi32(wk, 0x0E))
        });
        // Rounds 8-19 on words already in the window.
        for (slot, k) in k[2..5].iter().enumerate() {
            for lane in 0..N {
                rounds4(&mut abef_lanes[lane], &mut cdgh_lanes[lane], window[lane][slot + 1], *k);
            }
        }
        // Rounds 20-63, each four on four new schedule words.
        for k in &k[5..] {
            for lane in 0..N {
                let [w0, w1, w2, w3] = window[lane];
                let next = schedule(w0, w1, w2, w3);
                window[lane] = [w1, w2, w3, next];
                rounds4(&mut abef_lanes[lane], &mut cdgh_lanes[lane], next, *k);
            }
        }
        for (lane, lane_abef) in abef_lanes.iter().enumerate() {
            // Word `a` of the result is the fourth 32-bit element of ABEF.
            let head = _mm_extract_epi32(_mm_add_epi32(*lane_abef, abef), 3) as u32;
            let candidate = nonce.wrapping_add(lane as u64);
            if head <= target_head && is_hit(candidate) {
                return Ok(candidate);
            }
        }
        nonce = nonce.wrapping_add(LANES);
        left -= LANES;
    }
    Err(nonce)
}

#[cfg(test)]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn compress2_sha(state: &[u32; 8], blocks: &[[u32; 16]; 2]) -> [[u32; 8]; 2] {
    let (abef, cdgh) = to_lanes(state);
    let (mut a_abef, mut a_cdgh, mut b_abef, mut b_cdgh) = (abef, cdgh, abef, cdgh);
    let words = |block: &[u32; 16], i: usize| {
        _mm_set_epi32(
            block[4 * i + 3] as i32,
            block[4 * i + 2] as i32,
            block[4 * i + 1] as i32,
            block[4 * i] as i32,
        )
    };
    let [a_block, b_block] = blocks;
    let mut a_w = [words(a_block, 0), words(a_block, 1), words(a_block, 2), words(a_block, 3)];
    let mut b_w = [words(b_block, 0), words(b_block, 1), words(b_block, 2), words(b_block, 3)];
    for round in 0..16 {
        let i = round % 4;
        if round >= 4 {
            a_w[i] = schedule(a_w[i], a_w[(i + 1) % 4], a_w[(i + 2) % 4], a_w[(i + 3) % 4]);
            b_w[i] = schedule(b_w[i], b_w[(i + 1) % 4], b_w[(i + 2) % 4], b_w[(i + 3) % 4]);
        }
        let k = _mm_set_epi32(
            K[4 * round + 3] as i32,
            K[4 * round + 2] as i32,
            K[4 * round + 1] as i32,
            K[4 * round] as i32,
        );
        rounds4(&mut a_abef, &mut a_cdgh, a_w[i], k);
        rounds4(&mut b_abef, &mut b_cdgh, b_w[i], k);
    }
    [
        from_lanes(_mm_add_epi32(a_abef, abef), _mm_add_epi32(a_cdgh, cdgh)),
        from_lanes(_mm_add_epi32(b_abef, abef), _mm_add_epi32(b_cdgh, cdgh)),
    ]
}

/// Four rounds with message words `w` and constants `k`.
#[inline]
#[target_feature(enable = "sha,sse2")]
fn rounds4(abef: &mut __m128i, cdgh: &mut __m128i, w: __m128i, k: __m128i) {
    let wk = _mm_add_epi32(w, k);
    *cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, wk);
    *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, _mm_shuffle_epi32(wk, 0x0E));
}

/// The next four words of the message schedule from the previous sixteen.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3")]
fn schedule(w0: __m128i, w1: __m128i, w2: __m128i, w3: __m128i) -> __m128i {
    let partial = _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8(w3, w2, 4));
    _mm_sha256msg2_epu32(partial, w3)
}

/// The state `a..h` in the instructions' layout: `ABEF` and `CDGH`.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1")]
fn to_lanes(s: &[u32; 8]) -> (__m128i, __m128i) {
    let dcba = _mm_set_epi32(s[3] as i32, s[2] as i32, s[1] as i32, s[0] as i32);
    let hgfe = _mm_set_epi32(s[7] as i32, s[6] as i32, s[5] as i32, s[4] as i32);
    let cdab = _mm_shuffle_epi32(dcba, 0xB1);
    let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    (_mm_alignr_epi8(cdab, efgh, 8), _mm_blend_epi16(efgh, cdab, 0xF0))
}

/// Back from `ABEF` / `CDGH` to `a..h`.
#[cfg(test)]
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1")]
fn from_lanes(abef: __m128i, cdgh: __m128i) -> [u32; 8] {
    let feba = _mm_shuffle_epi32(abef, 0x1B);
    let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    let dcba = _mm_blend_epi16(feba, dchg, 0xF0);
    let hgef = _mm_alignr_epi8(dchg, feba, 8);
    [
        _mm_extract_epi32(dcba, 0) as u32,
        _mm_extract_epi32(dcba, 1) as u32,
        _mm_extract_epi32(dcba, 2) as u32,
        _mm_extract_epi32(dcba, 3) as u32,
        _mm_extract_epi32(hgef, 0) as u32,
        _mm_extract_epi32(hgef, 1) as u32,
        _mm_extract_epi32(hgef, 2) as u32,
        _mm_extract_epi32(hgef, 3) as u32,
    ]
}
