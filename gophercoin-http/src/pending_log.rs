//! The pending transactions' log: the durable copy of the mempool, a file of records that
//! is only ever appended to, each commit one write and one `fdatasync`.
//!
//! A record is its body's length (`u32`, little-endian), the body's CRC-32, then the body:
//! a kind byte and what it holds.
//!
//! | kind | body after the kind byte | meaning |
//! |---|---|---|
//! | 1 | transaction id (32 bytes), then its canonical encoding | it is pending |
//! | 2 | transaction id (32 bytes) | it is no longer pending |
//!
//! Opening the log reads it from the start and stops at the first record that is cut short
//! or fails its checksum: a write the crash cut off, never acknowledged, as a commit is
//! answered only once its `fdatasync` returned. That tail is cut off the file. Once the
//! removed transactions' records weigh more than the pending ones', the log is written
//! again with the pending ones alone (to a new file, renamed over the old one).

use std::{
    collections::HashMap,
    fs::{File, OpenOptions},
    io::{self, Write as _},
    path::{Path, PathBuf},
};

use gophercoin_core::{SignedTransaction, TxId};

/// A pending transaction.
const ADD: u8 = 1;
/// A transaction no longer pending.
const REMOVE: u8 = 2;
/// The bytes before a record's body: its length and CRC-32.
const HEAD: usize = 8;
/// The longest body a record may have: a transaction's id and the longest encoding a
/// stored transaction may have.
const MAX_BODY: usize = 1 + 32 + MAX_TX_BYTES;
/// The most bytes a stored transaction's encoding may have. A record longer than the
/// reader takes would end the log there at the next start, dropping every later record,
/// so this is well above the longest transaction the core can hold: two addresses and a
/// signature at their most, and its few numbers.
pub(crate) const MAX_TX_BYTES: usize = 16 << 10;
const _: () = assert!(
    2 * gophercoin_core::Address::MAX_LEN + gophercoin_core::Signature::MAX_LEN + 256
        <= MAX_TX_BYTES
);
/// The log is written again once it is this long and less than half of it is pending
/// transactions.
const COMPACT_FROM: u64 = 16 << 20;

/// The log file and what it holds.
#[derive(Debug)]
pub(crate) struct PendingLog {
    path: PathBuf,
    file: File,
    /// Bytes of whole records in the file: where the next one goes.
    len: u64,
    /// The pending transactions, with where their records are.
    live: HashMap<TxId, Span>,
    /// Bytes of the pending transactions' records.
    live_bytes: u64,
    /// The log is written again once it is this long and less than half of it is
    /// pending transactions ([`COMPACT_FROM`]).
    compact_from: u64,
    /// After a failure to write the log again, the length at which to try again.
    compact_retry_at: Option<u64>,
    /// The log was written again and renamed into place, but the directory's sync
    /// failed: no append is acknowledged until it succeeds.
    rename_unsynced: bool,
    /// A failed append could not be cut off again: what follows it would not be read
    /// back, so nothing more is appended until the log is opened again.
    damaged: bool,
}

/// Where a record is in the file.
#[derive(Clone, Copy, Debug)]
struct Span {
    at: u64,
    len: u64,
}

/// Records to append, built by [`PendingLog::add`] and [`PendingLog::remove`].
#[derive(Debug, Default)]
pub(crate) struct Records {
    bytes: Vec<u8>,
    /// Each added transaction and where its record is in `bytes`.
    added: Vec<(TxId, Span)>,
    removed: Vec<TxId>,
}

impl Records {
    /// Whether there is nothing to append.
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Puts `other`'s records after these.
    pub(crate) fn extend(&mut self, other: Records) {
        let base = self.bytes.len() as u64;
        self.bytes.extend_from_slice(&other.bytes);
        self.added.extend(
            other.added.into_iter().map(|(id, span)| (id, Span { at: base + span.at, ..span })),
        );
        self.removed.extend(other.removed);
    }

    fn push(&mut self, kind: u8, id: &TxId, tx: Option<&[u8]>) -> Span {
        let body_len = 1 + 32 + tx.map_or(0, <[u8]>::len);
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&u32::try_from(body_len).unwrap_or(u32::MAX).to_le_bytes());
        self.bytes.extend_from_slice(&[0; 4]);
        self.bytes.push(kind);
        self.bytes.extend_from_slice(id.as_bytes());
        self.bytes.extend_from_slice(tx.unwrap_or_default());
        let crc = crc32fast::hash(&self.bytes[start + HEAD..]);
        self.bytes[start + 4..start + HEAD].copy_from_slice(&crc.to_le_bytes());
        Span { at: start as u64, len: (self.bytes.len() - start) as u64 }
    }
}

impl PendingLog {
    /// Opens the log at `path`, creating it if missing, and cuts off a torn last record.
    ///
    /// # Errors
    ///
    /// The I/O error of opening, reading or cutting the file.
    pub(crate) fn open(path: &Path) -> io::Result<PendingLog> {
        let file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
        let bytes = std::fs::read(path)?;
        let mut log = PendingLog {
            path: path.to_owned(),
            file,
            len: 0,
            live: HashMap::new(),
            live_bytes: 0,
            compact_from: COMPACT_FROM,
            compact_retry_at: None,
            rename_unsynced: false,
            damaged: false,
        };
        for record in read(&bytes) {
            let span = Span { at: log.len, len: record.len };
            match record.body {
                Body::Add(id, _) => log.now_pending(id, span),
                Body::Remove(id) => log.now_removed(&id),
            }
            log.len += record.len;
        }
        let at = log.len;
        if at < bytes.len() as u64 {
            tracing::warn!(
                path = %path.display(),
                cut = bytes.len() as u64 - at,
                "the pending transactions' log ended in a record cut short (a write a crash interrupted): it is cut off"
            );
            log.file.set_len(at)?;
            log.file.sync_data()?;
        }
        Ok(log)
    }

    /// Whether `id` is pending in the log.
    pub(crate) fn contains(&self, id: &TxId) -> bool {
        self.live.contains_key(id)
    }

    /// Counts `id` as pending from the record at `span`, unless it already is.
    fn now_pending(&mut self, id: TxId, span: Span) {
        if let std::collections::hash_map::Entry::Vacant(entry) = self.live.entry(id) {
            entry.insert(span);
            self.live_bytes += span.len;
        }
    }

    /// Counts `id` as no longer pending.
    fn now_removed(&mut self, id: &TxId) {
        if let Some(span) = self.live.remove(id) {
            self.live_bytes -= span.len;
        }
    }

    /// Adds a record saying `tx` (whose id is `id`) is pending to `records`.
    pub(crate) fn add(records: &mut Records, id: TxId, tx: &SignedTransaction) {
        let span = records.push(ADD, &id, Some(&tx.encode()));
        records.added.push((id, span));
    }

    /// Adds a record saying `id` is no longer pending to `records`.
    pub(crate) fn remove(records: &mut Records, id: TxId) {
        records.push(REMOVE, &id, None);
        records.removed.push(id);
    }

    /// Appends records and waits for them to reach the disk; if that fails, what was
    /// written of them is cut off again and the log holds what it held before (and if
    /// even that fails, every later append is refused until the log is opened again).
    ///
    /// # Errors
    ///
    /// The I/O error of writing or syncing.
    pub(crate) fn append(&mut self, records: Records) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        if self.damaged {
            return Err(io::Error::other(
                "an earlier write failed and could not be cut off: restart the node",
            ));
        }
        if self.rename_unsynced {
            sync_dir_of(&self.path)?;
            self.rename_unsynced = false;
        }
        let written = self.file.write_all(&records.bytes).and_then(|()| self.file.sync_data());
        if let Err(error) = written {
            // A later append must follow the last whole record.
            if let Err(cut) = self.file.set_len(self.len) {
                tracing::error!(%cut, "could not cut a failed write off the pending transactions' log");
                self.damaged = true;
            }
            return Err(error);
        }
        let base = self.len;
        self.len += records.bytes.len() as u64;
        for (id, span) in records.added {
            self.now_pending(id, Span { at: base + span.at, len: span.len });
        }
        for id in &records.removed {
            self.now_removed(id);
        }
        if self.len >= self.compact_from
            && self.len > 2 * self.live_bytes
            && self.compact_retry_at.is_none_or(|at| self.len >= at)
        {
            // The records are on disk whatever becomes of this: a failure only leaves the
            // log as long as it is, to be written again once it has doubled.
            self.compact_retry_at = None;
            if let Err(error) = self.compact() {
                tracing::warn!(%error, "could not write the pending transactions' log again");
                self.compact_retry_at = Some(self.len.saturating_mul(2));
            }
        }
        Ok(())
    }

    /// The pending transactions, in the order they were recorded as pending; one that does
    /// not decode is left out with a warning.
    ///
    /// # Errors
    ///
    /// The I/O error of reading the file.
    pub(crate) fn pending(&self) -> io::Result<Vec<SignedTransaction>> {
        let bytes = std::fs::read(&self.path)?;
        let bytes = bytes.get(..usize::try_from(self.len).unwrap_or(usize::MAX)).unwrap_or(&bytes);
        let mut out = vec![];
        for (at, record) in self.live_records(bytes) {
            let Body::Add(_, tx) = record.body else { continue };
            match SignedTransaction::decode(tx, MAX_TX_BYTES) {
                Ok(tx) => out.push(tx),
                Err(error) => {
                    tracing::warn!(at, %error, "a stored pending transaction does not decode")
                }
            }
        }
        Ok(out)
    }

    /// Forgets every pending transaction.
    ///
    /// # Errors
    ///
    /// The I/O error of cutting the file.
    pub(crate) fn clear(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_data()?;
        self.len = 0;
        self.damaged = false;
        self.live.clear();
        self.live_bytes = 0;
        Ok(())
    }

    /// Writes the log again with the pending transactions' records alone, to a new file
    /// renamed over this one once it is on disk.
    fn compact(&mut self) -> io::Result<()> {
        let bytes = std::fs::read(&self.path)?;
        let bytes = bytes.get(..usize::try_from(self.len).unwrap_or(usize::MAX)).unwrap_or(&bytes);
        let mut kept = Vec::with_capacity(usize::try_from(self.live_bytes).unwrap_or(0));
        let mut live = HashMap::with_capacity(self.live.len());
        for (at, record) in self.live_records(bytes) {
            let Body::Add(id, _) = record.body else { continue };
            live.insert(id, Span { at: kept.len() as u64, len: record.len });
            let (at, len) = (usize::try_from(at).unwrap_or(usize::MAX), record.len as usize);
            kept.extend_from_slice(bytes.get(at..at + len).unwrap_or_default());
        }
        let fresh_path = self.path.with_extension("compacting");
        match std::fs::remove_file(&fresh_path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let mut fresh =
            OpenOptions::new().read(true).append(true).create_new(true).open(&fresh_path)?;
        fresh.write_all(&kept)?;
        fresh.sync_data()?;
        std::fs::rename(&fresh_path, &self.path)?;
        // From here the new file is the log, and appends go to it (the same file under
        // its new name); none is acknowledged before the rename is on disk too.
        self.file = fresh;
        self.len = kept.len() as u64;
        self.live_bytes = self.len;
        self.live = live;
        if let Err(error) = sync_dir_of(&self.path) {
            self.rename_unsynced = true;
            return Err(error);
        }
        Ok(())
    }

    /// The records in `bytes` (the log's) that make their transactions pending now, with
    /// where each is.
    fn live_records<'a>(&'a self, bytes: &'a [u8]) -> impl Iterator<Item = (u64, Record<'a>)> {
        read(bytes)
            .scan(0, |at, record| {
                let here = *at;
                *at += record.len;
                Some((here, record))
            })
            .filter(|(at, record)| match &record.body {
                Body::Add(id, _) => self.live.get(id).is_some_and(|span| span.at == *at),
                Body::Remove(_) => false,
            })
    }
}

/// Syncs the directory holding `path`, so a rename into it is on disk.
fn sync_dir_of(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

/// A record read back.
struct Record<'a> {
    /// Its length in the file, head included.
    len: u64,
    body: Body<'a>,
}

enum Body<'a> {
    Add(TxId, &'a [u8]),
    Remove(TxId),
}

/// The whole, intact records at the start of `bytes`, up to the first that is cut short,
/// fails its checksum or is not one this version writes.
fn read(bytes: &[u8]) -> impl Iterator<Item = Record<'_>> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let (head, after) = rest.split_first_chunk::<HEAD>()?;
        let (len, crc) = head.split_at(4);
        let len = usize::try_from(u32::from_le_bytes(len.try_into().ok()?)).ok()?;
        if !(1 + 32..=MAX_BODY).contains(&len) {
            return None;
        }
        let body = after.get(..len)?;
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
            return None;
        }
        let (&kind, body) = body.split_first()?;
        let (id, tx) = body.split_first_chunk::<32>()?;
        let id = TxId::from_bytes(*id);
        let body = match kind {
            ADD if !tx.is_empty() => Body::Add(id, tx),
            REMOVE if tx.is_empty() => Body::Remove(id),
            _ => return None,
        };
        rest = &after[len..];
        Some(Record { len: (HEAD + len) as u64, body })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::payments;

    fn ids(txs: &[SignedTransaction]) -> Vec<TxId> {
        txs.iter().map(SignedTransaction::id).collect()
    }

    /// A new log in a directory of its own, holding `count` payments.
    fn log_of(count: u64) -> (tempfile::TempDir, Vec<SignedTransaction>, PendingLog) {
        let dir = tempfile::tempdir().expect("a directory");
        let txs = payments(count);
        let mut log = PendingLog::open(&dir.path().join("chain.mempool")).expect("opens");
        append(&mut log, &txs, &[]);
        (dir, txs, log)
    }

    fn append(log: &mut PendingLog, add: &[SignedTransaction], remove: &[SignedTransaction]) {
        let mut records = Records::default();
        for tx in add {
            PendingLog::add(&mut records, tx.id(), tx);
        }
        for tx in remove {
            PendingLog::remove(&mut records, tx.id());
        }
        log.append(records).expect("appends");
    }

    #[test]
    fn a_record_cut_short_or_damaged_ends_the_log_and_is_cut_off() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("chain.mempool");
        let txs = payments(3);
        let mut log = PendingLog::open(&path).expect("opens");
        append(&mut log, &txs[..2], &[]);
        let whole = std::fs::metadata(&path).expect("exists").len();
        drop(log);
        // A third record cut short, as a crash during its write leaves it.
        let mut torn = std::fs::read(&path).expect("reads");
        let mut records = Records::default();
        PendingLog::add(&mut records, txs[2].id(), &txs[2]);
        torn.extend_from_slice(&records.bytes[..records.bytes.len() - 10]);
        std::fs::write(&path, &torn).expect("writes");
        let mut log = PendingLog::open(&path).expect("opens");
        assert_eq!(ids(&log.pending().expect("reads")), ids(&txs[..2]));
        assert_eq!(std::fs::metadata(&path).expect("exists").len(), whole, "the torn tail cut off");
        // What comes next follows the last whole record.
        append(&mut log, &txs[2..], &txs[..1]);
        drop(log);
        let log = PendingLog::open(&path).expect("opens");
        assert_eq!(ids(&log.pending().expect("reads")), ids(&txs[1..]));
        drop(log);
        // One byte of the last record changed: its checksum fails, and it is left out.
        let mut damaged = std::fs::read(&path).expect("reads");
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        std::fs::write(&path, &damaged).expect("writes");
        let log = PendingLog::open(&path).expect("opens");
        let pending = ids(&log.pending().expect("reads"));
        assert_eq!(pending, ids(&txs), "the removal's record is gone: all three pending");
    }

    #[test]
    fn the_log_is_written_again_once_mostly_removed_transactions() {
        let (dir, txs, mut log) = log_of(4);
        let path = dir.path().join("chain.mempool");
        let one = log.live_bytes / 4;
        log.compact_from = 40 * one;
        // The first removed and added again, so its record is the last; then one record
        // added and removed again until the log passes the size it is compacted at.
        append(&mut log, &[], &txs[..1]);
        append(&mut log, &txs[..1], &[]);
        for _ in 0..40 {
            append(&mut log, &txs[1..2], &txs[1..2]);
        }
        assert!(log.len < 40 * one, "compacted: {} bytes", log.len);
        let order = [txs[2].clone(), txs[3].clone(), txs[0].clone()];
        assert_eq!(ids(&log.pending().expect("reads")), ids(&order), "in the order last added");
        assert_eq!(std::fs::metadata(&path).expect("exists").len(), log.len);
        drop(log);
        let log = PendingLog::open(&path).expect("opens");
        assert_eq!(ids(&log.pending().expect("reads")), ids(&order));
        assert_eq!(log.live_bytes, 3 * one);
    }

    #[test]
    fn a_log_that_cannot_be_written_again_keeps_every_record_and_tries_later() {
        let (dir, txs, mut log) = log_of(2);
        let path = dir.path().join("chain.mempool");
        let one = log.live_bytes / 2;
        log.compact_from = 10 * one;
        // Where the new file would go, a directory: writing the log again fails.
        std::fs::create_dir(path.with_extension("compacting")).expect("a directory");
        for _ in 0..10 {
            append(&mut log, &txs[..1], &txs[..1]);
        }
        assert!(log.len > 10 * one, "not written again: {} bytes", log.len);
        assert!(log.compact_retry_at.is_some_and(|at| at > log.len), "{:?}", log.compact_retry_at);
        assert_eq!(ids(&log.pending().expect("reads")), ids(&txs[1..]));
        drop(log);
        let log = PendingLog::open(&path).expect("opens");
        assert_eq!(ids(&log.pending().expect("reads")), ids(&txs[1..]));
    }
}
