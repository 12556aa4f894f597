//! Digests computed by the core as bytes stream past: SHA-256 always, MD5 and
//! SHA-1 on request. Plugins never hash; everything that lands in the custody
//! log was hashed here.

use sha2::Digest;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A digest algorithm exhibit can compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashAlgorithm {
    /// MD5 (for comparison with older acquisition records only).
    Md5,
    /// SHA-1 (likewise).
    Sha1,
    /// SHA-256, always computed.
    Sha256,
}

impl HashAlgorithm {
    /// The lowercase name used in the custody log and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "md5",
            HashAlgorithm::Sha1 => "sha1",
            HashAlgorithm::Sha256 => "sha256",
        }
    }

    /// Parses a comma-separated list (`"md5,sha256"`); SHA-256 is always
    /// included whatever the list says.
    pub fn parse_list(list: &str) -> Result<Vec<HashAlgorithm>, UnknownAlgorithm> {
        let mut out = vec![HashAlgorithm::Sha256];
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(part.parse()?);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A hash algorithm name exhibit does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hash algorithm `{0}` (known: md5, sha1, sha256)")]
pub struct UnknownAlgorithm(pub String);

impl FromStr for HashAlgorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "md5" => Ok(HashAlgorithm::Md5),
            "sha1" => Ok(HashAlgorithm::Sha1),
            "sha256" => Ok(HashAlgorithm::Sha256),
            _ => Err(UnknownAlgorithm(s.to_owned())),
        }
    }
}

/// Finished digests by algorithm name, lowercase hex; serialises as
/// `{"md5": "…", "sha256": "…"}`.
pub type Digests = BTreeMap<String, String>;

/// Several digests fed in one pass over the bytes.
#[derive(Clone)]
pub struct MultiHasher {
    sha256: sha2::Sha256,
    md5: Option<md5::Md5>,
    sha1: Option<sha1::Sha1>,
}

impl fmt::Debug for MultiHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MultiHasher")
    }
}

impl MultiHasher {
    /// A hasher for `algorithms` (SHA-256 is computed regardless).
    pub fn new(algorithms: &[HashAlgorithm]) -> MultiHasher {
        MultiHasher {
            sha256: sha2::Sha256::new(),
            md5: algorithms.contains(&HashAlgorithm::Md5).then(md5::Md5::new),
            sha1: algorithms
                .contains(&HashAlgorithm::Sha1)
                .then(sha1::Sha1::new),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        if let Some(h) = &mut self.md5 {
            h.update(data);
        }
        if let Some(h) = &mut self.sha1 {
            h.update(data);
        }
    }

    /// The digests of everything fed.
    pub fn finish(self) -> Digests {
        let mut out = Digests::new();
        out.insert("sha256".into(), hex::encode(self.sha256.finalize()));
        if let Some(h) = self.md5 {
            out.insert("md5".into(), hex::encode(h.finalize()));
        }
        if let Some(h) = self.sha1 {
            out.insert("sha1".into(), hex::encode(h.finalize()));
        }
        out
    }
}

/// Chunks in flight to a [`HashThread`]; bounds its memory to this many
/// buffers of the caller's read size.
const HASH_QUEUE: usize = 8;

/// A [`MultiHasher`] running on a thread of its own, fed through a bounded
/// channel, so that hashing one stream (the evidence) overlaps with the work
/// of the calling thread (decoding, hashing and writing the files).
/// Buffers travel back to be reused; memory stays at [`HASH_QUEUE`] chunks.
#[derive(Debug)]
pub struct HashThread {
    chunks: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    worker: Option<std::thread::JoinHandle<Digests>>,
}

impl HashThread {
    /// Starts the hashing thread.
    pub fn spawn(algorithms: &[HashAlgorithm]) -> std::io::Result<HashThread> {
        let (chunks, inbox) = std::sync::mpsc::sync_channel::<Vec<u8>>(HASH_QUEUE);
        let (give_back, spare) = std::sync::mpsc::channel::<Vec<u8>>();
        let mut hasher = MultiHasher::new(algorithms);
        let worker = std::thread::Builder::new()
            .name("exhibit-hash".into())
            .spawn(move || {
                for chunk in inbox {
                    hasher.update(&chunk);
                    // The sender may be gone at the end; the buffer is then freed.
                    let _ = give_back.send(chunk);
                }
                hasher.finish()
            })?;
        Ok(HashThread {
            chunks: Some(chunks),
            spare,
            worker: Some(worker),
        })
    }

    /// Queues a copy of `data`; blocks while the queue is full.
    pub fn update(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut buf = self.spare.try_recv().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        if let Some(chunks) = &self.chunks {
            // Fails only if the worker died, which `finish` reports.
            let _ = chunks.send(buf);
        }
    }

    /// Waits for every queued chunk and returns the digests; `None` if the
    /// hashing thread panicked.
    pub fn finish(mut self) -> Option<Digests> {
        self.chunks.take();
        self.worker.take().and_then(|w| w.join().ok())
    }
}

/// SHA-256 of `data` as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// Hashes a whole reader with `algorithms`, in 1 MiB reads.
pub fn hash_reader(
    reader: &mut dyn std::io::Read,
    algorithms: &[HashAlgorithm],
) -> std::io::Result<(Digests, u64)> {
    let mut hasher = MultiHasher::new(algorithms);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total = total.saturating_add(n as u64);
    }
    Ok((hasher.finish(), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let mut h = MultiHasher::new(&HashAlgorithm::parse_list("md5,sha1").unwrap());
        h.update(b"ab");
        h.update(b"c");
        let d = h.finish();
        assert_eq!(d["md5"], "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(d["sha1"], "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            d["sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hash_thread_equals_inline_hashing() {
        let algorithms = HashAlgorithm::parse_list("md5,sha1").unwrap();
        let mut inline = MultiHasher::new(&algorithms);
        let mut threaded = HashThread::spawn(&algorithms).unwrap();
        for i in 0..100u32 {
            let chunk = vec![u8::try_from(i % 251).unwrap(); usize::try_from(i * 97).unwrap()];
            inline.update(&chunk);
            threaded.update(&chunk);
        }
        assert_eq!(threaded.finish().unwrap(), inline.finish());
    }

    #[test]
    fn list_always_has_sha256_and_rejects_unknown() {
        assert_eq!(
            HashAlgorithm::parse_list("SHA-1, md5").unwrap(),
            vec![
                HashAlgorithm::Md5,
                HashAlgorithm::Sha1,
                HashAlgorithm::Sha256
            ]
        );
        assert_eq!(
            HashAlgorithm::parse_list("crc32").unwrap_err().to_string(),
            "unknown hash algorithm `crc32` (known: md5, sha1, sha256)"
        );
    }
}
