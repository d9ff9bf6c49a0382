//! Micro-benchmarks of `HeadTailBuffer`: writes in 64 KiB chunks and in
//! 100-byte lines, and formatting the output view of a full buffer.

#![allow(missing_docs)]

use std::hint::black_box;

use agentproc_core::buffer::HeadTailBuffer;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn writes(c: &mut Criterion) {
    let mut group = c.benchmark_group("buffer_write");
    let chunk = vec![b'x'; 64 * 1024];
    group.throughput(Throughput::Bytes(chunk.len() as u64));
    group.bench_function("64KiB_chunks", |b| {
        let mut buffer = HeadTailBuffer::default();
        b.iter(|| buffer.write(black_box(&chunk)));
    });

    let mut line = vec![b'y'; 99];
    line.push(b'\n');
    group.throughput(Throughput::Bytes(line.len() as u64));
    group.bench_function("100B_lines", |b| {
        let mut buffer = HeadTailBuffer::default();
        b.iter(|| buffer.write(black_box(&line)));
    });
    group.finish();
}

fn format(c: &mut Criterion) {
    let mut group = c.benchmark_group("buffer_format");
    // A full buffer of ordinary lines, and one whose lines all need cutting.
    let mut lines = HeadTailBuffer::default();
    for i in 0..10_000 {
        lines.write(format!("line {i} of a long build log with some text\n").as_bytes());
    }
    group.bench_function("full_of_short_lines", |b| {
        b.iter(|| black_box(lines.output()))
    });
    let mut long = HeadTailBuffer::default();
    long.write(&vec![b'z'; 1 << 20]);
    group.bench_function("one_long_line", |b| b.iter(|| black_box(long.output())));
    let mut utf8 = HeadTailBuffer::default();
    for _ in 0..20_000 {
        utf8.write("naïve café — ünïcödé €\n".as_bytes());
    }
    group.bench_function("utf8_lines", |b| b.iter(|| black_box(utf8.output())));
    group.finish();
}

criterion_group!(benches, writes, format);
criterion_main!(benches);
