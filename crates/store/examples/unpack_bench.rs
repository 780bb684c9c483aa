//! Times blob write + layer unpack for a layer like the benchmark's: 2000 files, ~55 MB.
//! `cargo run --release -p berth-store --example unpack_bench [plain|gzip|zstd]`

use std::io::Write;
use std::time::Instant;

use berth_store::Store;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "plain".into());
    let mut b = tar::Builder::new(Vec::new());
    let mut seed: u64 = 42;
    for i in 0..2000u32 {
        let dir = format!("d{}/", i % 50);
        // Mostly small files and a few large ones: about 55 MB in all.
        let size = if i % 100 == 0 {
            2_500_000
        } else {
            2_500 + (i as usize % 7) * 1000
        };
        let data: Vec<u8> = (0..size)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Compressible-ish content, like binaries and text.
                ((seed >> 59) as u8) + b'a'
            })
            .collect();
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        b.append_data(&mut h, format!("{dir}f{i}"), &data[..])
            .unwrap();
    }
    let tar_bytes = b.into_inner().unwrap();
    let blob_bytes = match mode.as_str() {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&tar_bytes).unwrap();
            e.finish().unwrap()
        }
        "zstd" => zstd::stream::encode_all(&tar_bytes[..], 3).unwrap(),
        _ => tar_bytes.clone(),
    };
    if let Ok(p) = std::env::var("BENCH_SAVE_TAR") {
        std::fs::write(p, &tar_bytes).unwrap();
    }
    println!(
        "tar {} bytes, blob ({mode}) {} bytes",
        tar_bytes.len(),
        blob_bytes.len()
    );
    let dir =
        tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()))
            .unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t0 = Instant::now();
    let mut w = store.blob_writer().unwrap();
    for chunk in blob_bytes.chunks(64 << 10) {
        w.write_all(chunk).unwrap();
    }
    let (blob, _) = w.commit(None).unwrap();
    let t1 = Instant::now();
    let rec = store.unpack_layer(None, &blob, None).unwrap();
    let t2 = Instant::now();
    println!(
        "blob write {:?}, unpack {:?}, total {:?}; layer size {}",
        t1 - t0,
        t2 - t1,
        t2 - t0,
        rec.size
    );
}
