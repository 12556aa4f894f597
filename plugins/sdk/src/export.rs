//! Every raw-pointer adapter of the ABI, in both directions, and the
//! [`export!`](crate::export!) macro. This is the only module of the SDK that
//! may use `unsafe`; each block names the invariant it relies on.
//!
//! - Plugin side: [`describe`] and [`describe_decoder`] build a plugin's
//!   static [`Descriptor`], the `probe`/`run` trampolines turn C calls into
//!   calls of the safe [`FormatPlugin`] and [`ArtifactDecoder`] traits inside
//!   `catch_unwind`, and `RawHost` turns the
//!   C [`Host`] table back into [`HostServices`].
//! - Host side: [`call_probe`] and [`call_run`] call a descriptor's entry
//!   points, handing the plugin a C [`Host`] whose callbacks forward to a
//!   safe [`HostServices`] implementation. The exhibit core uses these, and
//!   so do plugins' parity tests, so both go through the very same bytes.
#![allow(unsafe_code)]

use crate::abi::{self, Bytes, Descriptor, Host, Kind, ProbeInput, Status};
use crate::error::PluginError;
use crate::plugin::{ArtifactDecoder, FormatPlugin, Probe};
use crate::session::{EvidenceInfo, HostServices, Session};
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

/// Exports a [`FormatPlugin`] implementation as this library's plugin.
///
/// Put `exhibit_plugin_sdk::export!(MyPlugin);` in the crate root (which uses
/// `#![deny(unsafe_code)]`, not `forbid`: the generated `#[unsafe(no_mangle)]`
/// item carries its own `allow`).
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        /// The plugin's entry symbol: a pointer to its static descriptor.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn exhibit_plugin_v1() -> *const $crate::abi::Descriptor {
            exhibit_static_descriptor().as_ptr()
        }

        /// The same descriptor for in-process use (parity tests).
        pub fn exhibit_static_descriptor() -> &'static $crate::export::StaticDescriptor {
            static DESCRIPTOR: ::std::sync::OnceLock<$crate::export::StaticDescriptor> =
                ::std::sync::OnceLock::new();
            DESCRIPTOR.get_or_init($crate::export::describe::<$plugin>)
        }
    };
}

/// Exports an [`ArtifactDecoder`] implementation as this library's plugin;
/// used like [`export!`](crate::export!).
#[macro_export]
macro_rules! export_decoder {
    ($decoder:ty) => {
        /// The plugin's entry symbol: a pointer to its static descriptor.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn exhibit_plugin_v1() -> *const $crate::abi::Descriptor {
            exhibit_static_descriptor().as_ptr()
        }

        /// The same descriptor for in-process use (parity tests).
        pub fn exhibit_static_descriptor() -> &'static $crate::export::StaticDescriptor {
            static DESCRIPTOR: ::std::sync::OnceLock<$crate::export::StaticDescriptor> =
                ::std::sync::OnceLock::new();
            DESCRIPTOR.get_or_init($crate::export::describe_decoder::<$decoder>)
        }
    };
}

/// A descriptor that may live in a `static`.
pub struct StaticDescriptor(Descriptor);

// SAFETY: the descriptor's pointers refer to `'static`, immutable data (string
// constants and a leaked JSON string) and to functions; nothing is ever
// written through them, so sharing across threads is sound.
unsafe impl Sync for StaticDescriptor {}
// SAFETY: as for `Sync`: the pointed-to data is immutable and `'static`.
unsafe impl Send for StaticDescriptor {}

impl StaticDescriptor {
    /// The descriptor, for the entry symbol to return.
    pub fn as_ptr(&self) -> *const Descriptor {
        &self.0
    }

    /// The descriptor itself.
    pub fn descriptor(&self) -> &Descriptor {
        &self.0
    }

    /// The descriptor's `(name, version, handles_json)`.
    pub fn identity(&self) -> (&str, &str, &str) {
        // SAFETY: `describe` built these Bytes from `'static` UTF-8 strings.
        let text = |b: Bytes| {
            unsafe { slice(b) }
                .and_then(|s| std::str::from_utf8(s).ok())
                .unwrap_or("")
        };
        (
            text(self.0.name),
            text(self.0.version),
            text(self.0.handles_json),
        )
    }

    /// Calls the descriptor's `probe` through the C ABI.
    pub fn probe(&self, probe: &Probe<'_>) -> u32 {
        // SAFETY: a StaticDescriptor is only built by `describe`, whose
        // function pointers are this crate's trampolines, linked in.
        unsafe { call_probe(&self.0, probe) }
    }

    /// Calls the descriptor's `run` through the C ABI, exactly as the host
    /// does after loading the library.
    pub fn run(&self, services: &dyn HostServices) -> Status {
        // SAFETY: as in `probe`.
        unsafe { call_run(&self.0, services) }
    }
}

/// Builds the descriptor of format plugin `P`. Called once per library.
pub fn describe<P: FormatPlugin>() -> StaticDescriptor {
    let handles = serde_json::json!({
        "description": P::DESCRIPTION,
        "extensions": P::EXTENSIONS,
        "access": P::ACCESS.name(),
    });
    // Leaked once per library: the descriptor must outlive every call.
    let handles: &'static str = Box::leak(handles.to_string().into_boxed_str());
    StaticDescriptor(Descriptor {
        abi_version: abi::ABI_VERSION,
        kind: Kind::FORMAT,
        name: Bytes::from_slice(P::NAME.as_bytes()),
        version: Bytes::from_slice(P::VERSION.as_bytes()),
        handles_json: Bytes::from_slice(handles.as_bytes()),
        probe: Some(probe_trampoline::<P>),
        run: Some(run_trampoline::<P>),
    })
}

/// Builds the descriptor of artifact decoder `D`. Called once per library.
pub fn describe_decoder<D: ArtifactDecoder>() -> StaticDescriptor {
    let handles = serde_json::json!({
        "description": D::DESCRIPTION,
        "paths": D::PATHS,
        "kinds": D::KINDS,
    });
    // Leaked once per library: the descriptor must outlive every call.
    let handles: &'static str = Box::leak(handles.to_string().into_boxed_str());
    StaticDescriptor(Descriptor {
        abi_version: abi::ABI_VERSION,
        kind: Kind::ARTIFACT,
        name: Bytes::from_slice(D::NAME.as_bytes()),
        version: Bytes::from_slice(D::VERSION.as_bytes()),
        handles_json: Bytes::from_slice(handles.as_bytes()),
        probe: None,
        run: Some(decode_trampoline::<D>),
    })
}

/// Views a borrowed [`Bytes`] as a slice; `None` for a null pointer with a
/// non-zero length.
///
/// # Safety
/// When `ptr` is non-null it must point to `len` readable bytes that stay
/// valid and unchanged for `'a`.
pub unsafe fn slice<'a>(b: Bytes) -> Option<&'a [u8]> {
    if b.len == 0 {
        return Some(&[]);
    }
    if b.ptr.is_null() {
        return None;
    }
    // SAFETY: non-null and `len` bytes readable for 'a, per this function's contract.
    Some(unsafe { std::slice::from_raw_parts(b.ptr, b.len) })
}

thread_local! {
    /// Set while this thread runs plugin code, so the panic hook knows the
    /// panic is the plugin's and captures it instead of printing.
    static IN_PLUGIN: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_panic_capture() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_PLUGIN.with(Cell::get) {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                let text = match info.location() {
                    Some(loc) => format!("{message} (at {}:{})", loc.file(), loc.line()),
                    None => message,
                };
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f` as plugin code: panics are caught and their message returned.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_panic_capture();
    let was_in = IN_PLUGIN.with(|c| c.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_PLUGIN.with(|c| c.set(was_in));
    result.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "panic".to_owned())
    })
}

unsafe extern "C" fn probe_trampoline<P: FormatPlugin>(input: *const ProbeInput) -> u32 {
    if input.is_null() {
        return 0;
    }
    // SAFETY: the host passes a pointer to a ProbeInput valid for this call.
    let input = unsafe { &*input };
    // SAFETY: the host's Bytes point to memory it owns for this call.
    let (Some(head), Some(name)) = (unsafe { slice(input.head) }, unsafe { slice(input.name) })
    else {
        return 0;
    };
    let probe = Probe {
        head,
        name,
        size: input.size,
        is_dir: input.is_dir != 0,
    };
    guarded(|| P::default().probe(&probe))
        .map(|c| u32::from(c.min(100)))
        .unwrap_or(0)
}

unsafe extern "C" fn run_trampoline<P: FormatPlugin>(host: *const Host) -> Status {
    // SAFETY: the host passes a table valid for the duration of this call.
    unsafe { run_guarded(host, P::NAME, |session| P::default().run(session)) }
}

unsafe extern "C" fn decode_trampoline<D: ArtifactDecoder>(host: *const Host) -> Status {
    // SAFETY: the host passes a table valid for the duration of this call.
    unsafe { run_guarded(host, D::NAME, |session| D::default().decode(session)) }
}

/// The body of every `run` trampoline: checks the table, runs `body` inside
/// `catch_unwind`, and turns its outcome into a status and log entries.
///
/// # Safety
/// `host` is null or points to a table valid for the duration of the call.
unsafe fn run_guarded(
    host: *const Host,
    name: &str,
    body: impl FnOnce(&Session<'_>) -> Result<(), PluginError>,
) -> Status {
    if host.is_null() {
        return Status::INVALID;
    }
    // SAFETY: non-null, and valid for this call per the contract.
    let host = unsafe { &*host };
    if host.abi_version != abi::ABI_VERSION {
        return Status::INVALID;
    }
    let Some(raw) = RawHost::new(host) else {
        return Status::INVALID;
    };
    let session = Session::new(&raw);
    match guarded(|| body(&session)) {
        Ok(Ok(())) => Status::OK,
        Ok(Err(err)) => {
            session.report(&err);
            err.status()
        }
        Err(panic) => {
            raw.log(
                abi::level::ERROR,
                Status::PANICKED,
                abi::NO_OFFSET,
                format!("plugin `{name}` panicked: {panic}").as_bytes(),
            );
            Status::PANICKED
        }
    }
}

/// Calls a host function that fills a caller's buffer (`password`,
/// `local_copy`), growing the buffer once if the first was too small.
fn fetch_bytes(
    f: unsafe extern "C" fn(*mut c_void, *mut u8, usize, *mut usize) -> Status,
    ctx: *mut c_void,
) -> Result<Vec<u8>, Status> {
    let mut buf = vec![0u8; 512];
    for _ in 0..2 {
        let mut len = 0usize;
        // SAFETY: buf is valid for writes of buf.len() bytes and len is a
        // valid out pointer, both for the duration of the call.
        let status = unsafe { f(ctx, buf.as_mut_ptr(), buf.len(), &mut len) };
        if status != Status::OK {
            return Err(status);
        }
        if len <= buf.len() {
            buf.truncate(len);
            return Ok(buf);
        }
        if len > 1 << 20 {
            return Err(Status::INVALID);
        }
        buf.resize(len, 0);
    }
    Err(Status::INVALID)
}

/// The C host table seen as [`HostServices`] (plugin side).
struct RawHost<'h> {
    host: &'h Host,
    evidence: EvidenceInfo,
}

// SAFETY: the ABI requires the host's callbacks to be callable from any
// thread (HostServices: Sync on the host side); `host` itself is only read.
unsafe impl Sync for RawHost<'_> {}

impl<'h> RawHost<'h> {
    fn new(host: &'h Host) -> Option<RawHost<'h>> {
        // SAFETY: evidence_name is host memory valid for the whole run.
        let name = unsafe { slice(host.evidence_name) }?.to_vec();
        Some(RawHost {
            host,
            evidence: EvidenceInfo {
                name,
                size: host.evidence_size,
                is_dir: host.evidence_is_dir != 0,
                threads: host.threads.max(1),
            },
        })
    }
}

impl HostServices for RawHost<'_> {
    fn evidence(&self) -> &EvidenceInfo {
        &self.evidence
    }

    fn read_at(&self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Status> {
        let f = self.host.read_at.ok_or(Status::UNSUPPORTED)?;
        let mut n = 0usize;
        // SAFETY: buf is valid for writes of buf.len() bytes and n for one usize,
        // both for the duration of the call, as the callback's contract asks.
        let status = unsafe {
            f(
                self.host.ctx,
                handle,
                offset,
                buf.as_mut_ptr(),
                buf.len(),
                &mut n,
            )
        };
        match status {
            Status::OK if n <= buf.len() => Ok(n),
            Status::OK => Err(Status::INVALID),
            status => Err(status),
        }
    }

    fn list_dir(&self, path: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Status {
        let Some(f) = self.host.list_dir else {
            return Status::UNSUPPORTED;
        };
        unsafe extern "C" fn visit_one(ctx: *mut c_void, name: Bytes, meta: Bytes) -> u32 {
            // SAFETY: ctx is the `&mut &mut dyn FnMut` passed below, alive for the list_dir call.
            let visit = unsafe { &mut *ctx.cast::<&mut dyn FnMut(&[u8], &[u8]) -> bool>() };
            // SAFETY: the host's Bytes are valid for this callback.
            match unsafe { (slice(name), slice(meta)) } {
                (Some(name), Some(meta)) => u32::from(!visit(name, meta)),
                _ => 1,
            }
        }
        let mut visit = visit;
        let ctx: *mut &mut dyn FnMut(&[u8], &[u8]) -> bool = &mut visit;
        // SAFETY: path is borrowed for the call; ctx points to `visit`, which
        // outlives the call; visit_one matches VisitFn.
        unsafe {
            f(
                self.host.ctx,
                Bytes::from_slice(path),
                visit_one,
                ctx.cast(),
            )
        }
    }

    fn open(&self, path: &[u8]) -> Result<u64, Status> {
        let f = self.host.open.ok_or(Status::UNSUPPORTED)?;
        let mut handle = 0u64;
        // SAFETY: path is borrowed for the call; handle is a valid out pointer.
        match unsafe { f(self.host.ctx, Bytes::from_slice(path), &mut handle) } {
            Status::OK => Ok(handle),
            status => Err(status),
        }
    }

    fn close(&self, handle: u64) -> Status {
        match self.host.close {
            // SAFETY: plain values only.
            Some(f) => unsafe { f(self.host.ctx, handle) },
            None => Status::UNSUPPORTED,
        }
    }

    fn begin_file(&self, name: &[u8], meta_json: &[u8]) -> Result<u64, Status> {
        let f = self.host.begin_file.ok_or(Status::UNSUPPORTED)?;
        let mut handle = 0u64;
        // SAFETY: both slices are borrowed for the call; handle is a valid out pointer.
        let status = unsafe {
            f(
                self.host.ctx,
                Bytes::from_slice(name),
                Bytes::from_slice(meta_json),
                &mut handle,
            )
        };
        match status {
            Status::OK => Ok(handle),
            status => Err(status),
        }
    }

    fn write(&self, file: u64, data: &[u8]) -> Status {
        match self.host.write {
            // SAFETY: data is borrowed for the call.
            Some(f) => unsafe { f(self.host.ctx, file, Bytes::from_slice(data)) },
            None => Status::UNSUPPORTED,
        }
    }

    fn end_file(&self, file: u64, status: Status, note: &[u8]) -> Status {
        match self.host.end_file {
            // SAFETY: note is borrowed for the call.
            Some(f) => unsafe { f(self.host.ctx, file, status, Bytes::from_slice(note)) },
            None => Status::UNSUPPORTED,
        }
    }

    fn emit_record(&self, kind: &[u8], record_json: &[u8]) -> Status {
        match self.host.emit_record {
            // SAFETY: both slices are borrowed for the call.
            Some(f) => unsafe {
                f(
                    self.host.ctx,
                    Bytes::from_slice(kind),
                    Bytes::from_slice(record_json),
                )
            },
            None => Status::UNSUPPORTED,
        }
    }

    fn log(&self, level: u32, status: Status, offset: u64, msg: &[u8]) {
        if let Some(f) = self.host.log {
            // SAFETY: msg is borrowed for the call.
            unsafe { f(self.host.ctx, level, status, offset, Bytes::from_slice(msg)) }
        }
    }

    fn is_cancelled(&self) -> bool {
        match self.host.is_cancelled {
            // SAFETY: plain values only.
            Some(f) => unsafe { f(self.host.ctx) },
            None => false,
        }
    }

    fn password(&self) -> Result<Option<String>, Status> {
        let Some(f) = self.host.password else {
            return Ok(None);
        };
        match fetch_bytes(f, self.host.ctx) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| Status::INVALID),
            Err(Status::NO_PASSWORD) => Ok(None),
            Err(status) => Err(status),
        }
    }

    fn local_copy(&self) -> Result<std::path::PathBuf, Status> {
        let f = self.host.local_copy.ok_or(Status::UNSUPPORTED)?;
        let bytes = fetch_bytes(f, self.host.ctx)?;
        path_from_bytes(bytes).ok_or(Status::INVALID)
    }
}

#[cfg(unix)]
fn path_from_bytes(bytes: Vec<u8>) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    Some(std::ffi::OsString::from_vec(bytes).into())
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: Vec<u8>) -> Option<std::path::PathBuf> {
    String::from_utf8(bytes).ok().map(Into::into)
}

#[cfg(unix)]
fn path_bytes(path: &std::path::Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &std::path::Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

// ---------------------------------------------------------------------------
// Host side
// ---------------------------------------------------------------------------

/// Recovers the services behind a host table's `ctx`.
///
/// # Safety
/// `ctx` must be the pointer [`call_run`] stored: a `*const &dyn HostServices`
/// that outlives the plugin's `run` call.
unsafe fn services<'a>(ctx: *mut c_void) -> &'a dyn HostServices {
    // SAFETY: per this function's contract.
    unsafe { *ctx.cast::<&dyn HostServices>() }
}

/// Runs host code called from a plugin; a host panic must not unwind into
/// foreign frames, so it becomes `Status::INVALID`.
fn host_guard(f: impl FnOnce() -> Status) -> Status {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(Status::INVALID)
}

unsafe extern "C" fn cb_read_at(
    ctx: *mut c_void,
    handle: u64,
    offset: u64,
    buf: *mut u8,
    len: usize,
    out_read: *mut usize,
) -> Status {
    if (buf.is_null() && len > 0) || out_read.is_null() {
        return Status::INVALID;
    }
    host_guard(|| {
        // SAFETY: the plugin gave `len` writable bytes at `buf` for this call.
        let buf: &mut [u8] = if len == 0 {
            &mut []
        } else {
            unsafe { std::slice::from_raw_parts_mut(buf, len) }
        };
        // SAFETY: ctx is ours (see `services`).
        match unsafe { services(ctx) }.read_at(handle, offset, buf) {
            Ok(n) => {
                // SAFETY: out_read is a valid, non-null out pointer from the plugin.
                unsafe { out_read.write(n) };
                Status::OK
            }
            Err(status) => status,
        }
    })
}

unsafe extern "C" fn cb_list_dir(
    ctx: *mut c_void,
    path: Bytes,
    visit: abi::VisitFn,
    visit_ctx: *mut c_void,
) -> Status {
    host_guard(|| {
        // SAFETY: the plugin's Bytes are valid for this call.
        let Some(path) = (unsafe { slice(path) }) else {
            return Status::INVALID;
        };
        // SAFETY: ctx is ours (see `services`).
        unsafe { services(ctx) }.list_dir(path, &mut |name, meta| {
            // SAFETY: visit and visit_ctx come from the plugin, which keeps
            // them valid for the list_dir call; the slices live across it.
            unsafe { visit(visit_ctx, Bytes::from_slice(name), Bytes::from_slice(meta)) == 0 }
        })
    })
}

unsafe extern "C" fn cb_open(ctx: *mut c_void, path: Bytes, out_handle: *mut u64) -> Status {
    if out_handle.is_null() {
        return Status::INVALID;
    }
    host_guard(|| {
        // SAFETY: the plugin's Bytes are valid for this call.
        let Some(path) = (unsafe { slice(path) }) else {
            return Status::INVALID;
        };
        // SAFETY: ctx is ours (see `services`).
        match unsafe { services(ctx) }.open(path) {
            Ok(handle) => {
                // SAFETY: non-null out pointer from the plugin.
                unsafe { out_handle.write(handle) };
                Status::OK
            }
            Err(status) => status,
        }
    })
}

unsafe extern "C" fn cb_close(ctx: *mut c_void, handle: u64) -> Status {
    // SAFETY: ctx is ours (see `services`).
    host_guard(|| unsafe { services(ctx) }.close(handle))
}

unsafe extern "C" fn cb_begin_file(
    ctx: *mut c_void,
    name: Bytes,
    meta_json: Bytes,
    out_file: *mut u64,
) -> Status {
    if out_file.is_null() {
        return Status::INVALID;
    }
    host_guard(|| {
        // SAFETY: the plugin's Bytes are valid for this call.
        let (Some(name), Some(meta)) = (unsafe { slice(name) }, unsafe { slice(meta_json) }) else {
            return Status::INVALID;
        };
        // SAFETY: ctx is ours (see `services`).
        match unsafe { services(ctx) }.begin_file(name, meta) {
            Ok(file) => {
                // SAFETY: non-null out pointer from the plugin.
                unsafe { out_file.write(file) };
                Status::OK
            }
            Err(status) => status,
        }
    })
}

unsafe extern "C" fn cb_write(ctx: *mut c_void, file: u64, data: Bytes) -> Status {
    host_guard(|| {
        // SAFETY: the plugin's Bytes are valid for this call.
        match unsafe { slice(data) } {
            // SAFETY: ctx is ours (see `services`).
            Some(data) => unsafe { services(ctx) }.write(file, data),
            None => Status::INVALID,
        }
    })
}

unsafe extern "C" fn cb_end_file(
    ctx: *mut c_void,
    file: u64,
    status: Status,
    note: Bytes,
) -> Status {
    host_guard(|| {
        // SAFETY: the plugin's Bytes are valid for this call.
        let note = unsafe { slice(note) }.unwrap_or(b"");
        // SAFETY: ctx is ours (see `services`).
        unsafe { services(ctx) }.end_file(file, status, note)
    })
}

unsafe extern "C" fn cb_emit_record(ctx: *mut c_void, kind: Bytes, record_json: Bytes) -> Status {
    host_guard(|| {
        // SAFETY: the plugin's Bytes are valid for this call.
        match unsafe { (slice(kind), slice(record_json)) } {
            // SAFETY: ctx is ours (see `services`).
            (Some(kind), Some(json)) => unsafe { services(ctx) }.emit_record(kind, json),
            _ => Status::INVALID,
        }
    })
}

unsafe extern "C" fn cb_log(ctx: *mut c_void, level: u32, status: Status, offset: u64, msg: Bytes) {
    host_guard(|| {
        // SAFETY: the plugin's Bytes are valid for this call.
        let msg = unsafe { slice(msg) }.unwrap_or(b"<invalid message pointer>");
        // SAFETY: ctx is ours (see `services`).
        unsafe { services(ctx) }.log(level, status, offset, msg);
        Status::OK
    });
}

unsafe extern "C" fn cb_is_cancelled(ctx: *mut c_void) -> bool {
    // SAFETY: ctx is ours (see `services`).
    catch_unwind(AssertUnwindSafe(|| unsafe { services(ctx) }.is_cancelled())).unwrap_or(true)
}

/// Answers a buffer-filling call (`password`, `local_copy`) with `value`.
///
/// # Safety
/// `buf` must be valid for writes of `cap` bytes (or null with `cap` 0) and
/// `out_len` a valid out pointer, for the duration of the call.
unsafe fn fill_buffer(value: &[u8], buf: *mut u8, cap: usize, out_len: *mut usize) -> Status {
    if out_len.is_null() || (buf.is_null() && cap > 0) {
        return Status::INVALID;
    }
    // SAFETY: non-null out pointer from the plugin.
    unsafe { out_len.write(value.len()) };
    if value.len() <= cap && !value.is_empty() {
        // SAFETY: the plugin gave `cap` writable bytes at `buf`, and the
        // value is host memory, so the two cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), buf, value.len()) };
    }
    Status::OK
}

unsafe extern "C" fn cb_password(
    ctx: *mut c_void,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> Status {
    host_guard(|| {
        // SAFETY: ctx is ours (see `services`).
        match unsafe { services(ctx) }.password() {
            // SAFETY: the plugin's buffer contract is `fill_buffer`'s.
            Ok(Some(password)) => unsafe { fill_buffer(password.as_bytes(), buf, cap, out_len) },
            Ok(None) => Status::NO_PASSWORD,
            Err(status) => status,
        }
    })
}

unsafe extern "C" fn cb_local_copy(
    ctx: *mut c_void,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> Status {
    host_guard(|| {
        // SAFETY: ctx is ours (see `services`).
        match unsafe { services(ctx) }.local_copy() {
            // SAFETY: the plugin's buffer contract is `fill_buffer`'s.
            Ok(path) => unsafe { fill_buffer(&path_bytes(&path), buf, cap, out_len) },
            Err(status) => status,
        }
    })
}

/// Asks a plugin how sure it is that the evidence is its format (0–100).
/// Returns 0 when the descriptor has no probe.
///
/// # Safety
/// `descriptor` must come from a plugin library that stays loaded for the
/// call, with function pointers that honour the ABI.
pub unsafe fn call_probe(descriptor: &Descriptor, probe: &Probe<'_>) -> u32 {
    let Some(f) = descriptor.probe else {
        return 0;
    };
    let input = ProbeInput {
        head: Bytes::from_slice(probe.head),
        name: Bytes::from_slice(probe.name),
        size: probe.size,
        is_dir: u32::from(probe.is_dir),
    };
    // SAFETY: `input` and the slices it borrows outlive the call; the caller
    // vouches for the function pointer.
    unsafe { f(&input) }.min(100)
}

/// Runs a plugin over the evidence `services` gives access to.
///
/// # Safety
/// As for [`call_probe`].
pub unsafe fn call_run(descriptor: &Descriptor, services: &dyn HostServices) -> Status {
    let Some(run) = descriptor.run else {
        return Status::INVALID;
    };
    let evidence = services.evidence();
    let ctx: *const &dyn HostServices = &services;
    let host = Host {
        abi_version: abi::ABI_VERSION,
        evidence_is_dir: u32::from(evidence.is_dir),
        evidence_size: evidence.size,
        evidence_name: Bytes::from_slice(&evidence.name),
        threads: evidence.threads.max(1),
        ctx: ctx.cast_mut().cast(),
        read_at: Some(cb_read_at),
        list_dir: Some(cb_list_dir),
        open: Some(cb_open),
        close: Some(cb_close),
        begin_file: Some(cb_begin_file),
        write: Some(cb_write),
        end_file: Some(cb_end_file),
        emit_record: Some(cb_emit_record),
        log: Some(cb_log),
        is_cancelled: Some(cb_is_cancelled),
        password: Some(cb_password),
        local_copy: Some(cb_local_copy),
    };
    // SAFETY: `host` and everything it points to (`services`, the evidence
    // name) live until `run` returns; the caller vouches for the pointer.
    unsafe { run(&host) }
}
