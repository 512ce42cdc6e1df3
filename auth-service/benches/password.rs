//! The cost of one argon2id verification with the service's parameters: what bounds login
//! throughput (compare with the login rate in docs/BENCHMARKS.md).
//!
//! `cargo bench -p auth-service --bench password`

// Benchmarks set up fixed inputs; a panic there is a broken benchmark.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;

fn bench(c: &mut Criterion) {
    let password = SecretString::from("password123");
    let hash = auth_service::password::hash_blocking(&password).unwrap();
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(20);
    group.bench_function("verify-19MiB-t2-p1", |b| {
        b.iter(|| assert!(auth_service::password::verify_blocking(&password, &hash).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
