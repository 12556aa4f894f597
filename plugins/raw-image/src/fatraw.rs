//! Raw FAT directory entries read beside `fatfs` (placeholder).
