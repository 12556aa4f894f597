//! Decoding of tar streams: owns the 512-byte block loop, header parsing
//! (hand-written, with checked helpers), pax and GNU extension headers,
//! resynchronisation after a bad header, and delivery of members to the host.
//!
//! Policy: the stream is read once, front to back, through one buffered
//! sequential reader (for a plain tar the host hashes the evidence from
//! those reads; skipped data is read and discarded, never seeked over).
//! Decoding stops at the end-of-archive marker; what follows is left to the
//! caller (for a plain tar: read only as far as the read-ahead buffer had
//! already reached, and left to the host). Memory is bounded: member data
//! streams from the reader's buffer and extension headers are capped at
//! [`EXT_CAP`]. Damage to one member is reported with its offset and the next
//! member is decoded. A decode returns `Err` only when the host refuses a
//! call, a read fails or the host cancels; a truncated archive is reported
//! and the decode ends `Ok`, so the host records "completed with errors".
//! Offsets are evidence offsets or positions in a decoded stream, as the
//! caller's [`Offsets`] says, and every message says which.

#![forbid(unsafe_code)]

use exhibit_plugin_sdk::{
    EntryKind, EntryMeta, OutputFile, PluginError, Session, Status, Time, to_hex,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::ops::Range;

// Header layout, POSIX ustar ("pax" utility, "ustar Interchange Format"):
// https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html#tag_20_92_13_06
// GNU fields: https://www.gnu.org/software/tar/manual/html_node/Standard.html
const BLOCK: usize = 512;
const NAME: Range<usize> = 0..100;
const MODE: Range<usize> = 100..108;
const UID: Range<usize> = 108..116;
const GID: Range<usize> = 116..124;
const SIZE: Range<usize> = 124..136;
const MTIME: Range<usize> = 136..148;
const CHKSUM: Range<usize> = 148..156;
const TYPEFLAG: usize = 156;
const LINKNAME: Range<usize> = 157..257;
/// `magic` and `version` together.
const MAGIC: Range<usize> = 257..265;
const UNAME: Range<usize> = 265..297;
const GNAME: Range<usize> = 297..329;
const DEVMAJOR: Range<usize> = 329..337;
const DEVMINOR: Range<usize> = 337..345;
/// ustar only; the GNU format keeps other fields here.
const PREFIX: Range<usize> = 345..500;
const GNU_ATIME: Range<usize> = 345..357;
const GNU_CTIME: Range<usize> = 357..369;
/// Where a multi-volume continuation (`M`) starts within its file.
const GNU_OFFSET: Range<usize> = 369..381;
/// Non-zero when a sparse (`S`) header is followed by sparse-map blocks.
const GNU_ISEXTENDED: usize = 482;
const GNU_REALSIZE: Range<usize> = 483..495;
/// In a sparse-map extension block: non-zero when another one follows.
const GNU_EXT_ISEXTENDED: usize = 504;

const USTAR_MAGIC: &[u8] = b"ustar\0";
const GNU_MAGIC: &[u8] = b"ustar  \0";

/// Largest GNU long name, long link or pax header accepted (1 MiB).
const EXT_CAP: u64 = 1 << 20;
/// The read-ahead buffer a plain tar's evidence reader should have
/// (`BufReader::with_capacity(READ_AHEAD, …)`): member data is handed to the
/// host straight from it.
pub const READ_AHEAD: usize = 1 << 20;
/// The largest chunk handed to the host at once, and the size of the scratch
/// buffer skipped data is read into. The host queues each chunk for hashing
/// and counts that queue's memory in chunks.
pub const CHUNK: usize = 256 * 1024;
/// How many blocks a resynchronisation scan reads between cancellation
/// checks (a power of two).
const SCAN_CHECK_EVERY: u64 = 2048;

/// What the offsets of a tar stream are, for messages, log entries and
/// [`EntryMeta::offset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offsets {
    /// The tar is the evidence itself: offsets are evidence offsets. They go
    /// into [`EntryMeta::offset`] and the log entries' offset, and messages
    /// say "offset 0x…".
    Evidence,
    /// The tar is decoded out of the evidence (decrypted, inflated):
    /// offsets are positions in that decoded stream. They never pose as
    /// evidence offsets: an entry's goes into `extra["tar_offset"]`, log
    /// entries carry none, and messages say "tar offset 0x…".
    Stream,
}

impl Offsets {
    /// How messages name an offset.
    fn word(self) -> &'static str {
        match self {
            Offsets::Evidence => "offset",
            Offsets::Stream => "tar offset",
        }
    }

    /// How messages name what is being read.
    fn source(self) -> &'static str {
        match self {
            Offsets::Evidence => "the evidence",
            Offsets::Stream => "the tar stream",
        }
    }

    /// How messages name the end of what is being read.
    fn source_end(self) -> &'static str {
        match self {
            Offsets::Evidence => "the end of the evidence",
            Offsets::Stream => "the end of the tar stream",
        }
    }
}

/// The caller's view of the entries as they are delivered: it adds
/// format-specific metadata to each and may watch a regular file's bytes go
/// by (to parse a small file the container format defines, say). Every call
/// comes from the thread running [`TarStream::decode`].
///
/// A closure `FnMut(&[u8], &mut EntryMeta)` is an observer that only adds
/// metadata.
pub trait Observer {
    /// Called with every entry's name (raw bytes) and metadata before it is
    /// delivered. For a regular file, returning true asks for its bytes
    /// ([`Observer::data`], then [`Observer::end`]); for other kinds the
    /// answer is ignored.
    fn entry(&mut self, name: &[u8], meta: &mut EntryMeta) -> bool;

    /// The next bytes of the watched file, as they go to the host.
    fn data(&mut self, _bytes: &[u8]) {}

    /// The watched file has ended: `complete` is false when it was cut short
    /// or failed.
    fn end(&mut self, _complete: bool) {}
}

impl<F: FnMut(&[u8], &mut EntryMeta)> Observer for F {
    fn entry(&mut self, name: &[u8], meta: &mut EntryMeta) -> bool {
        self(name, meta);
        false
    }
}

/// How the end of a decode came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Bytes of the stream consumed, up to and including the end-of-archive
    /// marker when there was one.
    pub position: u64,
    /// True when the end-of-archive marker (two zero blocks, or one zero
    /// block at the very end of the stream) was seen.
    pub end_marker: bool,
}

/// A tar decoder: reads a tar stream from any buffered reader and delivers
/// every member through a [`Session`].
///
/// ```
/// use exhibit_plugin_sdk::{EntryMeta, FormatPlugin, PluginError, Probe, Session};
/// use exhibit_tar_stream::{READ_AHEAD, TarStream};
/// use std::io::BufReader;
///
/// #[derive(Default)]
/// struct Tar;
///
/// impl FormatPlugin for Tar {
///     const NAME: &'static str = "tar";
///     const VERSION: &'static str = "0.1.0";
///     const DESCRIPTION: &'static str = "tar archives";
///
///     fn probe(&self, probe: &Probe<'_>) -> u8 {
///         exhibit_tar_stream::header_confidence(probe.head)
///     }
///
///     fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
///         let evidence = BufReader::with_capacity(READ_AHEAD, session.evidence_reader());
///         TarStream::new()
///             .total(session.evidence().size)
///             .decode(session, evidence)
///             .map(|_| ())
///     }
/// }
/// # let (status, t) = exhibit_plugin_sdk::testing::decode::<Tar>("e.tar", vec![0; 1024]);
/// # assert_eq!(status, exhibit_plugin_sdk::Status::OK);
/// ```
pub struct TarStream<'a> {
    total: Option<u64>,
    offsets: Offsets,
    observer: Option<&'a mut dyn Observer>,
}

impl Default for TarStream<'_> {
    fn default() -> Self {
        TarStream::new()
    }
}

impl<'a> TarStream<'a> {
    /// A decoder for a tar that is the evidence itself ([`Offsets::Evidence`]),
    /// of unknown size, adding no metadata of its own.
    pub fn new() -> TarStream<'a> {
        TarStream {
            total: None,
            offsets: Offsets::Evidence,
            observer: None,
        }
    }

    /// The stream's size when known (a plain tar: the evidence size). Used
    /// only to tell a size field that cannot be right and to report bytes
    /// after the end-of-archive marker.
    pub fn total(self, total: u64) -> TarStream<'a> {
        TarStream {
            total: Some(total),
            ..self
        }
    }

    /// What the stream's offsets are.
    pub fn offsets(self, offsets: Offsets) -> TarStream<'a> {
        TarStream { offsets, ..self }
    }

    /// Shows every entry to `observer` before it is delivered.
    pub fn observe(self, observer: &'a mut dyn Observer) -> TarStream<'a> {
        TarStream {
            observer: Some(observer),
            ..self
        }
    }

    /// Decodes the tar stream `reader` (positioned at its offset 0), delivering
    /// every member through `session`. Member data goes to the host straight
    /// from the reader's buffer in chunks of at most [`CHUNK`] bytes. A read
    /// error ends the decode with that error (an unfinished member is ended
    /// as incomplete with the error as its note); a truncated or damaged
    /// archive is reported and the decode ends `Ok`.
    pub fn decode<R: BufRead>(
        self,
        session: &Session<'_>,
        reader: R,
    ) -> Result<Ended, PluginError> {
        Decoder {
            session,
            input: Input {
                reader,
                pos: 0,
                offsets: self.offsets,
            },
            total: self.total,
            offsets: self.offsets,
            observer: self.observer,
            buf: vec![0; CHUNK],
            carried: None,
            pending: Pending::default(),
            global: BTreeMap::new(),
            end_marker: false,
        }
        .run()
    }
}

/// How sure a tar decoder can be, from the first bytes of the evidence, that
/// they start a tar archive: 100 for a ustar/GNU magic with a valid
/// checksum, 40 for the magic with a bad one, 60 for a plausible v7 header,
/// 0 otherwise (fewer than 512 bytes included).
pub fn header_confidence(head: &[u8]) -> u8 {
    let Some(block) = head.get(..BLOCK) else {
        return 0;
    };
    let magic = header_format(block) != Format::V7;
    match (magic, checksum_mismatch(block).is_none()) {
        (true, true) => 100,
        (true, false) => 40,
        (false, true) if plausible(block) => 60,
        _ => 0,
    }
}

/// Whether the loop goes on after a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// Nothing more can be decoded (end marker, end of stream, truncation).
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    V7,
    Ustar,
    Gnu,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::V7 => "v7",
            Format::Ustar => "ustar",
            Format::Gnu => "gnu",
        }
    }
}

/// One block as read from the stream.
enum Block {
    Full(Box<[u8; BLOCK]>),
    /// The stream ended inside the block after this many bytes; the flag
    /// says whether they were all zero.
    Partial(usize, bool),
    Eof,
}

/// A header block, checksum verified and fields decoded.
struct Header {
    /// Offset of the block in the stream.
    at: u64,
    typeflag: u8,
    format: Format,
    name: Vec<u8>,
    link: Vec<u8>,
    size: u64,
    mode: Option<u32>,
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<Time>,
    atime: Option<Time>,
    ctime: Option<Time>,
    user: Option<String>,
    group: Option<String>,
    device: Option<(u32, u32)>,
    /// Fields that could not be decoded and were left out (warned about).
    problems: Vec<String>,
}

/// Extension headers (GNU `L`/`K`, pax `x`) waiting for the member they describe.
#[derive(Default)]
struct Pending {
    /// Offset of the first of them: the member's offset.
    start: Option<u64>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<PaxMap>,
    gnu: bool,
}

/// pax `(keyword, value)` records in header order.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// pax records by keyword.
type PaxMap = BTreeMap<Vec<u8>, Vec<u8>>;

/// The pax keywords exhibit maps onto [`EntryMeta`] fields; all others go to
/// `extra["pax"]`. Global (`g`) headers keep only these.
const PAX_KNOWN: [&[u8]; 10] = [
    b"path",
    b"linkpath",
    b"size",
    b"mtime",
    b"atime",
    b"ctime",
    b"uid",
    b"gid",
    b"uname",
    b"gname",
];

/// The stream, read strictly sequentially from offset 0.
struct Input<R> {
    reader: R,
    pos: u64,
    offsets: Offsets,
}

impl<R: BufRead> Input<R> {
    /// Reads until `buf` is full or the stream ends; returns the count.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, PluginError> {
        let mut n = 0usize;
        while let Some(rest) = buf.get_mut(n..).filter(|r| !r.is_empty()) {
            match self.reader.read(rest) {
                Ok(0) => break,
                Ok(k) => n = n.saturating_add(k),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let at = self.pos.saturating_add(len64(n));
                    return Err(read_failure(e, at, self.offsets));
                }
            }
        }
        self.pos = self.pos.saturating_add(len64(n));
        Ok(n)
    }

    /// Hands up to `max` bytes to `deliver` straight from the read-ahead
    /// buffer, without copying them; returns how many (0 at the end).
    fn pass(
        &mut self,
        max: u64,
        deliver: impl FnOnce(&[u8]) -> Result<(), PluginError>,
    ) -> Result<usize, PluginError> {
        let available = loop {
            match self.reader.fill_buf() {
                Ok(bytes) => break bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_failure(e, self.pos, self.offsets)),
            }
        };
        // At most CHUNK at a time: the host queues each chunk for hashing,
        // and the queue's memory is counted in chunks.
        let n = chunk(max, available.len().min(CHUNK));
        deliver(&available[..n])?;
        self.reader.consume(n);
        self.pos = self.pos.saturating_add(len64(n));
        Ok(n)
    }

    fn block(&mut self) -> Result<Block, PluginError> {
        let mut block = Box::new([0u8; BLOCK]);
        let n = self.fill(&mut block[..])?;
        Ok(match n {
            0 => Block::Eof,
            BLOCK => Block::Full(block),
            n => Block::Partial(n, block.iter().all(|&b| b == 0)),
        })
    }

    /// Reads and discards `n` bytes; returns how many there were.
    fn skip(&mut self, n: u64, scratch: &mut [u8]) -> Result<u64, PluginError> {
        let mut done = 0u64;
        while done < n {
            let want = chunk(n.saturating_sub(done), scratch.len());
            let got = self.fill(&mut scratch[..want])?;
            done = done.saturating_add(len64(got));
            if got < want {
                break;
            }
        }
        Ok(done)
    }
}

/// A read error as a `PluginError` naming the offset (an error that already
/// names one, as the errors of a decoding reader do, is kept as it is).
fn read_failure(e: io::Error, at: u64, offsets: Offsets) -> PluginError {
    match PluginError::from(e) {
        PluginError::Io { offset: None, what } => match offsets {
            Offsets::Evidence => PluginError::Io {
                offset: Some(at),
                what,
            },
            Offsets::Stream => PluginError::Io {
                offset: None,
                what: format!("at tar offset {at:#x}: {what}"),
            },
        },
        other => other,
    }
}

/// One run over one archive.
struct Decoder<'s, 'h, 'a, R> {
    session: &'s Session<'h>,
    input: Input<R>,
    /// Stream size when known, to tell a size field that cannot be right.
    total: Option<u64>,
    offsets: Offsets,
    observer: Option<&'a mut dyn Observer>,
    buf: Vec<u8>,
    /// A block already read that the loop must look at next.
    carried: Option<(u64, Box<[u8; BLOCK]>)>,
    pending: Pending,
    /// Known keywords of the global pax headers seen so far.
    global: PaxMap,
    /// Set once the end-of-archive marker is seen.
    end_marker: bool,
}

impl<R: BufRead> Decoder<'_, '_, '_, R> {
    /// `offset 0x…` or `tar offset 0x…`, as the offsets are.
    fn at(&self, offset: u64) -> String {
        format!("{} {offset:#x}", self.offsets.word())
    }

    /// Damage at `at`: an evidence offset goes into the error's offset, a
    /// stream offset into its text.
    fn corrupt(&self, at: u64, what: impl Into<String>) -> PluginError {
        match self.offsets {
            Offsets::Evidence => PluginError::corrupt(at, what),
            Offsets::Stream => PluginError::Corrupt {
                offset: None,
                what: format!("at tar offset {at:#x}: {}", what.into()),
            },
        }
    }

    fn report_corrupt(&self, at: u64, what: impl Into<String>) {
        self.session.report(&self.corrupt(at, what));
    }

    /// A warning about damage worked around at `at`.
    fn warn_at(&self, at: u64, msg: &str) {
        let offset = (self.offsets == Offsets::Evidence).then_some(at);
        self.session.warn(offset, msg);
    }

    /// Sets where the entry starts and shows it to the observer; true when
    /// the observer wants the bytes of this (regular) file.
    fn finish_meta(&mut self, name: &[u8], meta: &mut EntryMeta, offset: u64) -> bool {
        match self.offsets {
            Offsets::Evidence => meta.offset = Some(offset),
            Offsets::Stream => {
                meta.extra.insert("tar_offset".into(), offset.into());
            }
        }
        match self.observer.as_deref_mut() {
            Some(observer) => observer.entry(name, meta) && meta.kind == EntryKind::File,
            None => false,
        }
    }

    /// Tells the observer a watched file has ended.
    fn watched_end(&mut self, watch: bool, complete: bool) {
        if let Some(observer) = self.observer.as_deref_mut().filter(|_| watch) {
            observer.end(complete);
        }
    }

    fn ended(&self) -> Ended {
        Ended {
            position: self.input.pos,
            end_marker: self.end_marker,
        }
    }

    fn run(mut self) -> Result<Ended, PluginError> {
        loop {
            self.session.check_cancelled()?;
            let (at, block) = match self.carried.take() {
                Some(carried) => carried,
                None => {
                    let at = self.input.pos;
                    match self.input.block()? {
                        Block::Full(block) => (at, block),
                        Block::Eof => {
                            self.end_without_marker(at, 0);
                            return Ok(self.ended());
                        }
                        Block::Partial(n, zero) => {
                            if zero {
                                self.end_without_marker(at, n);
                            } else {
                                self.drop_pending();
                                self.report_corrupt(
                                    at,
                                    format!("truncated header: {n} of {BLOCK} bytes"),
                                );
                            }
                            return Ok(self.ended());
                        }
                    }
                }
            };
            let flow = if is_zero(&block[..]) {
                self.zero_block(at)?
            } else {
                match parse_header(&block, at) {
                    Ok(header) => self.member(header, &block)?,
                    Err(what) => {
                        self.drop_pending();
                        self.report_corrupt(at, what);
                        self.resync(at)?
                    }
                }
            };
            if flow == Flow::Stop {
                return Ok(self.ended());
            }
        }
    }

    /// The stream ended where a header was expected.
    fn end_without_marker(&mut self, at: u64, zeros: usize) {
        self.drop_pending();
        let tail = if zeros > 0 {
            format!(" (after {zeros} zero bytes)")
        } else {
            String::new()
        };
        self.warn_at(
            at,
            &format!(
                "no end-of-archive marker: {} ends at {}{tail}",
                self.offsets.source(),
                self.at(at)
            ),
        );
    }

    /// Extension headers with no member after them are reported, not lost silently.
    fn drop_pending(&mut self) {
        if let Some(start) = std::mem::take(&mut self.pending).start {
            self.report_corrupt(start, "extension header not followed by a member");
        }
    }

    /// A zero block at `at`: the end of the archive if another zero block or
    /// the end of the stream follows; otherwise a lone zero block to step over.
    fn zero_block(&mut self, at: u64) -> Result<Flow, PluginError> {
        let next_at = self.input.pos;
        match self.input.block()? {
            Block::Eof | Block::Partial(_, true) => {
                self.drop_pending();
                self.end_marker = true;
                Ok(Flow::Stop)
            }
            Block::Full(next) if is_zero(&next[..]) => {
                self.drop_pending();
                self.end_marker();
                Ok(Flow::Stop)
            }
            Block::Partial(n, false) => {
                self.drop_pending();
                self.warn_at(
                    next_at,
                    &format!(
                        "no end-of-archive marker: a zero block at {} is followed by {n} stray bytes",
                        self.at(at)
                    ),
                );
                Ok(Flow::Stop)
            }
            Block::Full(next) => {
                self.warn_at(
                    at,
                    &format!("lone zero block at {}, reading on", self.at(at)),
                );
                self.carried = Some((next_at, next));
                Ok(Flow::Continue)
            }
        }
    }

    /// Seen the end-of-archive marker; what follows is left to the caller
    /// (for a plain tar, to the host).
    fn end_marker(&mut self) {
        self.end_marker = true;
        let after = self.input.pos;
        if let Some(total) = self.total.filter(|&total| after < total) {
            self.session.info(&format!(
                "{} bytes after the end-of-archive marker ({}) not decoded",
                total.saturating_sub(after),
                self.at(after)
            ));
        }
    }

    /// After a bad header at `bad_at`: scans block by block for the next valid
    /// header, warns how many bytes were skipped, and carries that header to
    /// the main loop. An all-zero block ends the archive only when another
    /// zero block or the end of the stream follows it.
    fn resync(&mut self, bad_at: u64) -> Result<Flow, PluginError> {
        let mut scanned = 0u64;
        loop {
            scanned = scanned.saturating_add(1);
            if scanned & (SCAN_CHECK_EVERY - 1) == 0 {
                self.session.check_cancelled()?;
            }
            let at = self.input.pos;
            let block = match self.input.block()? {
                Block::Full(block) => block,
                Block::Eof | Block::Partial(..) => {
                    self.skipped(bad_at, self.input.pos, self.offsets.source_end());
                    return Ok(Flow::Stop);
                }
            };
            if !is_zero(&block[..]) {
                if plausible(&block[..]) {
                    self.skipped(bad_at, at, "the next valid header");
                    self.carried = Some((at, block));
                    return Ok(Flow::Continue);
                }
                continue;
            }
            let next_at = self.input.pos;
            match self.input.block()? {
                Block::Eof | Block::Partial(_, true) => {
                    self.skipped(bad_at, at, "the end-of-archive marker");
                    self.end_marker = true;
                    return Ok(Flow::Stop);
                }
                Block::Full(next) if is_zero(&next[..]) => {
                    self.skipped(bad_at, at, "the end-of-archive marker");
                    self.end_marker();
                    return Ok(Flow::Stop);
                }
                Block::Partial(_, false) => {
                    self.skipped(bad_at, self.input.pos, self.offsets.source_end());
                    return Ok(Flow::Stop);
                }
                Block::Full(next) if plausible(&next[..]) => {
                    self.skipped(bad_at, next_at, "the next valid header");
                    self.carried = Some((next_at, next));
                    return Ok(Flow::Continue);
                }
                Block::Full(_) => {}
            }
        }
    }

    fn skipped(&self, from: u64, to: u64, what: &str) {
        self.warn_at(
            from,
            &format!(
                "skipped {} bytes from {} to {what} at {}",
                to.saturating_sub(from),
                self.at(from),
                self.at(to)
            ),
        );
    }

    /// Handles one valid header: an extension header is stored for the next
    /// member, anything else is delivered.
    fn member(&mut self, h: Header, block: &[u8; BLOCK]) -> Result<Flow, PluginError> {
        for problem in &h.problems {
            self.warn_at(
                h.at,
                &format!("header at {}: {problem}; field left out", self.at(h.at)),
            );
        }
        match h.typeflag {
            b'L' | b'K' => self.gnu_long(h),
            b'x' | b'X' => self.pax_local(h),
            b'g' => self.pax_global(h),
            _ => self.deliver(h, block),
        }
    }

    /// Reads the data of an extension header, up to [`EXT_CAP`] bytes.
    /// `Ok(Err(flow))` means it was not read (reported) and the loop goes
    /// on as `flow` says.
    fn ext_data(&mut self, h: &Header, what: &str) -> Result<Result<Vec<u8>, Flow>, PluginError> {
        if h.size > EXT_CAP {
            let room = self.total.map(|total| total.saturating_sub(self.input.pos));
            if let Some(room) = room.filter(|&room| h.size > room) {
                // Its size cannot be right: skipping it would swallow the rest.
                self.report_corrupt(
                    h.at,
                    format!(
                        "{what} declares {} bytes, more than the {EXT_CAP}-byte cap and the {room} bytes left",
                        h.size
                    ),
                );
                return self.resync(h.at).map(Err);
            }
            self.report_corrupt(
                h.at,
                format!(
                    "{what} of {} bytes exceeds the {EXT_CAP}-byte cap; skipped",
                    h.size
                ),
            );
            return self.skip_data(h.at, h.size).map(Err);
        }
        // At most EXT_CAP bytes here.
        let mut data = vec![0u8; chunk(h.size, usize::MAX)];
        let got = self.input.fill(&mut data)?;
        if got < data.len() {
            self.report_corrupt(
                h.at,
                format!(
                    "truncated: {what} data ends at {} after {got} of {} bytes",
                    self.at(self.input.pos),
                    h.size
                ),
            );
            return Ok(Err(Flow::Stop));
        }
        self.input.skip(padding(h.size), &mut self.buf)?;
        Ok(Ok(data))
    }

    fn gnu_long(&mut self, h: Header) -> Result<Flow, PluginError> {
        let what = if h.typeflag == b'L' {
            "gnu long name"
        } else {
            "gnu long link name"
        };
        let data = match self.ext_data(&h, what)? {
            Ok(data) => data,
            Err(flow) => return Ok(flow),
        };
        let value = cstr(&data).to_vec();
        let slot = if h.typeflag == b'L' {
            &mut self.pending.long_name
        } else {
            &mut self.pending.long_link
        };
        let replaced = slot.replace(value).is_some();
        if replaced {
            self.warn_at(
                h.at,
                &format!(
                    "{what} at {} replaces an earlier one for the same member",
                    self.at(h.at)
                ),
            );
        }
        self.pending.start.get_or_insert(h.at);
        self.pending.gnu = true;
        Ok(Flow::Continue)
    }

    fn pax_local(&mut self, h: Header) -> Result<Flow, PluginError> {
        let data = match self.ext_data(&h, "pax extended header")? {
            Ok(data) => data,
            Err(flow) => return Ok(flow),
        };
        let records = self.pax_records(&h, &data);
        let mut map = BTreeMap::new();
        for (key, value) in records {
            map.insert(key, value);
        }
        if self.pending.pax.replace(map).is_some() {
            self.warn_at(
                h.at,
                &format!(
                    "pax extended header at {} replaces an earlier one for the same member",
                    self.at(h.at)
                ),
            );
        }
        self.pending.start.get_or_insert(h.at);
        Ok(Flow::Continue)
    }

    /// A global pax header: its known keywords apply to every later member
    /// (an empty value removes one); it is also recorded once, with all its
    /// records, as an entry of kind `other`.
    fn pax_global(&mut self, h: Header) -> Result<Flow, PluginError> {
        let data = match self.ext_data(&h, "pax global header")? {
            Ok(data) => data,
            Err(flow) => return Ok(flow),
        };
        let records = self.pax_records(&h, &data);
        let mut all = Map::new();
        for (key, value) in records {
            all.insert(
                String::from_utf8_lossy(&key).into_owned(),
                raw_value(&value),
            );
            if PAX_KNOWN.contains(&key.as_slice()) {
                if value.is_empty() {
                    self.global.remove(&key);
                } else {
                    self.global.insert(key, value);
                }
            }
        }
        let mut meta = EntryMeta::new(EntryKind::Other);
        meta.extra.insert("format".into(), "pax".into());
        meta.extra.insert("typeflag".into(), "g".into());
        meta.extra.insert("pax".into(), Value::Object(all));
        self.finish_meta(&h.name, &mut meta, h.at);
        self.session.record_entry(&h.name, &meta)?;
        Ok(Flow::Continue)
    }

    /// Parses pax records, reporting the first malformed one (those before
    /// it are kept).
    fn pax_records(&self, h: &Header, data: &[u8]) -> Records {
        let (records, problem) = parse_pax(data);
        if let Some((byte, what)) = problem {
            self.report_corrupt(
                h.at,
                format!("malformed pax record at byte {byte} of the extended header: {what}"),
            );
        }
        records
    }

    /// Looks a pax keyword up in the member's own header, then in the global ones.
    fn pax_value<'a>(&'a self, local: &'a PaxMap, key: &[u8]) -> Option<&'a [u8]> {
        match local.get(key) {
            Some(value) if value.is_empty() => None,
            Some(value) => Some(value),
            None => self.global.get(key).map(Vec::as_slice),
        }
    }

    /// Delivers a member: a file's bytes are streamed to the host, other
    /// kinds are recorded and any data they declare is skipped.
    fn deliver(&mut self, h: Header, block: &[u8; BLOCK]) -> Result<Flow, PluginError> {
        let Pending {
            start,
            long_name,
            long_link,
            pax,
            gnu,
        } = std::mem::take(&mut self.pending);
        let had_pax = pax.is_some();
        let local = pax.unwrap_or_default();
        let offset = start.unwrap_or(h.at);

        let name = match self.pax_value(&local, b"path") {
            Some(path) => path.to_vec(),
            None => long_name.unwrap_or_else(|| h.name.clone()),
        };
        let link = match self.pax_value(&local, b"linkpath") {
            Some(link) => link.to_vec(),
            None => long_link.unwrap_or_else(|| h.link.clone()),
        };
        let size = match self.pax_value(&local, b"size") {
            Some(text) => match decimal(text) {
                Some(size) => size,
                None => {
                    self.report_corrupt(
                        offset,
                        format!(
                            "pax size {:?} is not a number; using the header's {}",
                            String::from_utf8_lossy(text),
                            h.size
                        ),
                    );
                    h.size
                }
            },
            None => h.size,
        };

        let kind = match h.typeflag {
            0 if name.ends_with(b"/") => EntryKind::Dir,
            b'0' if h.format == Format::V7 && name.ends_with(b"/") => EntryKind::Dir,
            0 | b'0' | b'7' => EntryKind::File,
            b'1' => EntryKind::Hardlink,
            b'2' => EntryKind::Symlink,
            b'3' => EntryKind::CharDevice,
            b'4' => EntryKind::BlockDevice,
            b'5' | b'D' => EntryKind::Dir,
            b'6' => EntryKind::Fifo,
            b'S' | b'M' | b'V' => EntryKind::Other,
            other => {
                // POSIX: an unknown typeflag is read as a regular file.
                self.warn_at(
                    h.at,
                    &format!(
                        "unknown typeflag {:?} at {}; delivered as a regular file",
                        char::from(other),
                        self.at(h.at)
                    ),
                );
                EntryKind::File
            }
        };

        let mut meta = EntryMeta::new(kind);
        meta.size = (kind == EntryKind::File || size > 0).then_some(size);
        meta.mode = h.mode;
        meta.uid = self.pax_number(&local, "uid", offset).or(h.uid);
        meta.gid = self.pax_number(&local, "gid", offset).or(h.gid);
        meta.user = self.pax_text(&local, b"uname").or(h.user.clone());
        meta.group = self.pax_text(&local, b"gname").or(h.group.clone());
        meta.mtime = self.pax_time(&local, "mtime", offset).or(h.mtime);
        meta.atime = self.pax_time(&local, "atime", offset).or(h.atime);
        meta.ctime = self.pax_time(&local, "ctime", offset).or(h.ctime);
        if matches!(kind, EntryKind::Symlink | EntryKind::Hardlink) {
            meta.link_target = Some(exhibit_plugin_sdk::RawBytes(link));
        }
        if matches!(kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            meta.device = h.device;
        }
        let format = if had_pax || !self.global.is_empty() {
            "pax"
        } else if gnu {
            "gnu"
        } else {
            h.format.name()
        };
        meta.extra.insert("format".into(), format.into());
        meta.extra
            .insert("typeflag".into(), char::from(h.typeflag).to_string().into());
        let leftovers: Map<String, Value> = local
            .iter()
            .filter(|(key, _)| !PAX_KNOWN.contains(&key.as_slice()))
            .map(|(key, value)| (String::from_utf8_lossy(key).into_owned(), raw_value(value)))
            .collect();
        if leftovers.keys().any(|k| k.starts_with("GNU.sparse.")) {
            self.session.report(&PluginError::Unsupported {
                feature: format!(
                    "pax gnu sparse file at {}: delivered as stored (sparse map and data), not expanded",
                    self.at(offset)
                ),
            });
        }
        if !leftovers.is_empty() {
            meta.extra.insert("pax".into(), Value::Object(leftovers));
        }
        let watch = self.finish_meta(&name, &mut meta, offset);

        match h.typeflag {
            b'S' => return self.gnu_sparse(&h, block, &name, meta, offset, size),
            b'M' => {
                let part_at = numeric(&block[GNU_OFFSET])
                    .ok()
                    .flatten()
                    .and_then(|v| u64::try_from(v).ok())
                    .unwrap_or(0);
                meta.extra.insert("volume_offset".into(), part_at.into());
                self.session.record_entry(&name, &meta)?;
                self.session.report(&PluginError::Unsupported {
                    feature: format!(
                        "gnu multi-volume continuation at {} ({size} bytes from file offset {part_at}): data skipped",
                        self.at(offset)
                    ),
                });
                return self.skip_data(offset, size);
            }
            _ => {}
        }
        if kind != EntryKind::File {
            self.session.record_entry(&name, &meta)?;
            if size == 0 {
                return Ok(Flow::Continue);
            }
            if h.typeflag != b'D' {
                self.warn_at(
                    offset,
                    &format!(
                        "{} header at {} declares {size} bytes of data; skipped",
                        kind_name(kind),
                        self.at(offset)
                    ),
                );
            }
            return self.skip_data(offset, size);
        }

        let mut out = self.session.begin(&name, &meta)?;
        let copied = match self.copy(&mut out, size, watch) {
            Ok(copied) => copied,
            Err(err) => {
                self.watched_end(watch, false);
                // Best effort: the run ends with `err` whatever the host says.
                let _ = out.fail(err.status(), &err.to_string());
                return Err(err);
            }
        };
        self.watched_end(watch, copied == size);
        if copied < size {
            out.fail(
                Status::CORRUPT,
                &format!("truncated: {copied} of {size} bytes"),
            )?;
            self.report_corrupt(
                offset,
                format!(
                    "truncated: data ends at {} after {copied} of {size} bytes",
                    self.at(self.input.pos)
                ),
            );
            return Ok(Flow::Stop);
        }
        out.finish()?;
        self.input.skip(padding(size), &mut self.buf)?;
        Ok(Flow::Continue)
    }

    /// A GNU sparse member: its sparse-map extension blocks and stored data
    /// are skipped, the member recorded and reported as unsupported.
    fn gnu_sparse(
        &mut self,
        h: &Header,
        block: &[u8; BLOCK],
        name: &[u8],
        mut meta: EntryMeta,
        offset: u64,
        size: u64,
    ) -> Result<Flow, PluginError> {
        let mut extended = h.format == Format::Gnu && block[GNU_ISEXTENDED] != 0;
        while extended {
            let at = self.input.pos;
            match self.input.block()? {
                Block::Full(map) => extended = map[GNU_EXT_ISEXTENDED] != 0,
                Block::Eof | Block::Partial(..) => {
                    self.session.record_entry(name, &meta)?;
                    self.report_corrupt(
                        offset,
                        format!("truncated: gnu sparse map ends at {}", self.at(at)),
                    );
                    return Ok(Flow::Stop);
                }
            }
        }
        let real = numeric(&block[GNU_REALSIZE])
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok());
        if let Some(real) = real {
            meta.extra.insert("sparse_real_size".into(), real.into());
        }
        self.session.record_entry(name, &meta)?;
        self.session.report(&PluginError::Unsupported {
            feature: format!(
                "gnu sparse file at {} ({} bytes, {size} stored): data skipped",
                self.at(offset),
                real.map_or_else(|| "unknown".to_owned(), |r| r.to_string())
            ),
        });
        self.skip_data(offset, size)
    }

    /// Skips `size` bytes of member data and their padding.
    fn skip_data(&mut self, offset: u64, size: u64) -> Result<Flow, PluginError> {
        let skipped = self.input.skip(size, &mut self.buf)?;
        if skipped < size {
            self.report_corrupt(
                offset,
                format!(
                    "truncated: data ends at {} after {skipped} of {size} bytes",
                    self.at(self.input.pos)
                ),
            );
            return Ok(Flow::Stop);
        }
        self.input.skip(padding(size), &mut self.buf)?;
        Ok(Flow::Continue)
    }

    /// Streams up to `size` bytes to `out`; returns how many there were.
    /// The bytes go from the read-ahead buffer to the host with no copy.
    /// When `watch`, the observer sees the bytes too.
    fn copy(
        &mut self,
        out: &mut OutputFile<'_>,
        size: u64,
        watch: bool,
    ) -> Result<u64, PluginError> {
        let mut observer = self.observer.as_deref_mut().filter(|_| watch);
        let mut done = 0u64;
        while done < size {
            self.session.check_cancelled()?;
            let got = self.input.pass(size.saturating_sub(done), |bytes| {
                out.write_bytes(bytes)?;
                if let Some(observer) = observer.as_deref_mut() {
                    observer.data(bytes);
                }
                Ok(())
            })?;
            if got == 0 {
                break;
            }
            done = done.saturating_add(len64(got));
        }
        Ok(done)
    }

    fn pax_number(&self, local: &PaxMap, key: &str, at: u64) -> Option<u64> {
        let text = self.pax_value(local, key.as_bytes())?;
        let value = decimal(text);
        if value.is_none() {
            self.bad_pax(key, text, at);
        }
        value
    }

    fn pax_time(&self, local: &PaxMap, key: &str, at: u64) -> Option<Time> {
        let text = self.pax_value(local, key.as_bytes())?;
        let value = pax_time(text);
        if value.is_none() {
            self.bad_pax(key, text, at);
        }
        value
    }

    fn pax_text(&self, local: &PaxMap, key: &[u8]) -> Option<String> {
        self.pax_value(local, key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn bad_pax(&self, key: &str, text: &[u8], at: u64) {
        self.warn_at(
            at,
            &format!(
                "pax {key} {:?} of the member at {} is not valid; header field used",
                String::from_utf8_lossy(text),
                self.at(at)
            ),
        );
    }
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir => "directory",
        EntryKind::Symlink => "symlink",
        EntryKind::Hardlink => "hard link",
        EntryKind::CharDevice => "character device",
        EntryKind::BlockDevice => "block device",
        EntryKind::Fifo => "fifo",
        EntryKind::Socket => "socket",
        _ => "special",
    }
}

/// Decodes a header block at `at`, or says why it is not a valid header.
fn parse_header(block: &[u8; BLOCK], at: u64) -> Result<Header, String> {
    if let Some(mismatch) = checksum_mismatch(&block[..]) {
        return Err(mismatch);
    }
    let size = match numeric(&block[SIZE]) {
        Ok(None) => 0,
        Ok(Some(v)) if v < 0 => return Err(format!("negative size ({v})")),
        Ok(Some(v)) => u64::try_from(v).map_err(|_| format!("size {v} out of range"))?,
        Err(()) => {
            return Err(format!(
                "size field {:?} is not a number",
                String::from_utf8_lossy(&block[SIZE])
            ));
        }
    };
    let format = header_format(&block[..]);
    let mut problems = Vec::new();
    let mut field = |range: Range<usize>, what: &str| match numeric(&block[range]) {
        Ok(v) => v,
        Err(()) => {
            problems.push(format!("{what} field is not a number"));
            None
        }
    };
    let mode = field(MODE, "mode").and_then(|v| u32::try_from(v).ok());
    let uid = field(UID, "uid").and_then(|v| u64::try_from(v).ok());
    let gid = field(GID, "gid").and_then(|v| u64::try_from(v).ok());
    let mtime = field(MTIME, "mtime").and_then(time);
    let typeflag = block[TYPEFLAG];
    let (mut atime, mut ctime, mut device) = (None, None, None);
    if format == Format::Gnu {
        atime = field(GNU_ATIME, "atime").filter(|&v| v != 0).and_then(time);
        ctime = field(GNU_CTIME, "ctime").filter(|&v| v != 0).and_then(time);
    }
    if format != Format::V7 && matches!(typeflag, b'3' | b'4') {
        let major = field(DEVMAJOR, "devmajor").and_then(|v| u32::try_from(v).ok());
        let minor = field(DEVMINOR, "devminor").and_then(|v| u32::try_from(v).ok());
        device = major.zip(minor);
    }
    let mut name = cstr(&block[NAME]).to_vec();
    let prefix = cstr(&block[PREFIX]);
    if format == Format::Ustar && !prefix.is_empty() {
        let mut full =
            Vec::with_capacity(prefix.len().saturating_add(name.len()).saturating_add(1));
        full.extend_from_slice(prefix);
        full.push(b'/');
        full.extend_from_slice(&name);
        name = full;
    }
    let text = |range: Range<usize>| {
        let value = cstr(&block[range]);
        (format != Format::V7 && !value.is_empty())
            .then(|| String::from_utf8_lossy(value).into_owned())
    };
    Ok(Header {
        at,
        typeflag,
        format,
        name,
        link: cstr(&block[LINKNAME]).to_vec(),
        size,
        mode,
        uid,
        gid,
        mtime,
        atime,
        ctime,
        user: text(UNAME),
        group: text(GNAME),
        device,
        problems,
    })
}

fn header_format(block: &[u8]) -> Format {
    match block.get(MAGIC) {
        Some(magic) if magic == GNU_MAGIC => Format::Gnu,
        Some(magic) if magic.starts_with(USTAR_MAGIC) => Format::Ustar,
        _ => Format::V7,
    }
}

/// The header checksum, as the unsigned and as the signed byte sum (old
/// writers used signed chars), with the checksum field counted as spaces.
fn checksum(block: &[u8]) -> (u64, i64) {
    let mut unsigned = 0u64;
    let mut signed = 0i64;
    for (i, &b) in block.iter().enumerate() {
        let b = if CHKSUM.contains(&i) { b' ' } else { b };
        // At most 512 * 255: no overflow.
        unsigned = unsigned.wrapping_add(u64::from(b));
        signed = signed.wrapping_add(i64::from(i8::from_ne_bytes([b])));
    }
    (unsigned, signed)
}

/// Why a block's stored checksum does not match its content, if it does not.
fn checksum_mismatch(block: &[u8]) -> Option<String> {
    let (unsigned, signed) = checksum(block);
    let stored = block.get(CHKSUM).and_then(octal);
    let matches =
        stored.is_some_and(|s| s == unsigned || i64::try_from(s).is_ok_and(|s| s == signed));
    if matches {
        return None;
    }
    let stored = stored.map_or_else(|| "not a number".to_owned(), |s| format!("0o{s:o}"));
    Some(format!(
        "header checksum mismatch (stored {stored}, computed 0o{unsigned:o})"
    ))
}

/// A block that can be taken for a header when resynchronising or probing:
/// valid checksum and size, a non-empty name of printable bytes.
fn plausible(block: &[u8]) -> bool {
    let Ok(block) = <&[u8; BLOCK]>::try_from(block) else {
        return false;
    };
    let typeflag = block[TYPEFLAG];
    let name = cstr(&block[NAME]);
    parse_header(block, 0).is_ok()
        && !name.is_empty()
        && !name.iter().any(|&b| b < 0x20 || b == 0x7f)
        && (typeflag == 0 || typeflag.is_ascii_graphic())
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// The bytes of a NUL-terminated field, without the NUL and what follows.
fn cstr(field: &[u8]) -> &[u8] {
    field.split(|&b| b == 0).next().unwrap_or(field)
}

/// A numeric header field: octal text (space or NUL terminated) or GNU
/// base-256 (top bit of the first byte set). `Ok(None)` for an empty field.
fn numeric(field: &[u8]) -> Result<Option<i128>, ()> {
    match field.first() {
        Some(&first) if first & 0x80 != 0 => base256(field).map(Some).ok_or(()),
        _ => {
            let digits = trim_number(field);
            if digits.is_empty() {
                Ok(None)
            } else {
                octal(field).map(|v| Some(i128::from(v))).ok_or(())
            }
        }
    }
}

/// The digits of an octal field: leading spaces dropped, cut at the first
/// space or NUL.
fn trim_number(field: &[u8]) -> &[u8] {
    let start = field.iter().position(|&b| b != b' ').unwrap_or(field.len());
    let rest = &field[start..];
    let end = rest
        .iter()
        .position(|&b| b == b' ' || b == 0)
        .unwrap_or(rest.len());
    &rest[..end]
}

/// An octal field; `None` when empty, not octal or over `u64`.
fn octal(field: &[u8]) -> Option<u64> {
    let digits = trim_number(field);
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        let digit = match d {
            b'0'..=b'7' => u64::from(d.wrapping_sub(b'0')),
            _ => return None,
        };
        acc.checked_mul(8)?.checked_add(digit)
    })
}

/// GNU base-256: the field minus its marker bit is a big-endian two's
/// complement number (first byte 0x80 for positive, 0xff for negative).
fn base256(field: &[u8]) -> Option<i128> {
    let (&first, rest) = field.split_first()?;
    if field.len() > 15 {
        return None;
    }
    let mut value = u128::from(first & 0x7f);
    for &b in rest {
        value = value.checked_mul(256)?.checked_add(u128::from(b))?;
    }
    let bits = u32::try_from(field.len())
        .ok()?
        .checked_mul(8)?
        .checked_sub(1)?;
    let value = i128::try_from(value).ok()?;
    if first & 0x40 != 0 {
        value.checked_sub(1i128.checked_shl(bits)?)
    } else {
        Some(value)
    }
}

fn time(secs: i128) -> Option<Time> {
    i64::try_from(secs).ok().map(Time::from_secs)
}

/// A pax decimal number (`uid`, `size`…).
fn decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?
            .checked_add(u64::from(d.wrapping_sub(b'0')))
    })
}

/// A pax time: optional `-`, decimal seconds, optional `.` and fraction
/// (digits past nanoseconds are dropped).
fn pax_time(text: &[u8]) -> Option<Time> {
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (int, frac) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot.saturating_add(1)..]),
        None => (text, &[][..]),
    };
    if int.is_empty() && frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let secs = if int.is_empty() {
        0
    } else {
        i64::try_from(decimal(int)?).ok()?
    };
    let mut nanos = 0u32;
    for i in 0..9 {
        let digit = frac.get(i).map_or(0, |&d| u32::from(d.wrapping_sub(b'0')));
        nanos = nanos.checked_mul(10)?.checked_add(digit)?;
    }
    if !negative {
        return Some(Time { secs, nanos });
    }
    if nanos == 0 {
        return Some(Time {
            secs: secs.checked_neg()?,
            nanos: 0,
        });
    }
    Some(Time {
        secs: secs.checked_neg()?.checked_sub(1)?,
        nanos: 1_000_000_000u32.checked_sub(nanos)?,
    })
}

/// Splits pax extended header data into `(keyword, value)` records
/// (`"<length> <keyword>=<value>\n"`). Stops at the first malformed record
/// and says where (byte offset within the data) and why.
fn parse_pax(data: &[u8]) -> (Records, Option<(usize, &'static str)>) {
    let mut records = Vec::new();
    let mut at = 0usize;
    while let Some(rest) = data.get(at..).filter(|r| !is_zero(r)) {
        let Some(space) = rest.iter().position(|&b| b == b' ') else {
            return (records, Some((at, "no length")));
        };
        let len = match decimal(&rest[..space]).and_then(|l| usize::try_from(l).ok()) {
            Some(len) => len,
            None => return (records, Some((at, "length is not a number"))),
        };
        let Some(record) = rest.get(..len).filter(|_| len > space.saturating_add(1)) else {
            return (records, Some((at, "length out of range")));
        };
        let Some(body) = record[space.saturating_add(1)..].strip_suffix(b"\n") else {
            return (records, Some((at, "no newline at the end")));
        };
        let Some(eq) = body.iter().position(|&b| b == b'=') else {
            return (records, Some((at, "no `=`")));
        };
        records.push((body[..eq].to_vec(), body[eq.saturating_add(1)..].to_vec()));
        at = at.saturating_add(len);
    }
    (records, None)
}

/// A pax value as JSON: a string when it is UTF-8, else `{"hex": "…"}`.
fn raw_value(value: &[u8]) -> Value {
    match std::str::from_utf8(value) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => serde_json::json!({ "hex": to_hex(value) }),
    }
}

/// Padding after `size` bytes of data up to the next block boundary.
fn padding(size: u64) -> u64 {
    size.wrapping_neg() & 511
}

/// `min(remaining, cap)` as a `usize`.
fn chunk(remaining: u64, cap: usize) -> usize {
    usize::try_from(remaining).map_or(cap, |r| r.min(cap))
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
