//! Gzip answers joined from pieces deflated once: a block's JSON is deflated the first time
//! a client asks for it compressed and kept ([`crate::encoded`]), and a whole-chain answer
//! is one gzip member made of those pieces, so compressing the chain for a client costs
//! copies and a CRC, not a deflate of megabytes.
//!
//! This is how `pigz` joins the blocks it compresses in parallel: each piece is a raw
//! deflate stream ended by a sync flush (RFC 1951: its last block is an empty stored block,
//! so it ends on a byte boundary and is not final), and each may refer back only into its
//! own data; pieces laid end to end are one valid deflate stream. The small pieces between
//! them (the answer's head, commas, its end) go as stored blocks, a final empty stored
//! block ends the stream, and the gzip header and trailer (RFC 1952: CRC-32 and size of
//! the whole uncompressed answer) frame it. flate2's decoders read the result as one
//! member; the tests decode every answer this module makes. Each piece keeps the CRC-32 of
//! its data, and the answer's CRC-32 is combined from them, so sending a piece does not
//! read its uncompressed data again.

use axum::{
    body::Bytes,
    http::{HeaderMap, header},
};
use crc32fast::Hasher as Crc;
use flate2::{Compress, Compression, FlushCompress};

/// The level pieces are deflated at: each piece is deflated once and sent many times,
/// so the default level's better ratio is worth its time.
const LEVEL: u32 = 6;

/// The gzip header: magic, deflate, no flags, no time, no extra flags, unknown system
/// (RFC 1952, 2.3).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// How a sync flush ends: an empty stored block's LEN and NLEN (RFC 1951, 3.2.4).
const SYNC_MARK: [u8; 4] = [0, 0, 0xff, 0xff];

/// A stored block holds at most this many bytes (RFC 1951, 3.2.4).
const STORED_MAX: usize = u16::MAX as usize;

/// Data deflated on its own into a piece that can be joined ([`Join`]): a raw deflate
/// stream ended by a sync flush, with the CRC-32 and size of the data it holds.
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    /// The deflated bytes.
    pub(crate) bytes: Bytes,
    /// The CRC-32 of the data, and its length.
    crc: Crc,
}

impl Piece {
    /// Deflates `data`.
    pub(crate) fn deflate(data: &[u8]) -> Piece {
        // Room for incompressible data (stored blocks add 5 bytes in 65,535) and the flush,
        // so that one call does it all.
        Piece::deflate_into(data, data.len() + data.len() / 8 + 256)
    }

    /// Deflates `data` into a buffer of `capacity` bytes at first, grown as needed.
    fn deflate_into(data: &[u8], capacity: usize) -> Piece {
        let mut deflate = Compress::new(Compression::new(LEVEL), false);
        let mut out = Vec::with_capacity(capacity);
        // Calls in a row that ended with room left and still no flush: a call that ran out
        // of room may, once given more, only write out what it held back; the next one
        // flushes again (another empty stored block, which changes nothing in the data).
        let mut unflushed = 0;
        let mut grown = false;
        loop {
            let read = usize::try_from(deflate.total_in()).expect("a piece fits in memory");
            deflate
                .compress_vec(&data[read..], &mut out, FlushCompress::Sync)
                .expect("deflating bytes in memory does not fail");
            // Done when everything is read and the output ends with the sync flush's empty
            // stored block (`00 00 FF FF`, its LEN and NLEN) with room to spare.
            let all_read = usize::try_from(deflate.total_in()).ok() == Some(data.len());
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
                unflushed = 0;
                grown = true;
            } else if all_read && out.ends_with(&SYNC_MARK) && !grown {
                break;
            } else if grown {
                // After a call that ran out of room, what the next wrote may end in the
                // marker's bytes by chance: one more call, which flushes for sure.
                grown = false;
            } else {
                unflushed += 1;
                assert!(unflushed < 4, "deflate did not finish its flush");
            }
        }
        let mut crc = Crc::new();
        crc.update(data);
        Piece { bytes: Bytes::from(out), crc }
    }
}

/// Whether the request's `Accept-Encoding` takes gzip (RFC 9110, 12.5.3): `gzip` or
/// `x-gzip` with a quality above 0, or else `*` with one.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    let (mut gzip, mut any) = (None, None);
    let codings = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for coding in codings {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        // `q=0` refuses the coding; a malformed quality is taken as none given.
        let taken = !parts.any(|param| {
            param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(gzip.unwrap_or(false) || taken);
        } else if name == "*" {
            any = Some(any.unwrap_or(false) || taken);
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// One gzip member being written from plain bytes and deflated pieces: keeps the CRC-32
/// and size of everything it holds uncompressed.
#[derive(Debug)]
pub(crate) struct Join {
    crc: Crc,
}

impl Join {
    /// Starts a member; `out` gets its header.
    pub(crate) fn start(out: &mut Vec<u8>) -> Self {
        out.extend_from_slice(&HEADER);
        Join { crc: Crc::new() }
    }

    /// Appends `data` to `out` uncompressed, as stored blocks.
    pub(crate) fn stored(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.crc.update(data);
        for chunk in data.chunks(STORED_MAX) {
            store(chunk, false, out);
        }
    }

    /// Counts a deflated piece whose bytes the caller sends next, after what it had
    /// this member write.
    pub(crate) fn count(&mut self, piece: &Piece) {
        self.crc.combine(&piece.crc);
    }

    /// Appends a deflated piece to `out`.
    #[cfg(test)]
    fn piece(&mut self, piece: &Piece, out: &mut Vec<u8>) {
        self.count(piece);
        out.extend_from_slice(&piece.bytes);
    }

    /// Ends the member: `out` gets the final block and the trailer.
    pub(crate) fn finish(self, out: &mut Vec<u8>) {
        store(&[], true, out);
        // The size modulo 2^32, as gzip keeps it.
        let size = self.crc.total_len() as u32;
        out.extend_from_slice(&self.crc.finalize().to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
    }
}

/// Appends a stored block of `data` (at most [`STORED_MAX`] bytes) to `out`, which ends
/// on a byte boundary: the block's three header bits and their padding make one byte.
fn store(data: &[u8], last: bool, out: &mut Vec<u8>) {
    let len = u16::try_from(data.len()).expect("a stored block holds at most 65,535 bytes");
    out.push(u8::from(last));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn gunzip(member: &[u8]) -> Vec<u8> {
        let mut plain = vec![];
        flate2::read::GzDecoder::new(member).read_to_end(&mut plain).expect("a valid gzip member");
        plain
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Plain and deflated pieces in any order join into one member that decodes to
        /// them all, with the CRC and size gzip checks.
        #[test]
        fn joined_pieces_decode_to_their_concatenation(
            pieces in prop::collection::vec((any::<bool>(), prop::collection::vec(0u8..4, 0..70_000)), 0..6)
        ) {
            let mut member = vec![];
            let mut join = Join::start(&mut member);
            let mut expected = vec![];
            for (deflate, piece) in &pieces {
                if *deflate {
                    join.piece(&Piece::deflate(piece), &mut member);
                } else {
                    join.stored(piece, &mut member);
                }
                expected.extend_from_slice(piece);
            }
            join.finish(&mut member);
            prop_assert_eq!(gunzip(&member), expected);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Data of any kind, hex like a block's keys and signatures or raw bytes, deflated
        /// into a buffer far too small at first: the buffer grows, and the piece is whole.
        #[test]
        fn a_piece_is_whole_however_small_its_buffer_starts(
            seed in any::<u64>(),
            len in 0usize..300_000,
            hex in any::<bool>(),
            capacity in 1usize..4_096,
        ) {
            let mut state = seed | 1;
            let mut data: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            if hex {
                data = data.iter().map(|b| b"0123456789abcdef"[usize::from(b & 15)]).collect();
            }
            for piece in [Piece::deflate(&data), Piece::deflate_into(&data, capacity)] {
                prop_assert!(piece.bytes.ends_with(&SYNC_MARK));
                let mut member = vec![];
                let mut join = Join::start(&mut member);
                join.stored(b"[", &mut member);
                join.piece(&piece, &mut member);
                join.stored(b"]", &mut member);
                join.finish(&mut member);
                let mut expected = b"[".to_vec();
                expected.extend_from_slice(&data);
                expected.push(b']');
                prop_assert_eq!(gunzip(&member), expected);
            }
        }
    }

    #[test]
    fn a_repetitive_piece_is_deflated_small_and_a_bad_trailer_is_refused() {
        let plain =
            b"{\"sender\":\"30820122300d06092a864886f70d01010105000382010f00\"},".repeat(500);
        let piece = Piece::deflate(&plain);
        assert!(piece.bytes.len() * 20 < plain.len(), "{} of {}", piece.bytes.len(), plain.len());
        let mut member = vec![];
        let mut join = Join::start(&mut member);
        join.piece(&piece, &mut member);
        join.finish(&mut member);
        assert_eq!(gunzip(&member), plain);
        // The trailer is checked: a CRC of other data makes the decoder refuse it.
        let crc_at = member.len() - 8;
        member[crc_at] ^= 1;
        let mut out = vec![];
        assert!(flate2::read::GzDecoder::new(&member[..]).read_to_end(&mut out).is_err());
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        let takes = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
            accepts_gzip(&headers)
        };
        assert!(takes("gzip"));
        assert!(takes("br, GZIP;q=0.5"));
        assert!(takes("deflate, x-gzip"));
        assert!(takes("*"));
        assert!(takes("gzip;q=bad"));
        assert!(!takes("gzip;q=0"));
        assert!(!takes("gzip; q=0.000"));
        assert!(!takes("br, deflate"));
        assert!(!takes("identity"));
        assert!(!takes("gzipx"));
        assert!(!takes("*, gzip;q=0"));
        assert!(!takes("*;q=0"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
