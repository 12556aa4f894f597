//! The C ABI between the exhibit host and a plugin library: `#[repr(C)]` types,
//! the entry symbol and the version number. Nothing here is Rust-only: every
//! type is plain data or an `extern "C"` function pointer, so a plugin built by
//! another compiler version (or in another language) can speak it.
//!
//! Ownership: every [`Bytes`] is borrowed for the duration of one call. The
//! host owns what it hands to the plugin, the plugin owns what it hands to the
//! host (its descriptor is `'static`); no allocation crosses the boundary, so
//! there is no free function.

use std::ffi::c_void;

/// The ABI generation. The host refuses a plugin whose descriptor says another.
pub const ABI_VERSION: u32 = 1;

/// The one symbol each plugin library exports; its major version lives in the
/// name, so a plugin of another generation fails with "missing symbol" rather
/// than being misread.
pub const ENTRY_SYMBOL: &[u8] = b"exhibit_plugin_v1\0";

/// Signature of the exported entry symbol.
pub type EntryFn = unsafe extern "C" fn() -> *const Descriptor;

/// A borrowed byte slice. Valid only during the call that received it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Bytes {
    /// First byte; may be dangling when `len` is 0.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl Bytes {
    /// An empty slice.
    pub const EMPTY: Bytes = Bytes {
        ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(),
        len: 0,
    };

    /// Borrows `s` for a call.
    pub const fn from_slice(s: &[u8]) -> Bytes {
        Bytes {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }
}

/// Result of a call across the boundary. A newtype, not an enum, so that a
/// value unknown to this side stays defined behaviour.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Status(pub u32);

impl Status {
    /// Success.
    pub const OK: Status = Status(0);
    /// The input is not of this plugin's format.
    pub const NOT_MINE: Status = Status(1);
    /// The input is of this format but damaged.
    pub const CORRUPT: Status = Status(2);
    /// Valid input using a feature the plugin cannot handle.
    pub const UNSUPPORTED: Status = Status(3);
    /// Reading the evidence or writing the case failed.
    pub const IO: Status = Status(4);
    /// The plugin panicked; the panic was caught at the boundary.
    pub const PANICKED: Status = Status(5);
    /// The host asked the plugin to stop.
    pub const CANCELLED: Status = Status(6);
    /// The plugin called the host wrongly (bad JSON, write outside a file…).
    pub const INVALID: Status = Status(7);
    /// The input is encrypted and no password was given.
    pub const NO_PASSWORD: Status = Status(8);
    /// The input is encrypted and the password given does not open it.
    pub const WRONG_PASSWORD: Status = Status(9);
    /// Host only, never returned by a plugin: the plugin's isolated process
    /// died (a signal, an abort, an unexpected exit).
    pub const CRASHED: Status = Status(10);
    /// Host only: the plugin ran past its time limit and was stopped.
    pub const TIMED_OUT: Status = Status(11);
    /// Host only: the plugin's isolated process exceeded its memory limit.
    pub const OUT_OF_MEMORY: Status = Status(12);

    /// Lowercase name for messages; `"status N"` for a value this side does not know.
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        let known = match self {
            Status::OK => "ok",
            Status::NOT_MINE => "not mine",
            Status::CORRUPT => "corrupt",
            Status::UNSUPPORTED => "unsupported",
            Status::IO => "i/o error",
            Status::PANICKED => "panicked",
            Status::CANCELLED => "cancelled",
            Status::INVALID => "invalid call",
            Status::NO_PASSWORD => "no password",
            Status::WRONG_PASSWORD => "wrong password",
            Status::CRASHED => "crashed",
            Status::TIMED_OUT => "timed out",
            Status::OUT_OF_MEMORY => "out of memory",
            Status(n) => return format!("status {n}").into(),
        };
        known.into()
    }
}

/// What a plugin is.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Kind(pub u32);

impl Kind {
    /// Decodes a dump container into files.
    pub const FORMAT: Kind = Kind(1);
    /// Decodes extracted files into records.
    pub const ARTIFACT: Kind = Kind(2);
}

/// Log levels for [`Host::log`]. `WARN` and `ERROR` become custody entries.
pub mod level {
    /// Developer detail.
    pub const DEBUG: u32 = 0;
    /// Progress a person may want to see.
    pub const INFO: u32 = 1;
    /// Damage that was worked around; recorded in the custody log.
    pub const WARN: u32 = 2;
    /// Something was lost or could not be read; recorded in the custody log.
    pub const ERROR: u32 = 3;
    /// A fact about the evidence for the custody log (a container's header
    /// fields, say): the message is a UTF-8 JSON object
    /// `{"what": "...", "details": {...}}`.
    pub const FACT: u32 = 4;
    /// What the plugin is busy with, for the examiner's progress line (a
    /// slow key derivation, say); not recorded.
    pub const PROGRESS: u32 = 5;
}

/// `offset` value meaning "no offset applies".
pub const NO_OFFSET: u64 = u64::MAX;

/// The handle of the evidence itself when it is a single file.
pub const EVIDENCE_HANDLE: u64 = 0;

/// What the host shows a plugin's `probe`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ProbeInput {
    /// The first bytes of the evidence; for a folder, the names of its
    /// top-level entries, each followed by `\n`, in byte order.
    pub head: Bytes,
    /// The evidence's file name as given (raw OS bytes).
    pub name: Bytes,
    /// Size of the evidence in bytes (0 for a folder).
    pub size: u64,
    /// 1 when the evidence is a folder.
    pub is_dir: u32,
}

/// Callback a plugin passes to [`Host::list_dir`]; called once per entry with
/// the entry's raw name and its metadata as UTF-8 JSON. Return 0 to go on,
/// anything else to stop listing.
pub type VisitFn =
    unsafe extern "C" fn(visit_ctx: *mut c_void, name: Bytes, meta_json: Bytes) -> u32;

/// The host's services, handed to `run`. Owned by the host and valid only for
/// the duration of that call. Every function receives `ctx` as its first
/// argument and may be called from any thread. A null function pointer means
/// the host does not offer it.
#[repr(C)]
pub struct Host {
    /// ABI version of the host (always [`ABI_VERSION`] for a matched pair).
    pub abi_version: u32,
    /// 1 when the evidence is a folder (use `list_dir` and `open`), 0 for a file.
    pub evidence_is_dir: u32,
    /// Size of the evidence file; 0 for a folder.
    pub evidence_size: u64,
    /// The evidence's path as given (raw OS bytes), for messages.
    pub evidence_name: Bytes,
    /// How many threads the plugin may use to deliver entries in parallel
    /// (at least 1). A random-access plugin may begin and write several
    /// entries at once from that many threads.
    pub threads: u32,
    /// Opaque host state.
    pub ctx: *mut c_void,
    /// Reads up to `len` bytes at `offset` of `handle` into `buf`; stores the
    /// count in `out_read` (0 at end of data).
    pub read_at: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            handle: u64,
            offset: u64,
            buf: *mut u8,
            len: usize,
            out_read: *mut usize,
        ) -> Status,
    >,
    /// Lists one folder of a folder evidence (path relative to its root,
    /// `/`-separated, empty for the root), entries sorted by name bytes.
    pub list_dir: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            path: Bytes,
            visit: VisitFn,
            visit_ctx: *mut c_void,
        ) -> Status,
    >,
    /// Opens a regular file of a folder evidence for `read_at`.
    pub open:
        Option<unsafe extern "C" fn(ctx: *mut c_void, path: Bytes, out_handle: *mut u64) -> Status>,
    /// Releases a handle from `open`.
    pub close: Option<unsafe extern "C" fn(ctx: *mut c_void, handle: u64) -> Status>,
    /// Starts an output entry and stores its handle in `out_file`. `name` is
    /// the entry's raw name in the dump; `meta_json` is an `EntryMeta` as
    /// JSON. For a regular file, `write` calls follow; every entry ends with
    /// `end_file`. Entries may be open at once (one per plugin thread); calls
    /// on one handle must be sequential.
    pub begin_file: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            name: Bytes,
            meta_json: Bytes,
            out_file: *mut u64,
        ) -> Status,
    >,
    /// Appends bytes to an entry.
    pub write: Option<unsafe extern "C" fn(ctx: *mut c_void, file: u64, data: Bytes) -> Status>,
    /// Ends an entry. `status` is `OK` when all of it was delivered,
    /// otherwise why it is incomplete, with a note (UTF-8).
    pub end_file: Option<
        unsafe extern "C" fn(ctx: *mut c_void, file: u64, status: Status, note: Bytes) -> Status,
    >,
    /// Emits one decoded record of `kind` (e.g. `messages`) as UTF-8 JSON.
    pub emit_record:
        Option<unsafe extern "C" fn(ctx: *mut c_void, kind: Bytes, record_json: Bytes) -> Status>,
    /// Logs a message (UTF-8). `status` classifies a warning or error;
    /// `offset` is the evidence offset it concerns or [`NO_OFFSET`].
    pub log: Option<
        unsafe extern "C" fn(ctx: *mut c_void, level: u32, status: Status, offset: u64, msg: Bytes),
    >,
    /// True once the host wants the plugin to stop.
    pub is_cancelled: Option<unsafe extern "C" fn(ctx: *mut c_void) -> bool>,
    /// The password the examiner gave for the evidence, as UTF-8: the host
    /// stores its full length in `out_len` and copies it into `buf` when it
    /// fits in `cap` bytes (call again with a larger buffer otherwise).
    /// [`Status::NO_PASSWORD`] when there is none. The host may ask the
    /// examiner on the first call, so a plugin calls it only for an input that
    /// is encrypted. The host never logs it; the plugin must not either.
    pub password: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            buf: *mut u8,
            cap: usize,
            out_len: *mut usize,
        ) -> Status,
    >,
    /// Artifact decoders only: the local path (raw OS bytes) of a private
    /// working copy of the input file, made on the first call, with the
    /// input's `-wal`, `-journal` and `-shm` companions beside it under the
    /// same suffixes, for libraries that need a path (SQLite). Opening it
    /// cannot change the case. Same buffer protocol as `password`.
    pub local_copy: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            buf: *mut u8,
            cap: usize,
            out_len: *mut usize,
        ) -> Status,
    >,
}

/// The static description a plugin library exports through [`ENTRY_SYMBOL`].
#[repr(C)]
#[derive(Debug)]
pub struct Descriptor {
    /// Must equal the host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// [`Kind::FORMAT`] or [`Kind::ARTIFACT`].
    pub kind: Kind,
    /// Unique lowercase plugin name (UTF-8).
    pub name: Bytes,
    /// Plugin version (UTF-8).
    pub version: Bytes,
    /// What the plugin handles, as UTF-8 JSON: for a format plugin
    /// `{"description", "extensions", "access"}`, for an artifact decoder
    /// `{"description", "paths", "kinds"}` (glob patterns over case paths, and
    /// the record kinds it emits).
    pub handles_json: Bytes,
    /// Returns 0 (not mine) … 100 (certain). Null for an artifact decoder,
    /// which is chosen by its path patterns.
    pub probe: Option<unsafe extern "C" fn(input: *const ProbeInput) -> u32>,
    /// Decodes the evidence (format plugin) or one matched file (artifact
    /// decoder: `evidence_name` is then its case path under `files/`)
    /// through the host's callbacks.
    pub run: Option<unsafe extern "C" fn(host: *const Host) -> Status>,
}
