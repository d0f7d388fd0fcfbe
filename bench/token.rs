//! Playback token verification, which the origin runs on every premium request (target:
//! ≤ 2 µs). Run by bench/token.sh, which records the figures in bench/RESULTS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use marquee::playback::token::{KeyRing, ViewerTag};

fn tokens(c: &mut Criterion) {
    // Two keys, the newer first: a token made with either verifies.
    let keys = KeyRing::new(&[(2, [9; 32]), (1, [7; 32])]).expect("a key ring");
    let viewer = ViewerTag::of_session("a session secret of the usual length, 43 chars");
    let asset = "k3fz9q2mwx7p";
    let token = keys.mint(asset, viewer, 2_000_000_000);
    c.bench_function("verify a playback token", |b| {
        b.iter(|| {
            keys.verify(
                black_box(&token),
                black_box(asset),
                black_box(Some(viewer)),
                1_800_000_000,
            )
        })
    });
    c.bench_function("mint a playback token", |b| {
        b.iter(|| keys.mint(black_box(asset), black_box(viewer), 2_000_000_000))
    });
    c.bench_function("derive a viewer tag from a session", |b| {
        b.iter(|| {
            ViewerTag::of_session(black_box("a session secret of the usual length, 43 chars"))
        })
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
