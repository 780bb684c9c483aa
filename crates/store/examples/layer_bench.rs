//! Times the store's layer path on a real layer tar, round after round, as a load does it:
//! `prepare_layer_from_stream` (blob written, unpacked in one read), `commit_layers` (one
//! syncfs, rename, record) and `gc` (the layer removed again, as `rmi` does), and prints the
//! median of each.
//!
//! `cargo run --release -p berth-store --example layer_bench -- LAYER.tar [ROUNDS]`
//! (`BENCH_DIR` picks where the store goes, default /var/tmp.)

use std::fs::File;
use std::time::{Duration, Instant};

use berth_store::Store;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let tar = args.next().ok_or("usage: layer_bench LAYER.tar [ROUNDS]")?;
    let rounds: usize = args.next().map_or(Ok(5), |r| r.parse())?;
    let base = std::env::var("BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into());
    let dir = tempfile::tempdir_in(base)?;
    let store = Store::open(dir.path())?;
    let (mut prepare, mut commit, mut total, mut remove) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let t0 = Instant::now();
        let prepared = store.prepare_layer_from_stream(File::open(&tar)?, None)?;
        let t1 = Instant::now();
        let records = store.commit_layers(vec![(prepared, None)])?;
        let t2 = Instant::now();
        let report = store.gc()?;
        let t3 = Instant::now();
        assert_eq!(report.layers_removed.len(), 1);
        println!(
            "round {round}: prepare {:?}, commit {:?}, gc {:?} (layer size {})",
            t1 - t0,
            t2 - t1,
            t3 - t2,
            records[0].size
        );
        prepare.push(t1 - t0);
        commit.push(t2 - t1);
        total.push(t2 - t0);
        remove.push(t3 - t2);
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_millis()
    };
    println!(
        "median ms: prepare {}, commit {}, prepare+commit {}, gc {}",
        median(prepare),
        median(commit),
        median(total),
        median(remove)
    );
    Ok(())
}
