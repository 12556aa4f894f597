//! Android sparse images (the `*.img` files fastboot flashes):
//! [`SparseImage`] reads the chunk table once and then serves the expanded
//! image through [`ReadAt`] without writing it anywhere.
//!
//! Format: AOSP `system/core/libsparse/sparse_format.h` (file header
//! `sparse_header_t`, 28 bytes: magic 0xED26FF3A, major 1, minor, header and
//! chunk-header sizes, block size, total blocks, total chunks, image CRC32;
//! then `chunk_header_t`, 12 bytes: type, reserved, size in blocks, total
//! size in bytes including the header), with the chunk types RAW (0xCAC1,
//! the blocks follow), FILL (0xCAC2, a 4-byte pattern), DONT_CARE (0xCAC3,
//! no data; read as zeros, as libsparse's CRC does) and CRC32 (0xCAC4, the
//! CRC-32 of the expanded image so far).
//!
//! Policy: only chunk headers are read at open (raw data is skipped by
//! offset), so memory is one small [`Chunk`] per chunk, capped at
//! [`MAX_CHUNKS`]. A chunk table that is truncated, inconsistent with its
//! own sizes, or does not add up to the header's block count is refused as
//! [`Error::Corrupt`] naming the chunk index and its file offset. CRC32
//! chunks are recorded; checking them needs a full read, so it is a
//! separate, explicit [`SparseImage::verify_crc`].
#![forbid(unsafe_code)]

use std::io;

use serde::Serialize;

use crate::error::Error;
use crate::read_at::{ReadAt, read_exact_at, u16_le, u32_le};

/// `sparse_header_t.magic`, little-endian at offset 0.
pub const SPARSE_MAGIC: u32 = 0xED26_FF3A;
/// The most chunks accepted: far above any real image, far below what would
/// exhaust memory.
pub const MAX_CHUNKS: u32 = 16 << 20;

// sparse_header_t field offsets and the minimum header sizes.
const HDR_MAJOR: usize = 4;
const HDR_MINOR: usize = 6;
const HDR_FILE_HDR_SZ: usize = 8;
const HDR_CHUNK_HDR_SZ: usize = 10;
const HDR_BLK_SZ: usize = 12;
const HDR_TOTAL_BLKS: usize = 16;
const HDR_TOTAL_CHUNKS: usize = 20;
const HDR_IMAGE_CHECKSUM: usize = 24;
const FILE_HEADER_LEN: u16 = 28;
const CHUNK_HEADER_LEN: u16 = 12;
// chunk_header_t field offsets and chunk types.
const CHUNK_TYPE: usize = 0;
const CHUNK_SZ: usize = 4;
const CHUNK_TOTAL_SZ: usize = 8;
const CHUNK_RAW: u16 = 0xCAC1;
const CHUNK_FILL: u16 = 0xCAC2;
const CHUNK_DONT_CARE: u16 = 0xCAC3;
const CHUNK_CRC32: u16 = 0xCAC4;
/// Buffer used by [`SparseImage::verify_crc`].
const VERIFY_BUFFER: usize = 1 << 20;

/// The sparse file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SparseHeader {
    /// Major version (always 1).
    pub major: u16,
    /// Minor version.
    pub minor: u16,
    /// Bytes per block, a multiple of 4.
    pub block_size: u32,
    /// Blocks in the expanded image.
    pub total_blocks: u32,
    /// Chunks in the file, CRC32 chunks included.
    pub total_chunks: u32,
    /// CRC-32 of the whole expanded image, 0 when not given.
    pub image_checksum: u32,
}

/// Where a chunk's expanded bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkData {
    /// Copied from the sparse file at this byte offset.
    Raw {
        /// Offset of the first data byte in the sparse file.
        source: u64,
    },
    /// The 4-byte pattern repeated.
    Fill {
        /// The pattern, in file order.
        pattern: [u8; 4],
    },
    /// Unspecified contents, read as zeros.
    DontCare,
}

/// One data chunk of the table (CRC32 chunks are in [`CrcCheck`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Chunk {
    /// 0-based position in the file's chunk sequence.
    pub index: u32,
    /// Byte offset of the chunk header in the sparse file.
    pub header_offset: u64,
    /// First byte of the expanded image it covers.
    pub out_start: u64,
    /// Bytes it covers in the expanded image.
    pub out_len: u64,
    /// Where those bytes come from.
    pub data: ChunkData,
}

/// A CRC32 chunk: the CRC-32 of the expanded image's first `out_offset`
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CrcCheck {
    /// 0-based position in the file's chunk sequence.
    pub index: u32,
    /// Byte offset of the chunk header in the sparse file.
    pub header_offset: u64,
    /// Expanded bytes the CRC covers.
    pub out_offset: u64,
    /// The stored CRC-32.
    pub crc: u32,
}

/// An Android sparse image read as the raw image it expands to.
#[derive(Debug)]
pub struct SparseImage<R> {
    src: R,
    header: SparseHeader,
    chunks: Vec<Chunk>,
    crcs: Vec<CrcCheck>,
    len: u64,
}

/// Whether `head` (the first bytes of a file) starts with the sparse magic.
pub fn is_sparse(head: &[u8]) -> bool {
    u32_le(head, 0) == Some(SPARSE_MAGIC)
}

impl<R: ReadAt> SparseImage<R> {
    /// Reads the header and the chunk table of `src`.
    ///
    /// [`Error::NotMine`] without the magic; [`Error::Unsupported`] for a
    /// major version other than 1 or more than [`MAX_CHUNKS`] chunks;
    /// [`Error::Corrupt`] for a table that is truncated or inconsistent.
    pub fn open(src: R) -> Result<SparseImage<R>, Error> {
        let file_len = src.len();
        let mut head = [0u8; 28];
        if file_len < 4 {
            return Err(Error::NotMine);
        }
        read_exact_at(&src, 0, &mut head[..4])?;
        if !is_sparse(&head) {
            return Err(Error::NotMine);
        }
        if file_len < u64::from(FILE_HEADER_LEN) {
            return Err(Error::corrupt(
                0,
                format!(
                    "sparse file header truncated: the file has {file_len} bytes, the header needs 28"
                ),
            ));
        }
        read_exact_at(&src, 0, &mut head)?;
        let field16 = |off| u16_le(&head, off).unwrap_or(0);
        let field32 = |off| u32_le(&head, off).unwrap_or(0);
        let header = SparseHeader {
            major: field16(HDR_MAJOR),
            minor: field16(HDR_MINOR),
            block_size: field32(HDR_BLK_SZ),
            total_blocks: field32(HDR_TOTAL_BLKS),
            total_chunks: field32(HDR_TOTAL_CHUNKS),
            image_checksum: field32(HDR_IMAGE_CHECKSUM),
        };
        if header.major != 1 {
            return Err(Error::Unsupported {
                feature: format!("sparse image major version {}", header.major),
            });
        }
        let file_hdr_sz = field16(HDR_FILE_HDR_SZ);
        let chunk_hdr_sz = field16(HDR_CHUNK_HDR_SZ);
        if file_hdr_sz < FILE_HEADER_LEN || chunk_hdr_sz < CHUNK_HEADER_LEN {
            return Err(Error::corrupt(
                8,
                format!("header sizes {file_hdr_sz}/{chunk_hdr_sz} below the minimum 28/12"),
            ));
        }
        if header.block_size == 0 || !header.block_size.is_multiple_of(4) {
            return Err(Error::corrupt(
                12,
                format!(
                    "block size {} is not a positive multiple of 4",
                    header.block_size
                ),
            ));
        }
        if header.total_chunks > MAX_CHUNKS {
            return Err(Error::Unsupported {
                feature: format!("{} chunks (at most {MAX_CHUNKS})", header.total_chunks),
            });
        }
        let (chunks, crcs) = read_chunk_table(&src, &header, file_hdr_sz, chunk_hdr_sz)?;
        Ok(SparseImage {
            src,
            header,
            chunks,
            crcs,
            // u32 × u32 always fits u64.
            len: u64::from(header.total_blocks).saturating_mul(u64::from(header.block_size)),
        })
    }

    /// The file header.
    pub fn header(&self) -> &SparseHeader {
        &self.header
    }

    /// The data chunks, in output order (zero-length chunks omitted).
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// The CRC32 chunks, in file order.
    pub fn crc_checks(&self) -> &[CrcCheck] {
        &self.crcs
    }

    /// The sparse file this image reads from.
    pub fn into_inner(self) -> R {
        self.src
    }

    /// Reads the whole expanded image once (with a 1 MiB buffer) and checks
    /// every CRC32 chunk and the header's image checksum. `Ok(None)` when
    /// the image carries no CRC at all, `Ok(Some(false))` when any differs.
    pub fn verify_crc(&self) -> Result<Option<bool>, Error> {
        if self.crcs.is_empty() && self.header.image_checksum == 0 {
            return Ok(None);
        }
        let mut hasher = crc32fast::Hasher::new();
        let mut all_match = true;
        let mut buf = vec![0u8; VERIFY_BUFFER];
        let mut pending = self.crcs.iter().peekable();
        let mut pos = 0u64;
        loop {
            while let Some(check) = pending.next_if(|c| c.out_offset <= pos) {
                all_match &= hasher.clone().finalize() == check.crc;
            }
            if pos >= self.len {
                break;
            }
            let stop = pending
                .peek()
                .map_or(self.len, |c| c.out_offset.min(self.len))
                .min(pos.saturating_add(u64::try_from(buf.len()).unwrap_or(u64::MAX)));
            let n = usize::try_from(stop.saturating_sub(pos)).unwrap_or(0);
            let Some(part) = buf.get_mut(..n) else { break };
            read_exact_at(self, pos, part)?;
            hasher.update(part);
            pos = stop;
        }
        if self.header.image_checksum != 0 {
            all_match &= hasher.finalize() == self.header.image_checksum;
        }
        Ok(Some(all_match))
    }
}

/// Walks the chunk headers from `file_hdr_sz`, checking each chunk's sizes
/// against its type and the running block count against the header.
fn read_chunk_table<R: ReadAt>(
    src: &R,
    header: &SparseHeader,
    file_hdr_sz: u16,
    chunk_hdr_sz: u16,
) -> Result<(Vec<Chunk>, Vec<CrcCheck>), Error> {
    let file_len = src.len();
    let block = u64::from(header.block_size);
    let total = header.total_chunks;
    let mut chunks = Vec::new();
    let mut crcs = Vec::new();
    let mut pos = u64::from(file_hdr_sz);
    let mut blocks = 0u64;
    for index in 0..total {
        let corrupt =
            |what: String| Error::corrupt(pos, format!("chunk {index} of {total}: {what}"));
        let data_at = pos.saturating_add(u64::from(chunk_hdr_sz));
        if data_at > file_len {
            return Err(corrupt(format!(
                "chunk header runs past the end of the file ({file_len} bytes)"
            )));
        }
        let mut raw = [0u8; 12];
        read_exact_at(src, pos, &mut raw)?;
        let kind = u16_le(&raw, CHUNK_TYPE).unwrap_or(0);
        let chunk_blocks = u32_le(&raw, CHUNK_SZ).unwrap_or(0);
        let total_sz = u32_le(&raw, CHUNK_TOTAL_SZ).unwrap_or(0);
        let data_len = u64::from(total_sz)
            .checked_sub(u64::from(chunk_hdr_sz))
            .ok_or_else(|| {
                corrupt(format!(
                    "total size {total_sz} is smaller than the chunk header"
                ))
            })?;
        let next = data_at.saturating_add(data_len);
        if next > file_len {
            return Err(corrupt(format!(
                "chunk data ({data_len} bytes) runs past the end of the file ({file_len} bytes)"
            )));
        }
        let out_len = u64::from(chunk_blocks).saturating_mul(block);
        let out_start = blocks.saturating_mul(block);
        let expect = |want: u64| {
            if data_len == want {
                Ok(())
            } else {
                Err(corrupt(format!(
                    "type {kind:#06x} carries {data_len} data bytes, expected {want}"
                )))
            }
        };
        let data = match kind {
            CHUNK_RAW => {
                expect(out_len)?;
                Some(ChunkData::Raw { source: data_at })
            }
            CHUNK_FILL => {
                expect(4)?;
                let mut pattern = [0u8; 4];
                read_exact_at(src, data_at, &mut pattern)?;
                Some(ChunkData::Fill { pattern })
            }
            CHUNK_DONT_CARE => {
                expect(0)?;
                Some(ChunkData::DontCare)
            }
            CHUNK_CRC32 => {
                expect(4)?;
                let mut crc = [0u8; 4];
                read_exact_at(src, data_at, &mut crc)?;
                crcs.push(CrcCheck {
                    index,
                    header_offset: pos,
                    out_offset: out_start,
                    crc: u32::from_le_bytes(crc),
                });
                None
            }
            other => return Err(corrupt(format!("unknown chunk type {other:#06x}"))),
        };
        if let Some(data) = data {
            blocks = blocks.saturating_add(u64::from(chunk_blocks));
            if blocks > u64::from(header.total_blocks) {
                return Err(corrupt(format!(
                    "chunks reach block {blocks}, past the header's {} blocks",
                    header.total_blocks
                )));
            }
            if out_len > 0 {
                chunks.push(Chunk {
                    index,
                    header_offset: pos,
                    out_start,
                    out_len,
                    data,
                });
            }
        }
        pos = next;
    }
    if blocks != u64::from(header.total_blocks) {
        return Err(Error::corrupt(
            pos,
            format!(
                "the {total} chunks cover {blocks} blocks, the header says {}",
                header.total_blocks
            ),
        ));
    }
    Ok((chunks, crcs))
}

impl<R: ReadAt> ReadAt for SparseImage<R> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(offset);
        let want = usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len()));
        let mut done = 0usize;
        // The chunk holding `offset`: the first whose end lies beyond it.
        let mut index = self
            .chunks
            .partition_point(|c| c.out_start.saturating_add(c.out_len) <= offset);
        while done < want {
            let pos = offset.saturating_add(u64::try_from(done).unwrap_or(u64::MAX));
            let Some(chunk) = self.chunks.get(index) else {
                break;
            };
            let within = pos.saturating_sub(chunk.out_start);
            let in_chunk = chunk.out_len.saturating_sub(within);
            let n = usize::try_from(in_chunk).map_or(want.saturating_sub(done), |c| {
                c.min(want.saturating_sub(done))
            });
            let Some(dst) = buf.get_mut(done..done.saturating_add(n)) else {
                break;
            };
            match chunk.data {
                ChunkData::Raw { source } => {
                    read_exact_at(&self.src, source.saturating_add(within), dst)?
                }
                ChunkData::Fill { pattern } => {
                    // Chunks start on block boundaries and blocks are a
                    // multiple of 4, so the phase is the offset within the chunk.
                    let phase = usize::try_from(within & 3).unwrap_or(0);
                    for (k, byte) in dst.iter_mut().enumerate() {
                        *byte = pattern.get(phase.wrapping_add(k) & 3).copied().unwrap_or(0);
                    }
                }
                ChunkData::DontCare => dst.fill(0),
            }
            done = done.saturating_add(n);
            index = index.saturating_add(1);
        }
        Ok(done)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]
mod tests {
    use super::*;

    enum Op {
        Raw(u32),
        Fill(u32, [u8; 4]),
        Skip(u32),
        Crc,
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    const BLK: u32 = 512;

    /// Builds (expanded image, sparse file, chunk header offsets) for `ops`.
    fn build(ops: &[Op], image_checksum: bool) -> (Vec<u8>, Vec<u8>, Vec<usize>) {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut expanded = Vec::new();
        let mut body = Vec::new();
        let mut offsets = Vec::new();
        let chunk = |body: &mut Vec<u8>, kind: u16, blocks: u32, data: &[u8]| {
            body.extend_from_slice(&kind.to_le_bytes());
            body.extend_from_slice(&0u16.to_le_bytes());
            body.extend_from_slice(&blocks.to_le_bytes());
            body.extend_from_slice(&(12 + data.len() as u32).to_le_bytes());
            body.extend_from_slice(data);
        };
        for op in ops {
            offsets.push(28 + body.len());
            match *op {
                Op::Raw(blocks) => {
                    let data: Vec<u8> = (0..blocks * BLK).map(|_| rng.next() as u8).collect();
                    expanded.extend_from_slice(&data);
                    chunk(&mut body, CHUNK_RAW, blocks, &data);
                }
                Op::Fill(blocks, pattern) => {
                    for _ in 0..blocks * BLK / 4 {
                        expanded.extend_from_slice(&pattern);
                    }
                    chunk(&mut body, CHUNK_FILL, blocks, &pattern);
                }
                Op::Skip(blocks) => {
                    expanded.resize(expanded.len() + (blocks * BLK) as usize, 0);
                    chunk(&mut body, CHUNK_DONT_CARE, blocks, &[]);
                }
                Op::Crc => {
                    let crc = crc32fast::hash(&expanded);
                    chunk(&mut body, CHUNK_CRC32, 0, &crc.to_le_bytes());
                }
            }
        }
        let mut file = Vec::new();
        file.extend_from_slice(&SPARSE_MAGIC.to_le_bytes());
        file.extend_from_slice(&1u16.to_le_bytes());
        file.extend_from_slice(&0u16.to_le_bytes());
        file.extend_from_slice(&28u16.to_le_bytes());
        file.extend_from_slice(&12u16.to_le_bytes());
        file.extend_from_slice(&BLK.to_le_bytes());
        file.extend_from_slice(&(expanded.len() as u32 / BLK).to_le_bytes());
        file.extend_from_slice(&(ops.len() as u32).to_le_bytes());
        let checksum = if image_checksum {
            crc32fast::hash(&expanded)
        } else {
            0
        };
        file.extend_from_slice(&checksum.to_le_bytes());
        file.extend_from_slice(&body);
        (expanded, file, offsets)
    }

    fn all_kinds() -> Vec<Op> {
        vec![
            Op::Raw(3),
            Op::Fill(2, [1, 2, 3, 4]),
            Op::Crc,
            Op::Skip(4),
            Op::Raw(1),
            Op::Fill(1, [0xde, 0xad, 0xbe, 0xef]),
            Op::Crc,
            Op::Raw(2),
        ]
    }

    #[test]
    fn every_byte_reads_as_the_expanded_image() {
        let (expanded, file, offsets) = build(&all_kinds(), true);
        let image = SparseImage::open(file).unwrap();
        assert_eq!(image.len(), 13 * 512);
        assert_eq!(image.len(), expanded.len() as u64);
        assert_eq!(image.chunks().len(), 6);
        assert_eq!(image.crc_checks().len(), 2);
        assert_eq!(image.crc_checks()[1].out_offset, 11 * 512);
        assert_eq!(image.chunks()[2].data, ChunkData::DontCare);
        assert_eq!(image.chunks()[2].index, 3);
        assert_eq!(image.chunks()[2].header_offset, offsets[3] as u64);
        let mut whole = vec![0u8; expanded.len()];
        read_exact_at(&image, 0, &mut whole).unwrap();
        assert!(whole == expanded);
        let mut rng = XorShift(42);
        for _ in 0..5000 {
            let offset = rng.next() % (expanded.len() as u64 + 16);
            let len = (rng.next() % 3000) as usize;
            let mut buf = vec![0xAAu8; len];
            let n = image.read_at(offset, &mut buf).unwrap();
            let start = (offset as usize).min(expanded.len());
            let want = &expanded[start..(start + len).min(expanded.len())];
            assert_eq!(n, want.len(), "offset {offset} len {len}");
            assert!(buf[..n] == *want, "offset {offset} len {len}");
        }
        assert_eq!(image.verify_crc().unwrap(), Some(true));
    }

    #[test]
    fn verify_crc_detects_a_changed_byte() {
        let (_, mut file, offsets) = build(&all_kinds(), false);
        file[offsets[4] + 12 + 7] ^= 0x40; // inside the second raw chunk
        let image = SparseImage::open(file).unwrap();
        assert_eq!(image.verify_crc().unwrap(), Some(false));
    }

    #[test]
    fn verify_crc_without_any_crc_is_none() {
        let (_, file, _) = build(&[Op::Raw(1), Op::Skip(1)], false);
        assert_eq!(SparseImage::open(file).unwrap().verify_crc().unwrap(), None);
    }

    #[test]
    fn truncated_chunk_table_names_the_chunk_and_offset() {
        let (_, file, offsets) = build(&all_kinds(), false);
        let cut = file[..offsets[3] + 6].to_vec();
        let Err(Error::Corrupt { offset, what }) = SparseImage::open(cut) else {
            panic!("expected corrupt");
        };
        assert_eq!(offset, offsets[3] as u64);
        assert!(
            what.starts_with("chunk 3 of 8: chunk header runs past the end"),
            "{what}"
        );

        let cut = file[..file.len() - 1].to_vec();
        let Err(Error::Corrupt { offset, what }) = SparseImage::open(cut) else {
            panic!("expected corrupt");
        };
        assert_eq!(offset, offsets[7] as u64);
        assert!(
            what.starts_with("chunk 7 of 8: chunk data (1024 bytes) runs past"),
            "{what}"
        );
    }

    #[test]
    fn chunk_table_must_add_up_to_total_blocks() {
        let (_, mut file, offsets) = build(&all_kinds(), false);
        file[16..20].copy_from_slice(&14u32.to_le_bytes());
        let Err(Error::Corrupt { what, .. }) = SparseImage::open(file.clone()) else {
            panic!("expected corrupt");
        };
        assert_eq!(what, "the 8 chunks cover 13 blocks, the header says 14");
        file[16..20].copy_from_slice(&12u32.to_le_bytes());
        let Err(Error::Corrupt { offset, what }) = SparseImage::open(file) else {
            panic!("expected corrupt");
        };
        assert_eq!(offset, offsets[7] as u64);
        assert_eq!(
            what,
            "chunk 7 of 8: chunks reach block 13, past the header's 12 blocks"
        );
    }

    #[test]
    fn inconsistent_chunk_sizes_and_versions_are_refused() {
        let (_, mut file, offsets) = build(&all_kinds(), false);
        file[offsets[1] + 8] = 17; // fill chunk claiming 5 data bytes
        assert!(matches!(
            SparseImage::open(file),
            Err(Error::Corrupt { .. })
        ));
        let (_, mut file, _) = build(&all_kinds(), false);
        file[4] = 2;
        assert!(matches!(
            SparseImage::open(file),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            SparseImage::open(vec![0u8; 64]),
            Err(Error::NotMine)
        ));
        assert!(is_sparse(&[0x3a, 0xff, 0x26, 0xed]));
    }
}
