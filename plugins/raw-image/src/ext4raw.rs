//! Raw ext2/3/4 structures read beside `ext4-view` (placeholder).
