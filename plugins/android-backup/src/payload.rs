//! The payload pipeline: the bytes after the header are AES-256-CBC
//! ciphertext (when encrypted), whose plaintext is a zlib stream (when
//! compressed), whose output is the tar stream. This module turns the
//! evidence reader into that tar stream.
//!
//! Policy: streaming end to end with bounded memory. The evidence is read
//! once, front to back, through the one sequential reader the header was read
//! from (the host hashes the evidence from those reads). Decryption and
//! inflation run on one scoped thread of the plugin ([`produce`]), which
//! hands the tar stream in [`CHUNK`]-byte chunks through a channel of
//! [`DEPTH`] chunks to the tar engine on the calling thread ([`Chunks`]);
//! chunks go back to the producer for reuse. Only the calling thread talks to
//! the host's output and log calls. A broken payload (ciphertext not a whole
//! number of blocks, bad final padding, a zlib error or a zlib stream cut
//! short) becomes a `PluginError::Corrupt` at the evidence offset reached,
//! saying what failed, after every byte before it has been delivered.

#![forbid(unsafe_code)]

use cbc::cipher::consts::U16;
use cbc::cipher::inout::InOutBuf;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use exhibit_plugin_sdk::PluginError;
use exhibit_tar_stream::CHUNK;
use flate2::{Decompress, FlushDecompress, Status};
use std::io::{self, BufRead, Read};
use std::sync::mpsc::{Receiver, Sender, SyncSender};

/// Chunks in flight between the producer and the tar engine.
pub const DEPTH: usize = 4;
/// AES block size.
const BLOCK: usize = 16;

/// A message from the producer.
pub enum Msg {
    /// The next bytes of the tar stream (never empty).
    Data(Vec<u8>),
    /// The payload is broken here; nothing follows.
    Failed(PluginError),
}

/// What the producer found besides the tar stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    /// Bytes after the end of the zlib stream (not decoded) and the evidence
    /// offset of the first of them.
    pub after_zlib: Option<(u64, u64)>,
}

/// AES-256-CBC decryption of everything `src` holds, as a buffered reader
/// of the plaintext. The last block is held back until the end of `src`
/// shows it is the last, then unpadded (PKCS#7). A damaged end is an error
/// after every decryptable byte has been given out.
pub struct Decrypt<R> {
    src: R,
    cipher: cbc::Decryptor<aes::Aes256>,
    /// Plaintext: the held-back block (at most) in front, then what was just
    /// decrypted.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The last decrypted block, not yet given out.
    held: Option<[u8; BLOCK]>,
    /// Ciphertext bytes of a block not yet complete.
    partial: [u8; BLOCK],
    partial_len: usize,
    /// Evidence offset of the next ciphertext byte.
    pos: u64,
    state: State,
}

enum State {
    Running,
    Done,
    Failed(PluginError),
}

impl<R: BufRead> Decrypt<R> {
    /// Decrypts `src` (whose first byte is at evidence offset `base`).
    pub fn new(src: R, key: &[u8; 32], iv: &[u8; BLOCK], base: u64) -> Decrypt<R> {
        Decrypt {
            src,
            cipher: cbc::Decryptor::new(key.into(), iv.into()),
            buf: vec![0; CHUNK.saturating_add(BLOCK)],
            start: 0,
            end: 0,
            held: None,
            partial: [0; BLOCK],
            partial_len: 0,
            pos: base,
            state: State::Running,
        }
    }

    /// Decrypts the whole blocks of `input` (a multiple of 16 bytes, at most
    /// [`CHUNK`]) behind the held-back block; the last of them is held back.
    fn decrypt(
        cipher: &mut cbc::Decryptor<aes::Aes256>,
        buf: &mut [u8],
        held: &mut Option<[u8; BLOCK]>,
        input: &[u8],
    ) -> (usize, usize) {
        let n = input.len();
        let Some(out) = buf.get_mut(BLOCK..BLOCK.saturating_add(n)) else {
            return (0, 0);
        };
        if let Ok(blocks) = InOutBuf::new(input, out) {
            cipher.decrypt_blocks_inout_mut(blocks.into_chunks::<U16>().0);
        }
        let start = match held.take() {
            Some(block) => {
                buf[..BLOCK].copy_from_slice(&block);
                0
            }
            None => BLOCK,
        };
        let mut last = [0u8; BLOCK];
        last.copy_from_slice(&buf[n..n.saturating_add(BLOCK)]);
        *held = Some(last);
        (start, n)
    }

    /// Decrypts more; leaves `start..end` non-empty or the state final.
    fn refill(&mut self) -> io::Result<()> {
        let input = loop {
            match self.src.fill_buf() {
                Ok(bytes) => break bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if input.is_empty() {
            self.finish();
            return Ok(());
        }
        let (start, end, used) = if self.partial_len > 0 {
            let room = &mut self.partial[self.partial_len..];
            let want = room.len().min(input.len());
            room[..want].copy_from_slice(&input[..want]);
            self.partial_len = self.partial_len.saturating_add(want);
            if self.partial_len < BLOCK {
                (0, 0, want)
            } else {
                self.partial_len = 0;
                let block = self.partial;
                let (start, end) =
                    Self::decrypt(&mut self.cipher, &mut self.buf, &mut self.held, &block);
                (start, end, want)
            }
        } else {
            let whole = input.len().min(CHUNK) & !(BLOCK - 1);
            if whole == 0 {
                self.partial[..input.len()].copy_from_slice(input);
                self.partial_len = input.len();
                (0, 0, input.len())
            } else {
                let (start, end) = Self::decrypt(
                    &mut self.cipher,
                    &mut self.buf,
                    &mut self.held,
                    &input[..whole],
                );
                (start, end, whole)
            }
        };
        self.src.consume(used);
        self.pos = self.pos.saturating_add(len64(used));
        self.start = start;
        self.end = end;
        Ok(())
    }

    /// The ciphertext has ended: gives out the held-back block, unpadded
    /// when it can be.
    fn finish(&mut self) {
        let Some(block) = self.held.take() else {
            self.state = State::Failed(PluginError::corrupt(
                self.pos,
                if self.partial_len > 0 {
                    format!(
                        "encrypted payload cut short: {} bytes, not even one whole aes block",
                        self.partial_len
                    )
                } else {
                    "encrypted payload is empty: not even its padding block".to_owned()
                },
            ));
            return;
        };
        self.buf[..BLOCK].copy_from_slice(&block);
        self.start = 0;
        if self.partial_len > 0 {
            // Cut short inside a block: the last whole block is plaintext
            // like any other (its padding, if any, is further on).
            self.end = BLOCK;
            self.state = State::Failed(PluginError::corrupt(
                self.pos,
                format!(
                    "encrypted payload cut short: it ends {} bytes into an aes block",
                    self.partial_len
                ),
            ));
            return;
        }
        let pad = block[BLOCK - 1];
        // The payload bytes before the padding, when the padding is valid.
        let kept = BLOCK
            .checked_sub(usize::from(pad))
            .filter(|&kept| kept < BLOCK)
            .filter(|&kept| block[kept..].iter().all(|&b| b == pad));
        if let Some(kept) = kept {
            self.end = kept;
            self.state = State::Done;
        } else {
            // Not the real end (cut short at a block boundary) or damaged:
            // every byte is given out, then the error.
            self.end = BLOCK;
            self.state = State::Failed(PluginError::corrupt(
                self.pos.saturating_sub(len64(BLOCK)),
                "encrypted payload: invalid pkcs#7 padding in its last block (cut short at a block boundary, or damaged)",
            ));
        }
    }
}

impl<R: BufRead> BufRead for Decrypt<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.start == self.end {
            match &self.state {
                State::Running => self.refill()?,
                State::Done => return Ok(&[]),
                State::Failed(e) => return Err(io::Error::other(e.clone())),
            }
        }
        Ok(&self.buf[self.start..self.end])
    }

    fn consume(&mut self, amount: usize) {
        self.start = self.start.saturating_add(amount).min(self.end);
    }
}

impl<R: BufRead> Read for Decrypt<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Runs on the producer thread: reads the (decrypted) payload from `src`,
/// whose first byte is at evidence offset `base`, inflates it when
/// `compressed`, and sends the tar stream in chunks. Stops early when the
/// receiver has gone (the tar engine stopped).
pub fn produce<R: BufRead>(
    mut src: R,
    compressed: bool,
    base: u64,
    tx: &SyncSender<Msg>,
    recycled: &Receiver<Vec<u8>>,
) -> Produced {
    let mut zlib = compressed.then(|| Decompress::new(true));
    let mut produced = Produced::default();
    loop {
        let mut chunk = recycled.try_recv().unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let (filled, outcome) = match zlib.as_mut() {
            Some(z) => inflate(&mut src, z, base, &mut chunk),
            None => copy(&mut src, &mut chunk),
        };
        chunk.truncate(filled);
        if filled > 0 && tx.send(Msg::Data(chunk)).is_err() {
            return produced;
        }
        match outcome {
            Outcome::More => {}
            Outcome::End => return produced,
            Outcome::ZlibEnd(at) => {
                match count_rest(&mut src) {
                    Ok(0) => {}
                    Ok(n) => produced.after_zlib = Some((at, n)),
                    Err(e) => {
                        let _ = tx.send(Msg::Failed(e));
                    }
                }
                return produced;
            }
            Outcome::Failed(e) => {
                let _ = tx.send(Msg::Failed(e));
                return produced;
            }
        }
    }
}

/// How filling one chunk ended.
enum Outcome {
    /// The chunk is full; more may follow.
    More,
    /// The payload ended cleanly.
    End,
    /// The zlib stream ended; its last compressed byte was before this
    /// evidence offset.
    ZlibEnd(u64),
    Failed(PluginError),
}

/// The payload's next bytes, as they are.
fn copy<R: BufRead>(src: &mut R, chunk: &mut [u8]) -> (usize, Outcome) {
    let mut filled = 0usize;
    while filled < chunk.len() {
        let input = match fill(src) {
            Ok(input) => input,
            Err(e) => return (filled, Outcome::Failed(e)),
        };
        if input.is_empty() {
            return (filled, Outcome::End);
        }
        let n = input.len().min(chunk.len().saturating_sub(filled));
        chunk[filled..filled.saturating_add(n)].copy_from_slice(&input[..n]);
        src.consume(n);
        filled = filled.saturating_add(n);
    }
    (filled, Outcome::More)
}

/// The payload's next bytes, inflated. Java's `DeflaterOutputStream` writes
/// a zlib stream (RFC 1950) around raw deflate (RFC 1951).
fn inflate<R: BufRead>(
    src: &mut R,
    z: &mut Decompress,
    base: u64,
    chunk: &mut [u8],
) -> (usize, Outcome) {
    let mut filled = 0usize;
    while filled < chunk.len() {
        let input = match fill(src) {
            Ok(input) => input,
            Err(e) => return (filled, Outcome::Failed(e)),
        };
        let eof = input.is_empty();
        let flush = if eof {
            FlushDecompress::Finish
        } else {
            FlushDecompress::None
        };
        let (in_before, out_before) = (z.total_in(), z.total_out());
        let status = z.decompress(input, &mut chunk[filled..], flush);
        let used = usize::try_from(z.total_in().saturating_sub(in_before)).unwrap_or(0);
        let made = usize::try_from(z.total_out().saturating_sub(out_before)).unwrap_or(0);
        src.consume(used);
        filled = filled.saturating_add(made);
        let at = base.saturating_add(z.total_in());
        match status {
            Ok(Status::StreamEnd) => return (filled, Outcome::ZlibEnd(at)),
            Ok(_) if used > 0 || made > 0 => {}
            Ok(_) if eof => {
                return (
                    filled,
                    Outcome::Failed(PluginError::corrupt(
                        at,
                        "compressed payload cut short: the zlib stream ends before its last block",
                    )),
                );
            }
            Ok(_) => {
                return (
                    filled,
                    Outcome::Failed(PluginError::corrupt(
                        at,
                        "compressed payload: the zlib stream makes no progress",
                    )),
                );
            }
            Err(e) => {
                return (
                    filled,
                    Outcome::Failed(PluginError::corrupt(
                        at,
                        format!(
                            "compressed payload: zlib data error after {} compressed bytes: {e}",
                            z.total_in()
                        ),
                    )),
                );
            }
        }
    }
    (filled, Outcome::More)
}

/// Reads what is left, counting it.
fn count_rest<R: BufRead>(src: &mut R) -> Result<u64, PluginError> {
    let mut count = 0u64;
    loop {
        let n = fill(src)?.len();
        if n == 0 {
            return Ok(count);
        }
        src.consume(n);
        count = count.saturating_add(len64(n));
    }
}

/// The next bytes of `src` (its readers never answer `Interrupted`).
fn fill<R: BufRead>(src: &mut R) -> Result<&[u8], PluginError> {
    src.fill_buf().map_err(PluginError::from)
}

/// The tar stream as the producer sends it, as a buffered reader for the
/// tar engine: each chunk is handed out as it came, then sent back for
/// reuse. After a [`Msg::Failed`] every read fails with that error.
pub struct Chunks {
    rx: Receiver<Msg>,
    recycle: Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    failed: Option<PluginError>,
    done: bool,
}

impl Chunks {
    /// Reads what the producer sends on `rx`, returning chunks on `recycle`.
    pub fn new(rx: Receiver<Msg>, recycle: Sender<Vec<u8>>) -> Chunks {
        Chunks {
            rx,
            recycle,
            current: Vec::new(),
            pos: 0,
            failed: None,
            done: false,
        }
    }
}

impl BufRead for Chunks {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.current.len() {
            if let Some(e) = &self.failed {
                return Err(io::Error::other(e.clone()));
            }
            if self.done {
                return Ok(&[]);
            }
            match self.rx.recv() {
                Ok(Msg::Data(next)) => {
                    let used = std::mem::replace(&mut self.current, next);
                    self.pos = 0;
                    if used.capacity() > 0 {
                        // The producer may have finished: then the chunk just goes.
                        let _ = self.recycle.send(used);
                    }
                }
                Ok(Msg::Failed(e)) => self.failed = Some(e),
                Err(_) => self.done = true,
            }
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = self.pos.saturating_add(amount).min(self.current.len());
    }
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

    use super::*;
    use cbc::cipher::BlockEncryptMut;
    use cbc::cipher::block_padding::Pkcs7;

    const KEY: [u8; 32] = [7; 32];
    const IV: [u8; 16] = [9; 16];

    fn encrypt(plain: &[u8]) -> Vec<u8> {
        cbc::Encryptor::<aes::Aes256>::new((&KEY).into(), (&IV).into())
            .encrypt_padded_vec_mut::<Pkcs7>(plain)
    }

    /// Decrypts through a reader that hands out `step` bytes at a time.
    fn decrypt(cipher: &[u8], step: usize) -> (Vec<u8>, Option<String>) {
        let src = io::BufReader::with_capacity(step, cipher);
        let mut d = Decrypt::new(src, &KEY, &IV, 100);
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            match d.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Some(PluginError::from(e).to_string())),
            }
        }
    }

    #[test]
    fn decrypts_whatever_the_read_sizes() {
        let plain: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for len in [0, 1, 15, 16, 17, 4096, 100_000] {
            let cipher = encrypt(&plain[..len]);
            for step in [1, 5, 16, 33, 1 << 20] {
                assert_eq!(decrypt(&cipher, step), (plain[..len].to_vec(), None));
            }
        }
    }

    #[test]
    fn damaged_ends_give_every_byte_then_the_offset() {
        let plain = vec![0x41u8; 40];
        let cipher = encrypt(&plain); // 48 bytes
        let (out, err) = decrypt(&cipher[..45], 8);
        assert_eq!(out, plain[..32]);
        assert_eq!(
            err.as_deref(),
            Some(
                "corrupt at offset 0x91: encrypted payload cut short: it ends 13 bytes into an aes block"
            )
        );
        let (out, err) = decrypt(&cipher[..32], 8);
        assert_eq!(out, plain[..32]);
        assert_eq!(
            err.as_deref(),
            Some(
                "corrupt at offset 0x74: encrypted payload: invalid pkcs#7 padding in its last block (cut short at a block boundary, or damaged)"
            )
        );
        let (out, err) = decrypt(&cipher[..5], 8);
        assert!(out.is_empty());
        assert_eq!(
            err.as_deref(),
            Some(
                "corrupt at offset 0x69: encrypted payload cut short: 5 bytes, not even one whole aes block"
            )
        );
        let (_, err) = decrypt(&[], 8);
        assert_eq!(
            err.as_deref(),
            Some("corrupt at offset 0x64: encrypted payload is empty: not even its padding block")
        );
    }
}
