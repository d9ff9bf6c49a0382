//! Benchmarks of the agent view: a synthetic 64 MiB build-and-test log
//! (noise of several kinds, a few errors), fed in 64 KiB chunks, at the
//! default budget and at the largest.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use agentproc_view::{AgentView, O200kBase, ViewOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// About `size` bytes of log: cargo, test, server, download and CMake
/// noise, with a rustc error every 200,000 lines.
fn synthetic_log(size: usize) -> Vec<u8> {
    let mut log = Vec::with_capacity(size + 1024);
    let mut i = 0u64;
    while log.len() < size {
        i += 1;
        let line = match i % 10 {
            0..=3 => format!(
                "   Compiling crate-{} v0.{}.{} (registry+https://github.com/rust-lang/crates.io-index)\n",
                i % 977,
                i % 13,
                i % 7
            ),
            4..=6 => format!("test module_{}::tests::case_{i} ... ok\n", i % 50),
            7 => format!(
                "2024-05-01T12:{:02}:{:02}.{:03}Z INFO  server::handler: request id={i} served in {}ms\n",
                (i / 60) % 60,
                i % 60,
                i % 1000,
                i % 300
            ),
            8 => format!(
                "  Downloading https://files.example.org/pkg-{i}-{}.tar.gz (12{} kB)\n",
                i % 9,
                i % 10
            ),
            _ => format!(
                "[{:>3}%] Building CXX object src/CMakeFiles/app.dir/file_{i}.cpp.o\n",
                i % 100
            ),
        };
        log.extend_from_slice(line.as_bytes());
        if i.is_multiple_of(200_000) {
            let n = i % 1000;
            log.extend_from_slice(
                format!(
                    "error[E0308]: mismatched types in case {i}\n --> src/lib.rs:{n}:5\n  |\n{n} |     let x: i32 = \"a\";\n  |                  ^^^ expected `i32`\n\n"
                )
                .as_bytes(),
            );
        }
    }
    log
}

fn view(log: &[u8], max_tokens: usize) -> agentproc_view::View {
    let mut view = AgentView::new(ViewOptions {
        max_tokens,
        first_line: 1,
        fetch_hint: Some("GET /api/v0/processes/3f2a8c1e-5b7d-4e21-9c3a-7d1e2f4a6b8c/lines?start={start}&end={end}".into()),
    });
    for chunk in log.chunks(64 << 10) {
        view.push(chunk);
    }
    view.finish()
}

fn large_log(c: &mut Criterion) {
    O200kBase::preload();
    let log = synthetic_log(64 << 20);
    let mut group = c.benchmark_group("agent_view");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Bytes(log.len() as u64));
    group.bench_function("64MiB_2000_tokens", |b| {
        b.iter(|| black_box(view(&log, 2000)))
    });
    group.bench_function("64MiB_32000_tokens", |b| {
        b.iter(|| black_box(view(&log, 32_000)))
    });
    group.finish();
}

fn small_log(c: &mut Criterion) {
    O200kBase::preload();
    let log = synthetic_log(256 << 10);
    let mut group = c.benchmark_group("agent_view");
    group.throughput(Throughput::Bytes(log.len() as u64));
    group.bench_function("256KiB_2000_tokens", |b| {
        b.iter(|| black_box(view(&log, 2000)))
    });
    group.finish();
}

criterion_group!(benches, small_log, large_log);
criterion_main!(benches);
