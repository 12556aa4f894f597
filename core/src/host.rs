//! The core's side of the plugin ABI during an extraction: [`ExtractHost`]
//! serves evidence bytes to a format plugin and takes back the entries it
//! delivers, writing each file under its sanitised path while hashing it.
//!
//! Policy: every byte a plugin delivers is hashed as it is written, never by
//! reading the file back. Calls may come from several plugin threads at once
//! (a random-access format decoding entries in parallel): the custody log,
//! the table of open entries and each entry have their own locks, so the
//! heavy work of one entry (hashing, writing) never waits for another's.
//! Evidence bytes are hashed in offset order as a sequential plugin reads
//! them, on a thread of their own; a random-access plugin's evidence is hashed
//! by a background thread reading it front to back, concurrently with the run.
//! The case disk keeps a reserve: an entry that would not fit, or a disk that
//! fills while writing, stops the run with an error saying where.

use crate::case::{
    ARTIFACTS_DIR, CaseFolder, DELETED_FILE, DELETED_KIND, DEVICE_FILE, FILES_DIR, PARTITIONS_FILE,
    PARTITIONS_KIND,
};
use crate::custody::action;
use crate::evidence::{
    Evidence, EvidenceKind, EvidenceReader, HashJob, HashedSource, hash_in_background,
    open_read_only,
};
use crate::extract::{Observer, Run};
use crate::hash::{Digests, HashAlgorithm, MultiHasher};
use crate::resume::Placed;
use crate::sanitize::sanitize;
use exhibit_plugin_sdk::abi::{self, level};
use exhibit_plugin_sdk::{EntryKind, EntryMeta, EvidenceInfo, HostServices, RawBytes, Status};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Re-check the free space of the case disk after this many bytes written.
const SPACE_CHECK_EVERY: u64 = 64 << 20;

/// How the host reads and hashes the evidence for one run.
pub(crate) enum EvidenceAccess {
    /// A sequential plugin: hashed from its own reads.
    Sequential(Box<Mutex<HashedSource>>),
    /// A random-access plugin: plain reads; a background thread hashes the file.
    Random {
        file: EvidenceReader,
        hashed: Arc<AtomicU64>,
        worker: Mutex<Option<HashJob>>,
    },
    /// A folder: each file the plugin opens is hashed as it is read.
    Folder,
}

/// What the run needs to know to set up the host.
pub(crate) struct HostSetup<'a> {
    pub evidence: &'a Evidence,
    pub case: &'a CaseFolder,
    pub hashes: &'a [HashAlgorithm],
    pub plugin: &'a str,
    pub random_access: bool,
    pub threads: u32,
    pub min_free: u64,
    pub cancel: Arc<AtomicBool>,
    pub password: Option<Arc<dyn crate::extract::PasswordSource>>,
    /// Run the plugin in a child process with these limits.
    pub isolation: Option<&'a crate::isolate::Isolation>,
    /// Continuing an earlier run of this case (`extract --resume`).
    pub resume: Option<Arc<crate::resume::ResumeFiles>>,
}

/// Chunks of file data queued to the file-hashing thread.
const FILE_HASH_QUEUE: usize = 16;

/// Where an entry's bytes are hashed.
enum FileDigest {
    /// On the writing thread: random-access plugins already spread entries
    /// over every core.
    Inline(Box<MultiHasher>),
    /// On the file-hashing thread: a sequential plugin's single thread then
    /// only reads and writes, and the digests overlap with it.
    Queued(SyncSender<FileJob>),
}

/// Work for the file-hashing thread.
enum FileJob {
    /// Bytes written to the entry with this handle.
    Data(u64, Vec<u8>),
    /// The entry is complete: finish its digests and record it.
    End(u64, Box<Finished>),
}

/// An entry being delivered.
struct Output {
    name: Vec<u8>,
    meta: EntryMeta,
    path: Option<String>,
    writer: Option<BufWriter<File>>,
    digest: FileDigest,
    written: u64,
    write_error: Option<String>,
    /// On resume, the logged digests of a file already extracted whole:
    /// its bytes are hashed and compared, not written.
    recheck: Option<Digests>,
    /// On resume, what the file rewritten at this path held before.
    replaces: Option<Value>,
}

/// A written file waiting for its digests to be recorded.
struct Finished {
    name: RawBytes,
    meta: EntryMeta,
    path: String,
    written: u64,
    write_error: Option<String>,
    status: Status,
    note: String,
    recheck: Option<Digests>,
    replaces: Option<Value>,
}

/// A record file being written.
struct ArtifactFile {
    kind: String,
    path: String,
    writer: BufWriter<File>,
    hasher: MultiHasher,
    records: u64,
    bytes: u64,
}

/// An evidence range a plugin named as a region, waiting to be hashed.
struct RegionJob {
    name: RawBytes,
    meta: EntryMeta,
}

/// A region hashed, waiting to be recorded.
struct RegionHashed {
    name: RawBytes,
    meta: EntryMeta,
    digests: Digests,
    hashed: u64,
    /// Read by the core from the evidence, not streamed by the plugin.
    from_evidence: bool,
    /// Why fewer bytes than declared were hashed.
    problem: Option<String>,
}

/// The thread that hashes evidence ranges while the plugin goes on.
struct RegionWorker {
    jobs: Sender<RegionJob>,
    thread: std::thread::JoinHandle<Vec<RegionHashed>>,
}

/// Hashes the evidence range `job` names (its `offset` and `size`).
fn hash_region(
    reader: &EvidenceReader,
    job: RegionJob,
    hashes: &[HashAlgorithm],
    cancel: &AtomicBool,
) -> RegionHashed {
    let offset = job.meta.offset.unwrap_or(0);
    let declared = job.meta.size.unwrap_or(0);
    match reader.hash_range(offset, declared, hashes, cancel) {
        Ok((digests, hashed)) => {
            let problem = if hashed == declared {
                None
            } else if cancel.load(Ordering::Relaxed) {
                Some(format!(
                    "the run was interrupted {hashed} bytes into it, of {declared}: only those are hashed"
                ))
            } else {
                Some(format!(
                    "the evidence ends {hashed} bytes into it, not {declared}: only those are hashed"
                ))
            };
            RegionHashed {
                name: job.name,
                meta: job.meta,
                digests,
                hashed,
                from_evidence: true,
                problem,
            }
        }
        Err(e) => unhashed(job, &e),
    }
}

/// A region that could not be read at all.
fn unhashed(job: RegionJob, e: &io::Error) -> RegionHashed {
    RegionHashed {
        name: job.name,
        meta: job.meta,
        digests: Digests::new(),
        hashed: 0,
        from_evidence: true,
        problem: Some(format!("reading it failed: {e}")),
    }
}

/// A file of a folder evidence opened by the plugin.
struct OpenSource {
    path: String,
    source: HashedSource,
}

/// The digests of a folder evidence: a manifest of every file read. Its
/// lines are sorted before hashing, so the digest does not depend on the
/// order in which parallel workers read the files; that costs one line of
/// memory per file.
struct Manifest {
    lines: Vec<String>,
    files: u64,
    bytes: u64,
}

/// What closing the host leaves for the end of the run.
pub(crate) struct ClosedHost {
    pub evidence_digests: Digests,
    pub evidence_bytes: u64,
    pub host_read: u64,
    pub manifest_files: u64,
    pub concurrent: bool,
    /// The run was stopped because the case disk reached its reserve.
    pub out_of_space: bool,
    /// False when the run was interrupted and the evidence was not read to
    /// its end: `evidence_digests` then cover only the first
    /// `evidence_bytes` bytes (nothing for a folder or a random-access
    /// plugin), and must not be taken for the evidence's digests.
    pub evidence_complete: bool,
    /// The entries that were being delivered when the run was interrupted.
    pub interrupted_entries: Vec<Value>,
    /// A split image's digests of each segment, in order (empty otherwise).
    pub segment_digests: Vec<Digests>,
}

/// The core's implementation of the plugin ABI's host services for one extraction.
pub(crate) struct ExtractHost<'r> {
    info: EvidenceInfo,
    root: PathBuf,
    case: CaseFolder,
    hashes: Vec<HashAlgorithm>,
    plugin: String,
    cancel: Arc<AtomicBool>,
    observer: &'r dyn Observer,
    run: Mutex<&'r mut Run>,
    evidence: EvidenceAccess,
    sources: Mutex<HashMap<u64, Arc<Mutex<OpenSource>>>>,
    outputs: Mutex<HashMap<u64, Arc<Mutex<Output>>>>,
    artifacts: Mutex<BTreeMap<String, ArtifactFile>>,
    manifest: Mutex<Manifest>,
    /// Digests of each evidence file a folder plugin read and closed, so an
    /// entry decoded from one (an iTunes backup blob) can name the hash of
    /// its source as received beside its own.
    sources_read: Mutex<HashMap<String, Digests>>,
    /// Folders of a folder evidence already found to be real directories
    /// (not links), so each call checks only the components below the
    /// deepest known one: checking every ancestor each time made a walk
    /// cubic in the depth (minutes for 2 000 levels).
    real_dirs: Mutex<std::collections::HashSet<PathBuf>>,
    next_handle: AtomicU64,
    /// Bytes written to the case so far, and when the free space was last checked.
    written: AtomicU64,
    space_checked_at: AtomicU64,
    min_free: u64,
    out_of_space: AtomicBool,
    password: Option<Arc<dyn crate::extract::PasswordSource>>,
    isolation: Option<crate::isolate::Isolation>,
    resume: Option<Arc<crate::resume::ResumeFiles>>,
    /// Entries ended incomplete because the run was interrupted.
    interrupted: Mutex<Vec<Value>>,
    /// The region-hashing thread, once a plugin names an evidence range.
    regions: Mutex<Option<RegionWorker>>,
    /// The file-hashing thread's queue (sequential plugins only), its
    /// receiving end until the thread starts, and spare buffers coming back.
    file_jobs: Mutex<Option<SyncSender<FileJob>>>,
    file_job_rx: Mutex<Option<FileJobInbox>>,
    spare: Mutex<Option<Receiver<Vec<u8>>>>,
}

/// The file-hashing thread's end of its queues.
type FileJobInbox = (Receiver<FileJob>, Sender<Vec<u8>>);

/// Locks a mutex even if a plugin thread panicked while holding it: the
/// panic was caught at the ABI boundary and what is recorded stays valid.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<'r> ExtractHost<'r> {
    pub(crate) fn new(
        run: &'r mut Run,
        setup: &HostSetup<'_>,
        observer: &'r dyn Observer,
    ) -> io::Result<ExtractHost<'r>> {
        let ev = setup.evidence;
        let is_dir = ev.kind() == EvidenceKind::Folder;
        let evidence = if is_dir {
            EvidenceAccess::Folder
        } else if setup.random_access {
            let hashed = Arc::new(AtomicU64::new(0));
            let worker = hash_in_background(ev, setup.hashes, hashed.clone())?;
            EvidenceAccess::Random {
                file: ev.reader()?,
                hashed,
                worker: Mutex::new(Some(worker)),
            }
        } else {
            EvidenceAccess::Sequential(Box::new(Mutex::new(HashedSource::threaded(
                ev.reader()?,
                setup.hashes,
            )?)))
        };
        let (file_jobs, file_job_rx, spare) = if setup.random_access {
            (None, None, None)
        } else {
            let (jobs, job_rx) = std::sync::mpsc::sync_channel(FILE_HASH_QUEUE);
            let (give_back, spare) = std::sync::mpsc::channel();
            (Some(jobs), Some((job_rx, give_back)), Some(spare))
        };
        Ok(ExtractHost {
            info: EvidenceInfo {
                name: ev.path().as_os_str().as_encoded_bytes().to_vec(),
                size: if is_dir { 0 } else { ev.size() },
                is_dir,
                threads: setup.threads.max(1),
            },
            root: ev.path().to_owned(),
            case: setup.case.clone(),
            hashes: setup.hashes.to_vec(),
            plugin: setup.plugin.to_owned(),
            cancel: setup.cancel.clone(),
            observer,
            run: Mutex::new(run),
            evidence,
            sources: Mutex::new(HashMap::new()),
            outputs: Mutex::new(HashMap::new()),
            artifacts: Mutex::new(BTreeMap::new()),
            manifest: Mutex::new(Manifest {
                lines: Vec::new(),
                files: 0,
                bytes: 0,
            }),
            sources_read: Mutex::new(HashMap::new()),
            real_dirs: Mutex::new(std::collections::HashSet::new()),
            next_handle: AtomicU64::new(0),
            written: AtomicU64::new(0),
            space_checked_at: AtomicU64::new(0),
            min_free: setup.min_free,
            out_of_space: AtomicBool::new(false),
            password: setup.password.clone(),
            isolation: setup.isolation.filter(|i| i.formats).cloned(),
            resume: setup.resume.clone(),
            interrupted: Mutex::new(Vec::new()),
            regions: Mutex::new(None),
            file_jobs: Mutex::new(file_jobs),
            file_job_rx: Mutex::new(file_job_rx),
            spare: Mutex::new(spare),
        })
    }

    /// Runs `plugin` against this host, with the file-hashing thread
    /// alongside when the plugin is sequential. Entries the plugin left
    /// open are ended as incomplete before the thread is joined.
    pub(crate) fn run(&self, plugin: &crate::plugin::LoadedPlugin) -> Status {
        let jobs = lock(&self.file_job_rx).take();
        std::thread::scope(|scope| {
            if let Some((jobs, give_back)) = jobs {
                let spawned = std::thread::Builder::new()
                    .name("exhibit-file-hash".into())
                    .spawn_scoped(scope, move || self.hash_files(jobs, give_back));
                if spawned.is_err() {
                    // No thread: hash on the writing thread instead.
                    lock(&self.file_jobs).take();
                }
            }
            let (status, unfinished_note): (Status, &[u8]) = match &self.isolation {
                Some(iso) => {
                    let input = String::from_utf8_lossy(&self.info.name).into_owned();
                    let ended = crate::isolate::run(iso, plugin, self, &self.cancel, &input);
                    if let Some(failure) = &ended.failure {
                        self.log(
                            level::ERROR,
                            ended.status,
                            abi::NO_OFFSET,
                            failure.as_bytes(),
                        );
                    }
                    let note: &[u8] = if ended.failure.is_some() {
                        b"the plugin's process ended before this entry was complete"
                    } else {
                        b"the plugin returned without ending this entry"
                    };
                    (ended.status, note)
                }
                None => (
                    plugin.run(self),
                    b"the plugin returned without ending this entry",
                ),
            };
            let open: Vec<(u64, Arc<Mutex<Output>>)> = lock(&self.outputs).drain().collect();
            for (handle, out) in open {
                let out = match Arc::try_unwrap(out) {
                    Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
                    Err(_) => continue,
                };
                self.finish_output(handle, out, Status::CORRUPT, unfinished_note);
            }
            // The last sender: the hashing thread ends once its queue is drained.
            lock(&self.file_jobs).take();
            status
        })
    }

    /// The file-hashing thread: hashes queued chunks per entry and records
    /// each entry when it ends, in the order the entries ended.
    fn hash_files(&self, jobs: Receiver<FileJob>, give_back: Sender<Vec<u8>>) {
        let mut hashers: HashMap<u64, MultiHasher> = HashMap::new();
        for job in jobs {
            match job {
                FileJob::Data(handle, buf) => {
                    hashers
                        .entry(handle)
                        .or_insert_with(|| MultiHasher::new(&self.hashes))
                        .update(&buf);
                    // The writer may be gone at the end; the buffer is then freed.
                    let _ = give_back.send(buf);
                }
                FileJob::End(handle, finished) => {
                    let digests = hashers
                        .remove(&handle)
                        .unwrap_or_else(|| MultiHasher::new(&self.hashes))
                        .finish();
                    self.record_file(*finished, digests);
                }
            }
        }
    }

    /// A buffer for a chunk on its way to the file-hashing thread.
    fn spare_buffer(&self, len: usize) -> Vec<u8> {
        let reused = lock(&self.spare).as_ref().and_then(|s| s.try_recv().ok());
        let mut buf = reused.unwrap_or_else(|| Vec::with_capacity(len));
        buf.clear();
        buf
    }

    fn handle(&self) -> u64 {
        self.next_handle.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Records an entry in the custody log; `Status::IO` if the log cannot be written.
    fn note(&self, act: &str, details: Value) -> Status {
        match lock(&self.run).note(act, details) {
            Ok(()) => Status::OK,
            Err(e) => {
                tracing::error!("cannot write the custody log: {e}");
                Status::IO
            }
        }
    }

    /// Records a failure of the host's own (write error, bad call) and
    /// returns `status` for the plugin.
    fn fail(&self, status: Status, message: String, mut details: Value) -> Status {
        self.observer.problem(true, &message);
        details["plugin"] = json!(self.plugin);
        if lock(&self.run).error(message, details).is_err() {
            return Status::IO;
        }
        status
    }

    /// True once the examiner asked the run to stop (the host's own stop
    /// for a full disk is not an interruption).
    fn is_interrupted(&self) -> bool {
        self.cancel.load(Ordering::SeqCst) && !self.out_of_space.load(Ordering::SeqCst)
    }

    /// Stops the run because the case disk is (nearly) full.
    fn stop_for_space(&self, message: String, details: Value) -> Status {
        if !self.out_of_space.swap(true, Ordering::SeqCst) {
            self.cancel.store(true, Ordering::SeqCst);
            self.fail(Status::IO, message, details);
        }
        Status::IO
    }

    /// Free bytes on the case disk, above the reserve.
    fn usable_space(&self) -> Option<(u64, u64)> {
        let free = fs4::available_space(self.case.root()).ok()?;
        Some((free, free.saturating_sub(self.min_free)))
    }

    /// Resolves a `/`-separated path of the evidence folder, refusing `..`
    /// and any symbolic link on the way, so a plugin cannot read outside it.
    fn folder_path(&self, rel: &[u8]) -> Result<PathBuf, Status> {
        if !self.info.is_dir {
            return Err(Status::UNSUPPORTED);
        }
        let parts: Vec<&[u8]> = rel
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty())
            .collect();
        if parts.iter().any(|p| *p == b".." || *p == b".") {
            return Err(Status::INVALID);
        }
        let mut path = self.root.clone();
        path.extend(parts.iter().map(|p| os_str(p)));
        // Walk up to the deepest folder known to be real, then check each
        // component below it, top down.
        let mut known = parts.len();
        let mut up = path.clone();
        {
            let real = lock(&self.real_dirs);
            while known > 0 && !real.contains(&up) {
                up.pop();
                known -= 1;
            }
        }
        for part in &parts[known..] {
            up.push(os_str(part));
            match std::fs::symlink_metadata(&up) {
                Ok(m) if m.file_type().is_symlink() => return Err(Status::INVALID),
                Ok(m) if m.is_dir() => {
                    lock(&self.real_dirs).insert(up.clone());
                }
                _ => {}
            }
        }
        Ok(path)
    }

    fn close_source(&self, handle: u64) -> Status {
        let Some(open) = lock(&self.sources).remove(&handle) else {
            return Status::INVALID;
        };
        let mut open = lock(&open);
        match open.source.finish() {
            Ok((digests, _, host_read)) => {
                let sha = digests.get("sha256").cloned().unwrap_or_default();
                lock(&self.sources_read).insert(open.path.clone(), digests);
                let mut m = lock(&self.manifest);
                m.bytes += host_read;
                m.lines.push(format!("{sha}  {}\n", open.path));
                m.files += 1;
                Status::OK
            }
            Err(e) => {
                let message = format!("cannot finish reading evidence file {}: {e}", open.path);
                let details = json!({"source": open.path});
                drop(open);
                self.fail(Status::IO, message, details)
            }
        }
    }

    fn finish_output(&self, handle: u64, mut out: Output, status: Status, note: &[u8]) -> Status {
        let note = String::from_utf8_lossy(note).into_owned();
        let name = RawBytes(std::mem::take(&mut out.name));
        if out.meta.kind == EntryKind::Region {
            return self.finish_region(name, out, status, note);
        }
        if out.meta.kind != EntryKind::File {
            lock(&self.run).counts.entries += 1;
            let details = json!({
                "name": name,
                "kind": out.meta.kind,
                "path": out.path,
                "meta": out.meta,
            });
            return self.note(action::ENTRY_RECORDED, details);
        }
        if let Some(writer) = out.writer.take() {
            match writer.into_inner() {
                Ok(file) => {
                    if let Some(mtime) = out.meta.mtime.and_then(to_system_time) {
                        // Best effort: the examiner's file browser shows the
                        // dump's time; the log keeps it regardless.
                        let _ = file.set_modified(mtime);
                    }
                }
                Err(e) => {
                    out.write_error.get_or_insert_with(|| e.error().to_string());
                }
            }
        }
        let finished = Finished {
            name,
            meta: out.meta,
            path: out.path.unwrap_or_default(),
            written: out.written,
            write_error: out.write_error,
            status,
            note,
            recheck: out.recheck,
            replaces: out.replaces,
        };
        match out.digest {
            FileDigest::Inline(hasher) => self.record_file(finished, (*hasher).finish()),
            FileDigest::Queued(jobs) => match jobs.send(FileJob::End(handle, Box::new(finished))) {
                Ok(()) => Status::OK,
                Err(std::sync::mpsc::SendError(job)) => {
                    let path = match job {
                        FileJob::End(_, finished) => finished.path,
                        FileJob::Data(..) => String::new(),
                    };
                    let message =
                        format!("the file-hashing thread stopped before {path} was hashed");
                    self.fail(Status::IO, message, json!({"path": path}))
                }
            },
        }
    }

    /// Writes the device facts a plugin found to `case/device.json`, hashed
    /// and logged like a record file.
    fn write_device_file(&self, device: &Value) {
        let mut text = match serde_json::to_vec_pretty(device) {
            Ok(text) => text,
            Err(_) => return,
        };
        text.push(b'\n');
        let path = self.case.root().join(DEVICE_FILE);
        if let Err(e) = std::fs::write(&path, &text) {
            self.fail(
                Status::IO,
                format!("cannot write {DEVICE_FILE}: {e}"),
                json!({}),
            );
            return;
        }
        let mut hasher = MultiHasher::new(&self.hashes);
        hasher.update(&text);
        self.note(
            action::ARTIFACT_WRITTEN,
            json!({
                "path": DEVICE_FILE,
                "kind": "device",
                "size": text.len(),
                "hashes": hasher.finish(),
                "plugin": self.plugin,
            }),
        );
    }

    /// Records a written file with its digests, and what was wrong with it.
    fn record_file(&self, f: Finished, digests: Digests) -> Status {
        let complete = f.status == Status::OK && f.write_error.is_none();
        // The plugin ends an entry it was delivering when told to stop as
        // failed; that is the interruption, not damage in the evidence.
        let interrupted = !complete && self.is_interrupted();
        if interrupted {
            lock(&self.interrupted).push(json!({
                "name": f.name,
                "path": f.path,
                "written": f.written,
                "declared_size": f.meta.size,
                "offset": f.meta.offset,
                "rechecking": f.recheck.is_some(),
            }));
        }
        if let Some(logged) = &f.recheck {
            return self.record_recheck(&f, logged, &digests, interrupted);
        }
        let mut details = json!({
            "name": f.name,
            "path": f.path,
            "size": f.written,
            "hashes": digests,
            "complete": complete,
            "meta": f.meta,
        });
        if let Some(source) = declared_source(&f.meta) {
            // The evidence file this entry was decoded from (an encrypted
            // blob), hashed by the host as the plugin read it.
            let hashes = lock(&self.sources_read).remove(&source);
            details["source"] = json!({"path": source, "hashes": hashes});
        }
        if interrupted {
            details["interrupted"] = json!(true);
        }
        if let Some(replaces) = &f.replaces {
            details["replaces"] = replaces.clone();
        }
        {
            let mut run = lock(&self.run);
            run.counts.files += 1;
            run.counts.bytes += f.written;
            if run.note(action::FILE_EXTRACTED, details).is_err() {
                return Status::IO;
            }
        }
        self.observer.file_written(&f.path, f.written);
        let path = &f.path;
        let mut problems = Vec::new();
        if interrupted {
            problems.push(format!(
                "{path} is incomplete: the run was interrupted after {} bytes of it",
                f.written
            ));
        } else if f.status != Status::OK {
            let why = if f.note.is_empty() {
                f.status.name().into_owned()
            } else {
                f.note.clone()
            };
            problems.push(format!("{path} is incomplete ({}): {why}", f.status.name()));
        }
        if let Some(e) = &f.write_error {
            problems.push(format!("writing {path} failed: {e}"));
        }
        if let Some(declared) = f
            .meta
            .size
            .filter(|&d| d != f.written && f.status == Status::OK)
        {
            problems.push(format!(
                "plugin declared {declared} bytes for {path} but delivered {}",
                f.written
            ));
        }
        for message in problems {
            let mut details = json!({"path": path, "name": f.name, "offset": f.meta.offset});
            if interrupted {
                details["interrupted"] = json!(true);
            }
            if self.fail(Status::OK, message, details) != Status::OK {
                return Status::IO;
            }
        }
        Status::OK
    }

    /// On resume: an entry the earlier run extracted whole was delivered
    /// again; its bytes must hash to what the log recorded. The file on disk
    /// is left as it is either way.
    fn record_recheck(
        &self,
        f: &Finished,
        logged: &Digests,
        delivered: &Digests,
        interrupted: bool,
    ) -> Status {
        if interrupted {
            // Neither confirmed nor contradicted: the earlier file stands.
            return Status::OK;
        }
        let differs: Vec<&String> = logged
            .iter()
            .filter(|(alg, want)| {
                delivered
                    .get(*alg)
                    .is_some_and(|got| !got.eq_ignore_ascii_case(want))
            })
            .map(|(alg, _)| alg)
            .collect();
        let same = differs.is_empty()
            && f.status == Status::OK
            && logged.keys().any(|alg| delivered.contains_key(alg));
        if same {
            lock(&self.run).counts.confirmed += 1;
            let details = json!({
                "name": f.name,
                "path": f.path,
                "size": f.written,
                "hashes": delivered,
            });
            return self.note(action::FILE_CONFIRMED, details);
        }
        let message = format!(
            "{} was delivered again ({} bytes, sha256 {}{}) but the earlier run recorded sha256 {}: the file from the earlier run is kept unchanged",
            f.path,
            f.written,
            delivered.get("sha256").map_or("-", String::as_str),
            if f.status == Status::OK {
                String::new()
            } else {
                format!(", ended {}: {}", f.status.name(), f.note)
            },
            logged.get("sha256").map_or("-", String::as_str),
        );
        let details = json!({
            "path": f.path,
            "name": f.name,
            "offset": f.meta.offset,
            "logged": logged,
            "delivered": delivered,
        });
        self.fail(Status::OK, message, details)
    }

    /// Ends whatever the plugin left open and completes the evidence digests.
    pub(crate) fn close(self) -> io::Result<ClosedHost> {
        let sources: Vec<u64> = lock(&self.sources).keys().copied().collect();
        for handle in sources {
            self.close_source(handle);
        }
        self.record_queued_regions();
        let artifacts = std::mem::take(&mut *lock(&self.artifacts));
        for mut art in artifacts.into_values() {
            let flushed = art.writer.flush();
            let details = json!({
                "kind": art.kind,
                "path": art.path,
                "records": art.records,
                "size": art.bytes,
                "hashes": art.hasher.finish(),
            });
            lock(&self.run).note(action::ARTIFACT_WRITTEN, details)?;
            if let Err(e) = flushed {
                self.fail(
                    Status::IO,
                    format!("writing {} failed: {e}", art.path),
                    json!({}),
                );
            }
        }
        let out_of_space = self.out_of_space.load(Ordering::SeqCst);
        // An interrupted run does not read the rest of the evidence just to
        // hash it: the examiner asked it to stop, and a resumed run reads
        // and hashes the evidence again in full anyway.
        let interrupted = self.is_interrupted();
        let interrupted_entries = std::mem::take(&mut *lock(&self.interrupted));
        match self.evidence {
            EvidenceAccess::Sequential(source) if interrupted => {
                let mut source = (*source).into_inner().unwrap_or_else(|p| p.into_inner());
                let (digests, read) = source.finish_prefix()?;
                Ok(ClosedHost {
                    evidence_digests: digests,
                    evidence_bytes: read,
                    host_read: 0,
                    manifest_files: 0,
                    concurrent: false,
                    out_of_space,
                    evidence_complete: false,
                    interrupted_entries,
                    segment_digests: Vec::new(),
                })
            }
            EvidenceAccess::Random { hashed, .. } if interrupted => {
                // The background hashing thread is left to finish on its
                // own; its result is not waited for.
                Ok(ClosedHost {
                    evidence_digests: Digests::new(),
                    evidence_bytes: hashed.load(Ordering::Relaxed),
                    host_read: 0,
                    manifest_files: 0,
                    concurrent: true,
                    out_of_space,
                    evidence_complete: false,
                    interrupted_entries,
                    segment_digests: Vec::new(),
                })
            }
            EvidenceAccess::Folder if interrupted => {
                let m = self
                    .manifest
                    .into_inner()
                    .unwrap_or_else(|p| p.into_inner());
                Ok(ClosedHost {
                    evidence_digests: Digests::new(),
                    evidence_bytes: m.bytes,
                    host_read: 0,
                    manifest_files: m.files,
                    concurrent: false,
                    out_of_space,
                    evidence_complete: false,
                    interrupted_entries,
                    segment_digests: Vec::new(),
                })
            }
            EvidenceAccess::Sequential(source) => {
                let mut source = (*source).into_inner().unwrap_or_else(|p| p.into_inner());
                let (digests, total, host_read) = source.finish()?;
                self.observer.evidence_progress(total);
                Ok(ClosedHost {
                    segment_digests: source.segment_digests().to_vec(),
                    evidence_digests: digests,
                    evidence_bytes: total,
                    host_read,
                    manifest_files: 0,
                    concurrent: false,
                    out_of_space,
                    evidence_complete: true,
                    interrupted_entries: Vec::new(),
                })
            }
            EvidenceAccess::Random { worker, .. } => {
                let worker = worker.into_inner().unwrap_or_else(|p| p.into_inner());
                let (digests, total, segment_digests) = worker
                    .ok_or_else(|| io::Error::other("evidence hashing never started"))?
                    .join()
                    .map_err(|_| io::Error::other("the evidence hashing thread panicked"))??;
                self.observer.evidence_progress(total);
                Ok(ClosedHost {
                    evidence_digests: digests,
                    evidence_bytes: total,
                    host_read: total,
                    manifest_files: 0,
                    concurrent: true,
                    out_of_space,
                    evidence_complete: true,
                    interrupted_entries: Vec::new(),
                    segment_digests,
                })
            }
            EvidenceAccess::Folder => {
                let mut m = self
                    .manifest
                    .into_inner()
                    .unwrap_or_else(|p| p.into_inner());
                // Sorted by path: each line is "<64 hex digits>  <path>\n".
                m.lines.sort_by(|a, b| a.get(66..).cmp(&b.get(66..)));
                let mut hasher = MultiHasher::new(&self.hashes);
                for line in &m.lines {
                    hasher.update(line.as_bytes());
                }
                Ok(ClosedHost {
                    evidence_digests: hasher.finish(),
                    evidence_bytes: m.bytes,
                    host_read: 0,
                    manifest_files: m.files,
                    concurrent: false,
                    out_of_space,
                    evidence_complete: true,
                    interrupted_entries: Vec::new(),
                    segment_digests: Vec::new(),
                })
            }
        }
    }

    /// Appends `record` as one line of the case's record file `path`
    /// (created on first use, hashed as written, logged when the run
    /// closes).
    fn append_record(&self, kind: &str, path: &str, record: &Value) -> Status {
        let mut artifacts = lock(&self.artifacts);
        if !artifacts.contains_key(path) {
            let full = self.case.root().join(path);
            // A resumed run writes its record files again from the start.
            let created = full
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| match &self.resume {
                    Some(_) => self.case.rewrite_file(path),
                    None => std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&full),
                });
            match created {
                Ok(file) => {
                    artifacts.insert(
                        path.to_owned(),
                        ArtifactFile {
                            kind: kind.to_owned(),
                            path: path.to_owned(),
                            writer: BufWriter::new(file),
                            hasher: MultiHasher::new(&self.hashes),
                            records: 0,
                            bytes: 0,
                        },
                    );
                }
                Err(e) => {
                    drop(artifacts);
                    return self.fail(Status::IO, format!("cannot create {path}: {e}"), json!({}));
                }
            }
        }
        let Some(art) = artifacts.get_mut(path) else {
            return Status::IO;
        };
        let mut line = record.to_string().into_bytes();
        line.push(b'\n');
        match art.writer.write_all(&line) {
            Ok(()) => {
                art.hasher.update(&line);
                art.records += 1;
                art.bytes += line.len() as u64;
                Status::OK
            }
            Err(_) => Status::IO,
        }
    }

    /// Ends a region. One the plugin wrote nothing to names an evidence
    /// range: it goes to the region thread, which hashes it while the
    /// plugin goes on, and is recorded when the host closes. One the plugin
    /// streamed is recorded now, with the digests of what it wrote.
    fn finish_region(&self, name: RawBytes, out: Output, status: Status, note: String) -> Status {
        let meta = out.meta;
        let declared = meta.size.unwrap_or(0);
        if out.written == 0 && declared > 0 && meta.offset.is_some() {
            return self.queue_region(RegionJob { name, meta });
        }
        let digests = match out.digest {
            FileDigest::Inline(hasher) => (*hasher).finish(),
            FileDigest::Queued(_) => Digests::new(),
        };
        let problem = (status != Status::OK).then(|| {
            format!(
                "the plugin ended it with {} after {} bytes: {note}",
                status.name(),
                out.written
            )
        });
        self.record_region(RegionHashed {
            name,
            meta,
            digests,
            hashed: out.written,
            from_evidence: false,
            problem,
        })
    }

    /// Hands an evidence range to the region thread, starting it on first
    /// use; without a thread the range is hashed here.
    fn queue_region(&self, job: RegionJob) -> Status {
        let mut worker = lock(&self.regions);
        if worker.is_none() {
            match self.spawn_region_thread() {
                Ok(started) => *worker = Some(started),
                Err(e) => {
                    drop(worker);
                    tracing::warn!("no region-hashing thread ({e}); hashing on the plugin's");
                    let done = match Evidence::open(&self.root).and_then(|ev| ev.reader()) {
                        Ok(reader) => hash_region(&reader, job, &self.hashes, &self.cancel),
                        Err(e) => unhashed(job, &e),
                    };
                    return self.record_region(done);
                }
            }
        }
        let sent = worker.as_ref().is_some_and(|w| w.jobs.send(job).is_ok());
        match sent {
            true => Status::OK,
            false => {
                let message = "the region-hashing thread stopped".to_owned();
                self.fail(Status::IO, message, json!({}))
            }
        }
    }

    fn spawn_region_thread(&self) -> io::Result<RegionWorker> {
        // A reader of its own: the plugin's reads and the evidence digest
        // keep theirs.
        let reader = Evidence::open(&self.root)?.reader()?;
        let (jobs, inbox) = std::sync::mpsc::channel::<RegionJob>();
        let hashes = self.hashes.clone();
        let cancel = self.cancel.clone();
        let thread = std::thread::Builder::new()
            .name("exhibit-regions".into())
            .spawn(move || {
                inbox
                    .into_iter()
                    .map(|job| hash_region(&reader, job, &hashes, &cancel))
                    .collect()
            })?;
        Ok(RegionWorker { jobs, thread })
    }

    /// Logs a hashed region (`region_hashed`, an error when it is short)
    /// and adds it to `partitions.jsonl`.
    fn record_region(&self, r: RegionHashed) -> Status {
        let record = json!({
            "name": r.name,
            "offset": r.meta.offset,
            "size": r.hashed,
            "hashes": r.digests,
            "hashed_from": if r.from_evidence { "evidence" } else { "plugin" },
            "complete": r.problem.is_none(),
            "details": r.meta.extra,
        });
        if let Some(problem) = &r.problem {
            let message = format!("region {}: {problem}", String::from_utf8_lossy(&r.name.0));
            let details = json!({"name": r.name, "offset": r.meta.offset});
            if self.fail(Status::OK, message, details) != Status::OK {
                return Status::IO;
            }
        }
        if self.append_record(PARTITIONS_KIND, PARTITIONS_FILE, &record) != Status::OK {
            return Status::IO;
        }
        self.note(action::REGION_HASHED, record)
    }

    /// Waits for the region thread and records what it hashed, in the
    /// order the plugin named the regions.
    fn record_queued_regions(&self) {
        let Some(worker) = lock(&self.regions).take() else {
            return;
        };
        drop(worker.jobs);
        match worker.thread.join() {
            Ok(done) => {
                for region in done {
                    self.record_region(region);
                }
            }
            Err(_) => {
                let message = "the region-hashing thread failed: regions are not recorded";
                self.fail(Status::IO, message.to_owned(), json!({}));
            }
        }
    }

    fn output(&self, file: u64) -> Option<Arc<Mutex<Output>>> {
        lock(&self.outputs).get(&file).cloned()
    }

    /// Counts bytes written and, every [`SPACE_CHECK_EVERY`], checks the
    /// case disk still has more than the reserve.
    fn account(&self, n: u64, path: &str) -> Status {
        let total = self.written.fetch_add(n, Ordering::Relaxed) + n;
        let last = self.space_checked_at.load(Ordering::Relaxed);
        if total.saturating_sub(last) < SPACE_CHECK_EVERY
            || self
                .space_checked_at
                .compare_exchange(last, total, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Status::OK;
        }
        match self.usable_space() {
            Some((free, 0)) => self.stop_for_space(
                format!(
                    "the case disk is nearly full ({free} bytes free, reserve {}): extraction stopped while writing {path}, after {total} bytes in all",
                    self.min_free
                ),
                json!({"path": path, "free": free, "reserve": self.min_free, "written": total}),
            ),
            _ => Status::OK,
        }
    }
}

/// Why an entry did not land at the path its name suggests, if it did not:
/// a `..` step (neutralised), or a name already taken (a duplicate or a
/// file/directory clash). Plain absolute names are normal in dumps and
/// are not worth a warning.
fn placement_note(name: &[u8], components: &[String], path: &str) -> Option<String> {
    let shown = String::from_utf8_lossy(name);
    if name.split(|&b| b == b'/').any(|c| c == b"..") {
        return Some(format!(
            "entry name {shown:?} climbs out of the dump's root with `..`; written inside the case as {path}"
        ));
    }
    let natural = std::iter::once(FILES_DIR)
        .chain(components.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("/");
    (natural != path && !components.is_empty()).then(|| {
        format!(
            "{natural} is already taken (a duplicate or a file/folder clash); {shown:?} written as {path}"
        )
    })
}

/// The evidence-relative path of the file an entry was decoded from, when
/// the plugin names one: `extra.source`, or `source` inside one of `extra`'s
/// objects (`extra.ios_backup.source`).
fn declared_source(meta: &EntryMeta) -> Option<String> {
    if let Some(Value::String(s)) = meta.extra.get("source") {
        return Some(s.clone());
    }
    meta.extra
        .values()
        .find_map(|v| v.get("source").and_then(Value::as_str).map(str::to_owned))
}

fn to_system_time(t: exhibit_plugin_sdk::Time) -> Option<std::time::SystemTime> {
    let base = std::time::UNIX_EPOCH;
    let nanos = Duration::from_nanos(u64::from(t.nanos));
    if t.secs >= 0 {
        base.checked_add(Duration::from_secs(t.secs.unsigned_abs()))?
            .checked_add(nanos)
    } else {
        base.checked_sub(Duration::from_secs(t.secs.unsigned_abs()))?
            .checked_add(nanos)
    }
}

#[cfg(unix)]
fn os_str(bytes: &[u8]) -> &std::ffi::OsStr {
    std::os::unix::ffi::OsStrExt::from_bytes(bytes)
}

#[cfg(not(unix))]
fn os_str(bytes: &[u8]) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(std::str::from_utf8(bytes).unwrap_or("\u{fffd}"))
}

impl HostServices for ExtractHost<'_> {
    fn evidence(&self) -> &EvidenceInfo {
        &self.info
    }

    fn read_at(&self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Status> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Status::CANCELLED);
        }
        let (result, label) = if handle == abi::EVIDENCE_HANDLE {
            match &self.evidence {
                EvidenceAccess::Sequential(source) => {
                    let mut source = lock(source);
                    let r = source.read_at(offset, buf);
                    self.observer.evidence_progress(source.hashed_upto());
                    (r, String::new())
                }
                EvidenceAccess::Random { file, hashed, .. } => {
                    self.observer
                        .evidence_progress(hashed.load(Ordering::Relaxed));
                    (file.read_at(offset, buf), String::new())
                }
                EvidenceAccess::Folder => return Err(Status::UNSUPPORTED),
            }
        } else {
            let Some(open) = lock(&self.sources).get(&handle).cloned() else {
                return Err(Status::INVALID);
            };
            let mut open = lock(&open);
            let before = open.source.hashed_upto();
            let r = open.source.read_at(offset, buf);
            let read = open.source.hashed_upto() - before;
            let progress = {
                let mut m = lock(&self.manifest);
                m.bytes += read;
                m.bytes
            };
            self.observer.evidence_progress(progress);
            (r, open.path.clone())
        };
        result.map_err(|e| {
            let what = if label.is_empty() {
                "the evidence".to_owned()
            } else {
                label
            };
            let message = format!("reading {what} at offset {offset:#x} failed: {e}");
            self.fail(Status::IO, message, json!({"offset": offset}))
        })
    }

    fn list_dir(&self, path: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Status {
        let dir = match self.folder_path(path) {
            Ok(dir) => dir,
            Err(status) => return status,
        };
        let read = match std::fs::read_dir(&dir) {
            Ok(read) => read,
            Err(_) => return Status::IO,
        };
        let mut entries: Vec<_> = read.filter_map(Result::ok).collect();
        entries.sort_by(|a, b| {
            a.file_name()
                .as_encoded_bytes()
                .cmp(b.file_name().as_encoded_bytes())
        });
        for entry in entries {
            let meta = match EntryMeta::from_path(&entry.path()) {
                Ok(meta) => meta,
                Err(e) => {
                    // One unreadable entry must not hide its siblings.
                    let message = format!(
                        "cannot read the metadata of {}: {e}",
                        entry.path().display()
                    );
                    self.fail(Status::OK, message, json!({}));
                    continue;
                }
            };
            let Ok(json) = serde_json::to_vec(&meta) else {
                return Status::INVALID;
            };
            if !visit(entry.file_name().as_encoded_bytes(), &json) {
                break;
            }
        }
        Status::OK
    }

    fn open(&self, path: &[u8]) -> Result<u64, Status> {
        let full = self.folder_path(path)?;
        let file = open_read_only(&full).map_err(|_| Status::IO)?;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Err(Status::INVALID);
        }
        let handle = self.handle();
        let open = OpenSource {
            path: String::from_utf8_lossy(path).into_owned(),
            source: HashedSource::new(file, &self.hashes),
        };
        lock(&self.sources).insert(handle, Arc::new(Mutex::new(open)));
        Ok(handle)
    }

    fn close(&self, handle: u64) -> Status {
        self.close_source(handle)
    }

    fn begin_file(&self, name: &[u8], meta_json: &[u8]) -> Result<u64, Status> {
        if self.out_of_space.load(Ordering::Relaxed) {
            return Err(Status::IO);
        }
        let shown = String::from_utf8_lossy(name);
        let raw = || json!({"name": RawBytes(name.to_vec())});
        let meta: EntryMeta = serde_json::from_slice(meta_json).map_err(|e| {
            let message = format!(
                "plugin `{}` sent invalid metadata for {shown:?}: {e}",
                self.plugin
            );
            self.fail(Status::INVALID, message, raw())
        })?;
        if let (EntryKind::File, Some(declared)) = (meta.kind, meta.size)
            && let Some((free, usable)) = self.usable_space()
            && declared > usable
        {
            let message = format!(
                "{shown:?} declares {declared} bytes but the case disk has only {free} bytes free (reserve {}): extraction stopped before it",
                self.min_free
            );
            let details = json!({"name": RawBytes(name.to_vec()), "needed": declared, "free": free, "reserve": self.min_free, "offset": meta.offset});
            return Err(self.stop_for_space(message, details));
        }
        let components = sanitize(name);
        let (mut recheck, mut replaces) = (None, None);
        let (path, writer) = match meta.kind {
            EntryKind::File => {
                let placed = match &self.resume {
                    Some(resume) => resume.place(&self.case, &components, name),
                    None => self
                        .case
                        .create_file(&components)
                        .map(|(path, file)| Placed::Write {
                            path,
                            file,
                            replaces: None,
                        }),
                };
                match placed {
                    Ok(Placed::Write {
                        path,
                        file,
                        replaces: before,
                    }) => {
                        replaces = before;
                        (Some(path), Some(BufWriter::with_capacity(256 * 1024, file)))
                    }
                    Ok(Placed::Recheck { path, digests }) => {
                        recheck = Some(digests);
                        (Some(path), None)
                    }
                    Err(e) => {
                        let message = format!("cannot create the case file for {shown:?}: {e}");
                        return Err(self.fail(Status::IO, message, raw()));
                    }
                }
            }
            EntryKind::Dir if !components.is_empty() => match self.case.create_dir(&components) {
                Ok(path) => (Some(path), None),
                Err(e) => {
                    let message = format!("cannot create the case folder for {shown:?}: {e}");
                    return Err(self.fail(Status::IO, message, raw()));
                }
            },
            _ => (None, None),
        };
        if let Some(path) = &path
            && let Some(message) = placement_note(name, &components, path)
        {
            let details = json!({
                "plugin": self.plugin,
                "name": RawBytes(name.to_vec()),
                "path": path,
                "offset": meta.offset,
                "message": message,
            });
            self.observer.problem(false, &message);
            if self.note(action::WARNING, details) != Status::OK {
                return Err(Status::IO);
            }
        }
        if let (Some(path), Some(before)) = (&path, &replaces)
            && before["changed"] == json!(true)
        {
            let message = format!(
                "{path} no longer matched its custody entry (sha256 now {}, logged {}); it is written again",
                before["sha256_on_disk"].as_str().unwrap_or("-"),
                before["sha256"].as_str().unwrap_or("-")
            );
            self.observer.problem(false, &message);
            let details = json!({"plugin": self.plugin, "path": path, "message": message});
            if self.note(action::WARNING, details) != Status::OK {
                return Err(Status::IO);
            }
        }
        let handle = self.handle();
        // A region is hashed where it is written: it is recorded when it
        // ends, not by the file-hashing thread.
        let digest = match lock(&self.file_jobs).as_ref() {
            Some(jobs) if meta.kind != EntryKind::Region => FileDigest::Queued(jobs.clone()),
            _ => FileDigest::Inline(Box::new(MultiHasher::new(&self.hashes))),
        };
        let output = Output {
            name: name.to_vec(),
            meta,
            path,
            writer,
            digest,
            written: 0,
            write_error: None,
            recheck,
            replaces,
        };
        lock(&self.outputs).insert(handle, Arc::new(Mutex::new(output)));
        Ok(handle)
    }

    fn write(&self, file: u64, data: &[u8]) -> Status {
        let Some(out) = self.output(file) else {
            return Status::INVALID;
        };
        let mut out = lock(&out);
        let out = &mut *out;
        let region = out.meta.kind == EntryKind::Region;
        if out.writer.is_none() && out.recheck.is_none() && !region {
            let message = format!(
                "plugin `{}` wrote bytes to {:?}, which is not a regular file",
                self.plugin,
                String::from_utf8_lossy(&out.name)
            );
            return self.fail(Status::INVALID, message, json!({}));
        }
        if out.write_error.is_some() || self.out_of_space.load(Ordering::Relaxed) {
            return Status::IO;
        }
        // A file being rechecked on resume is only hashed, never rewritten.
        let stored = match out.writer.as_mut() {
            Some(writer) => writer.write_all(data),
            None => Ok(()),
        };
        match stored {
            Ok(()) => {
                match &mut out.digest {
                    FileDigest::Inline(hasher) => hasher.update(data),
                    FileDigest::Queued(jobs) => {
                        let mut buf = self.spare_buffer(data.len());
                        buf.extend_from_slice(data);
                        if jobs.send(FileJob::Data(file, buf)).is_err() {
                            out.write_error = Some("the file-hashing thread stopped".into());
                            return Status::IO;
                        }
                    }
                }
                out.written += data.len() as u64;
                if region {
                    return Status::OK;
                }
                let path = out.path.as_deref().unwrap_or_default();
                self.account(data.len() as u64, path)
            }
            Err(e) => {
                out.write_error = Some(e.to_string());
                Status::IO
            }
        }
    }

    fn end_file(&self, file: u64, status: Status, note: &[u8]) -> Status {
        let Some(out) = lock(&self.outputs).remove(&file) else {
            return Status::INVALID;
        };
        // The ABI makes calls on one handle sequential, so nobody else holds it.
        let out = match Arc::try_unwrap(out) {
            Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
            Err(_) => return Status::INVALID,
        };
        self.finish_output(file, out, status, note)
    }

    fn emit_record(&self, kind: &[u8], record_json: &[u8]) -> Status {
        if !crate::plugin::valid_record_kind(kind) {
            let message = format!(
                "plugin `{}` emitted a record of invalid kind {:?}",
                self.plugin,
                String::from_utf8_lossy(kind)
            );
            return self.fail(Status::INVALID, message, json!({}));
        }
        let record: Value = match serde_json::from_slice(record_json) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                let message = format!(
                    "plugin `{}` emitted a record that is not a JSON object",
                    self.plugin
                );
                return self.fail(Status::INVALID, message, json!({}));
            }
        };
        let kind = String::from_utf8_lossy(kind).into_owned();
        // A format plugin's deleted entries belong to the case, not to the
        // decoded artifacts.
        let path = if kind == DELETED_KIND {
            DELETED_FILE.to_owned()
        } else {
            format!("{ARTIFACTS_DIR}/{kind}.jsonl")
        };
        self.append_record(&kind, &path, &record)
    }

    fn log(&self, lvl: u32, status: Status, offset: u64, msg: &[u8]) {
        let message = String::from_utf8_lossy(msg).into_owned();
        let act = match lvl {
            level::DEBUG => return tracing::debug!(plugin = %self.plugin, "{message}"),
            level::INFO => return tracing::info!(plugin = %self.plugin, "{message}"),
            level::PROGRESS => {
                self.observer.busy(&message);
                return tracing::info!(plugin = %self.plugin, "{message}");
            }
            level::FACT => {
                let fact: Value =
                    serde_json::from_str(&message).unwrap_or(json!({"text": message}));
                let details = json!({
                    "plugin": self.plugin,
                    "what": fact.get("what").cloned().unwrap_or(Value::Null),
                    "details": fact.get("details").cloned().unwrap_or(fact.clone()),
                });
                if details["what"] == "device" {
                    self.write_device_file(&details["details"]);
                }
                self.note(action::EVIDENCE_DESCRIBED, details);
                return;
            }
            // The plugin's report that it stopped as asked: run_interrupted
            // records the stop, so it is not an error of its own.
            _ if status == Status::CANCELLED && self.is_interrupted() => {
                return tracing::info!(plugin = %self.plugin, "{message}");
            }
            level::WARN => action::WARNING,
            _ => action::ERROR,
        };
        self.observer.problem(act == action::ERROR, &message);
        let details = json!({
            "plugin": self.plugin,
            "status": status.name(),
            "offset": (offset != abi::NO_OFFSET).then_some(offset),
            "message": message,
        });
        self.note(act, details);
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn password(&self) -> Result<Option<String>, Status> {
        let Some(source) = &self.password else {
            return Ok(None);
        };
        let asked = source.password(&self.root);
        let details = json!({
            "plugin": self.plugin,
            "for": self.root.to_string_lossy(),
            "source": asked.as_ref().map(|(_, from)| *from),
        });
        if self.note(action::PASSWORD_REQUESTED, details) != Status::OK {
            return Err(Status::IO);
        }
        Ok(asked.map(|(password, _)| password))
    }
}
