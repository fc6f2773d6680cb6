//! A two-lane SHA-256 compression on the x86 SHA extensions, for the nonce search.
//!
//! Two nonces are compressed at once: the two lanes are independent dependency chains, so
//! the CPU overlaps their `sha256rnds2` latencies. The intrinsics are safe to call inside
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

/// SHA-256's round constants (FIPS 180-4, 4.2.2).
const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// Returns `true` if this CPU has the SHA extensions (and the SSE levels used with them).
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("sha")
        && std::is_x86_feature_detected!("sse4.1")
        && std::is_x86_feature_detected!("ssse3")
}

/// Compresses two 16-word blocks on the same starting state; `None` without the SHA
/// extensions. (The search has its own copy of this loop; this one lets tests compare
/// each lane with `sha2` on arbitrary blocks.)
#[cfg(test)]
pub(super) fn compress2(state: &[u32; 8], blocks: &[[u32; 16]; 2]) -> Option<[[u32; 8]; 2]> {
    if !available() {
        return None;
    }
    // SAFETY: the CPU has every feature `compress2_sha` is compiled for (checked above).
    Some(unsafe { compress2_sha(state, blocks) })
}

/// Searches `count` nonces from `start`, two at a time, over a final block whose words 6
/// and 7 are the nonce: the first four rounds (constant words) are computed once, and a
/// lane's full state is built only when its first word is at most `target_head`, then
/// judged by `meets`. `None` without the SHA extensions.
pub(super) fn search(
    state: &[u32; 8],
    words: &[u32; 16],
    start: u64,
    count: u64,
    target_head: u32,
    meets: &mut dyn FnMut(&[u32; 8]) -> bool,
) -> Option<Result<u64, u64>> {
    if !available() {
        return None;
    }
    // SAFETY: the CPU has every feature `search_sha` is compiled for (checked above).
    Some(unsafe { search_sha(state, words, start, count, target_head, meets) })
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn search_sha(
    state: &[u32; 8],
    words: &[u32; 16],
    start: u64,
    count: u64,
    target_head: u32,
    meets: &mut dyn FnMut(&[u32; 8]) -> bool,
) -> Result<u64, u64> {
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
    // Rounds 0-3 read only words 0-3, which no nonce changes.
    let (mut pre_abef, mut pre_cdgh) = (abef, cdgh);
    rounds4(&mut pre_abef, &mut pre_cdgh, w0, k[0]);
    let with_nonce = |nonce: u64| {
        let w = _mm_insert_epi32(w1_base, (nonce >> 32) as i32, 2);
        _mm_insert_epi32(w, nonce as i32, 3)
    };
    let mut nonce = start;
    let mut left = count;
    while left >= 2 {
        let second = nonce.wrapping_add(1);
        let (mut a_abef, mut a_cdgh, mut b_abef, mut b_cdgh) =
            (pre_abef, pre_cdgh, pre_abef, pre_cdgh);
        let mut a_w = [w0, with_nonce(nonce), w2, w3];
        let mut b_w = [w0, with_nonce(second), w2, w3];
        #[allow(clippy::needless_range_loop, reason = "the round also picks schedule words")]
        for round in 1..16 {
            let i = round % 4;
            if round >= 4 {
                a_w[i] = schedule(a_w[i], a_w[(i + 1) % 4], a_w[(i + 2) % 4], a_w[(i + 3) % 4]);
                b_w[i] = schedule(b_w[i], b_w[(i + 1) % 4], b_w[(i + 2) % 4], b_w[(i + 3) % 4]);
            }
            rounds4(&mut a_abef, &mut a_cdgh, a_w[i], k[round]);
            rounds4(&mut b_abef, &mut b_cdgh, b_w[i], k[round]);
        }
        let (a_abef, b_abef) = (_mm_add_epi32(a_abef, abef), _mm_add_epi32(b_abef, abef));
        // Word `a` of the result is the fourth 32-bit element of ABEF.
        if _mm_extract_epi32(a_abef, 3) as u32 <= target_head
            && meets(&from_lanes(a_abef, _mm_add_epi32(a_cdgh, cdgh)))
        {
            return Ok(nonce);
        }
        if _mm_extract_epi32(b_abef, 3) as u32 <= target_head
            && meets(&from_lanes(b_abef, _mm_add_epi32(b_cdgh, cdgh)))
        {
            return Ok(second);
        }
        nonce = nonce.wrapping_add(2);
        left -= 2;
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
