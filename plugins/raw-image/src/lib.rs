//! The parsing layer of the `raw-image` format plugin: physical images of
//! phones and cards as one file, as ordered segments (which the core opens
//! as one evidence) or as Android sparse images ([`SparseImage`]), all read
//! through one random-access trait, [`ReadAt`]; and the partition tables
//! inside them ([`read_partition_table`] → [`PartitionTable`], MBR with
//! logical partitions, GPT checked against its backup).
//!
//! Specifications: UEFI 2.10 chapter 5 for MBR/GPT, AOSP
//! `libsparse/sparse_format.h` for sparse images (each module cites its
//! own). Nothing is expanded or concatenated on disk, and memory stays
//! bounded whatever the image size. Damage is reported as [`Finding`]s with
//! byte offsets, or as [`Error::Corrupt`] when nothing usable is left.
//!
//! ```
//! use exhibit_format_raw_image::{read_partition_table, Scheme};
//!
//! // A one-partition MBR: type 0x83 (Linux) from LBA 1, 7 sectors.
//! let mut disk = vec![0u8; 8 * 512];
//! disk[446 + 4] = 0x83;
//! disk[446 + 8] = 1;
//! disk[446 + 12] = 7;
//! disk[510] = 0x55;
//! disk[511] = 0xAA;
//! let table = read_partition_table(&disk)?;
//! assert_eq!(table.scheme, Scheme::Mbr);
//! assert_eq!(table.partitions[0].type_name, Some("Linux"));
//! assert_eq!((table.partitions[0].start, table.partitions[0].len), (512, 3584));
//! # Ok::<(), exhibit_format_raw_image::Error>(())
//! ```
#![deny(unsafe_code)]
#![warn(clippy::arithmetic_side_effects, clippy::as_conversions)]

mod deleted;
mod error;
mod ext4fs;
mod ext4raw;
mod ext4walk;
mod fat;
mod fatraw;
mod partition;
mod plugin;
mod read_at;
mod sparse;

pub use error::Error;
pub use partition::{
    Finding, GptCopy, Guid, MAX_LOGICAL, Partition, PartitionTable, Scheme, read_partition_table,
    unallocated,
};
pub use plugin::RawImage;
pub use read_at::{ReadAt, read_exact_at};
pub use sparse::{
    Chunk, ChunkData, CrcCheck, MAX_CHUNKS, SPARSE_MAGIC, SparseHeader, SparseImage, is_sparse,
};

exhibit_plugin_sdk::export!(plugin::RawImage);
