//! What one argon2id verification costs on this machine, at the parameters logins use:
//! the yardstick for the login budget in docs/BENCHMARKS.md. Prints the median of 20, in ms.

use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let phc = shared::auth::password::hash("a benchmark password".into()).await.expect("hashing");
    let mut samples: Vec<f64> = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let matched =
            shared::auth::password::verify("a benchmark password".into(), phc.clone()).await.expect("verifying");
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(matched);
    }
    samples.sort_by(f64::total_cmp);
    println!("{:.2}", samples[samples.len() / 2]);
}
