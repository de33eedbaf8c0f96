//! What one login costs: argon2id with the parameters in
//! `shiji::accounts::password`, the dummy verify for unknown accounts (it
//! should cost the same as a real one), and drawing a captcha.
//!
//! `cargo bench --bench password`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use shiji::accounts::captcha::Captcha;
use shiji::accounts::password;

fn credentials(c: &mut Criterion) {
    let phc = match password::hash("violet tractor spoon monsoon") {
        Ok(phc) => phc,
        Err(err) => panic!("cannot hash: {err}"),
    };
    let mut group = c.benchmark_group("password");
    // Each iteration takes tens of milliseconds; fewer samples keep the run short.
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("hash", |b| {
        b.iter(|| password::hash(black_box("violet tractor spoon monsoon")))
    });
    group.bench_function("verify", |b| {
        b.iter(|| password::verify(black_box("violet tractor spoon monsoon"), black_box(&phc)))
    });
    group.bench_function("dummy_verify", |b| {
        b.iter(|| password::dummy_verify(black_box("violet tractor spoon monsoon")))
    });
    group.finish();

    c.bench_function("captcha/generate", |b| b.iter(Captcha::generate));
}

criterion_group!(benches, credentials);
criterion_main!(benches);
