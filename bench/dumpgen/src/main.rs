//! Benchmark dump generator: lands with issue 3's benchmark.
fn main() {}
