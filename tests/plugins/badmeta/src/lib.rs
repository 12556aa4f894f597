//! A format plugin that sends the host invalid JSON, for the end-to-end
//! tests of the host's checks. It is written by hand, without the SDK's
//! export macro, because the SDK cannot produce invalid JSON.
//!
//! - With `XT_BADMETA_HANDLES=broken` in the environment, its descriptor's
//!   `handles_json` is not JSON: the host must refuse the library.
//! - Otherwise it loads (name `badmeta`, probe 0, so run it with
//!   `--format badmeta`) and its run delivers, through the raw host table:
//!   `good-before.txt` ([`GOOD`]), then begins [`NOT_JSON`] with metadata
//!   that is not JSON and [`WRONG_SCHEMA`] with JSON that is not entry
//!   metadata (each begin must fail with `INVALID`; it counts the refusals
//!   and writes nothing to them), then `good-after.txt` ([`GOOD`]). It
//!   returns `OK` when both bad begins were refused, `CORRUPT` otherwise, so
//!   a host that accepted them shows.
#![allow(unsafe_code)]

use exhibit_plugin_sdk::abi::{ABI_VERSION, Bytes, Descriptor, Host, Kind, ProbeInput, Status};

/// Content of `good-before.txt` and `good-after.txt`.
pub const GOOD: &[u8] = b"delivered around the bad metadata\n";
/// The entry begun with metadata that is not JSON.
pub const NOT_JSON: &[u8] = b"not-json.bin";
/// The entry begun with JSON that is not entry metadata.
pub const WRONG_SCHEMA: &[u8] = b"wrong-schema.bin";

struct Static(Descriptor);
// SAFETY: both descriptors point only to 'static constants and functions.
unsafe impl Sync for Static {}

const HANDLES: &[u8] = br#"{"description":"test plugin that sends invalid JSON metadata"}"#;
const BROKEN_HANDLES: &[u8] = br#"{"description": "unterminated"#;

static DESCRIPTOR: Static = Static(Descriptor {
    abi_version: ABI_VERSION,
    kind: Kind::FORMAT,
    name: Bytes::from_slice(b"badmeta"),
    version: Bytes::from_slice(b"0.1.0"),
    handles_json: Bytes::from_slice(HANDLES),
    probe: Some(probe),
    run: Some(run),
});

static BROKEN: Static = Static(Descriptor {
    abi_version: ABI_VERSION,
    kind: Kind::FORMAT,
    name: Bytes::from_slice(b"badmeta"),
    version: Bytes::from_slice(b"0.1.0"),
    handles_json: Bytes::from_slice(BROKEN_HANDLES),
    probe: Some(probe),
    run: Some(run),
});

/// The entry symbol: the broken descriptor when the environment asks.
#[unsafe(no_mangle)]
pub extern "C" fn exhibit_plugin_v1() -> *const Descriptor {
    if std::env::var_os("XT_BADMETA_HANDLES").is_some_and(|v| v == "broken") {
        &BROKEN.0
    } else {
        &DESCRIPTOR.0
    }
}

/// Never claims an evidence: the tests force it with `--format`.
extern "C" fn probe(_: *const ProbeInput) -> u32 {
    0
}

/// One entry through the raw table; `Err` with the status of the call
/// that failed.
///
/// # Safety
/// `host` is the table the host passed to `run`, valid for this call.
unsafe fn deliver(host: &Host, name: &[u8], meta: &[u8], data: &[u8]) -> Result<(), Status> {
    let (Some(begin), Some(write), Some(end)) = (host.begin_file, host.write, host.end_file) else {
        return Err(Status::INVALID);
    };
    let mut file = 0_u64;
    // SAFETY: ctx is the host's own; the Bytes borrow live slices for the
    // call; out_file points to a local.
    let status = unsafe {
        begin(
            host.ctx,
            Bytes::from_slice(name),
            Bytes::from_slice(meta),
            &mut file,
        )
    };
    if status != Status::OK {
        return Err(status);
    }
    // SAFETY: as above; `file` is the handle the host just gave.
    let status = unsafe { write(host.ctx, file, Bytes::from_slice(data)) };
    // SAFETY: as above; ending the handle even after a failed write.
    let ended = unsafe { end(host.ctx, file, Status::OK, Bytes::EMPTY) };
    match (status, ended) {
        (Status::OK, Status::OK) => Ok(()),
        (Status::OK, e) | (e, _) => Err(e),
    }
}

extern "C" fn run(host: *const Host) -> Status {
    // SAFETY: the host passes a table valid for the whole run (null checked).
    let Some(host) = (unsafe { host.as_ref() }) else {
        return Status::INVALID;
    };
    let good = format!(r#"{{"kind":"file","size":{}}}"#, GOOD.len());
    // SAFETY: `host` is the run's table.
    if let Err(s) = unsafe { deliver(host, b"good-before.txt", good.as_bytes(), GOOD) } {
        return s;
    }
    let refused = [
        (NOT_JSON, &br#"{"kind":"file","size":4"#[..]),
        (WRONG_SCHEMA, &br#"{"kind":"banana","size":"four"}"#[..]),
    ]
    .into_iter()
    // SAFETY: `host` is the run's table.
    .filter(|(name, meta)| unsafe { deliver(host, name, meta, b"evil") } == Err(Status::INVALID))
    .count();
    // SAFETY: `host` is the run's table.
    if let Err(s) = unsafe { deliver(host, b"good-after.txt", good.as_bytes(), GOOD) } {
        return s;
    }
    if refused == 2 {
        Status::OK
    } else {
        Status::CORRUPT
    }
}
