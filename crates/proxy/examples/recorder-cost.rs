use bytes::Bytes;
use rtmpscope_capture::PcapngWriter;
use rtmpscope_core::chunk::ChunkEncoder;
use rtmpscope_core::{Direction, Session};
use std::io::BufWriter;
use std::time::Instant;

fn main() {
    let mut block = vec![3u8; 3073];
    let mut enc = ChunkEncoder::new(128);
    enc.write(&mut block, 2, 1, 0, 0, &4096u32.to_be_bytes());
    let mut enc = ChunkEncoder::new(4096);
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut ts = 0;
    while block.len() < 64 << 20 {
        let mut msg = vec![0x17, 0x01, 0, 0, 0];
        msg.extend_from_slice(&payload);
        enc.write(&mut block, 6, 9, 1, ts, &msg);
        ts += 40;
    }
    let data = Bytes::from(block);
    let pieces: Vec<Bytes> = (0..data.len())
        .step_by(256 << 10)
        .map(|i| data.slice(i..(i + (256 << 10)).min(data.len())))
        .collect();
    let reps = 16;
    let total = data.len() as f64 * reps as f64;
    for cap in [64usize << 10, 256 << 10, 1 << 20, 4 << 20] {
        let path = "/dev/shm/recorder-cost.pcapng";
        let f = std::fs::File::create(path).unwrap();
        let mut w = PcapngWriter::new(BufWriter::with_capacity(cap, f), "").unwrap();
        let s = w
            .open_session(
                "127.0.0.1:1000".parse().unwrap(),
                "127.0.0.1:1935".parse().unwrap(),
                1.0,
            )
            .unwrap();
        let t = Instant::now();
        for _ in 0..reps {
            for p in &pieces {
                w.data(s, Direction::ClientToServer, p, 1.0).unwrap();
            }
        }
        drop(w);
        println!(
            "pcapng writer (BufWriter {} KiB): {:.2} GB/s",
            cap >> 10,
            total / t.elapsed().as_secs_f64() / 1e9
        );
        std::fs::remove_file(path).unwrap();
    }
    let mut sess = Session::new();
    let mut evs = Vec::new();
    let t = Instant::now();
    let mut n = 0;
    for r in 0..reps {
        for (i, p) in pieces.iter().enumerate() {
            if r > 0 && i == 0 {
                continue;
            }
            sess.feed(Direction::ClientToServer, p.clone(), 1.0, &mut evs);
            n += evs.len();
            evs.clear();
        }
    }
    println!(
        "decoder: {:.2} GB/s ({n} events)",
        total / t.elapsed().as_secs_f64() / 1e9
    );
    let t = Instant::now();
    let mut v = vec![0u8; 256 << 10];
    for _ in 0..reps {
        for p in &pieces {
            v[..p.len()].copy_from_slice(p);
        }
    }
    println!(
        "memcpy: {:.2} GB/s",
        total / t.elapsed().as_secs_f64() / 1e9
    );
}
