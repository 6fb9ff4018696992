//! Where password hashes run: a few threads of their own, one per core, never the async
//! executor (~25 ms of CPU would stall every request) and not tokio's blocking pool.
//! More hashes at once than cores would only thrash caches, so callers queue for a
//! thread; past `MAX_WAITING` queued, a caller is answered 503 at once.
//!
//! Each thread keeps its argon2 memory (19 MiB at the parameters in use) for its life.
//! Allocating it per hash, as the argon2 crate does, cost memory or time: glibc's malloc
//! raises its mmap threshold past the first freed block, so later blocks came from the
//! heap arenas and stayed there, fragmented - 32 concurrent logins peaked at 458 MB (the
//! local server, release build); with the threshold fixed instead, every block was mapped
//! and faulted in afresh, ~10 ms more per hash. Kept per thread, a burst of 256 logins
//! peaks at the idle process plus one block per core, and no hash waits for page faults.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, LazyLock, Mutex};

use argon2::Block;

use crate::ApiError;

/// Hashes queued for a thread, at most. At ~25 ms a hash on each core, 512 queued on two
/// cores is ~6 s of work: a client waiting longer is better told to come back.
pub const MAX_WAITING: usize = 512;

type Job = Box<dyn FnOnce() + Send>;

struct Hashers {
    jobs: Mutex<Sender<Job>>,
    waiting: AtomicUsize,
}

/// Started on the first hash, not at cold start: most invocations hash nothing.
static HASHERS: LazyLock<Hashers> = LazyLock::new(|| {
    let (jobs, queue) = channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for n in 0..std::thread::available_parallelism().map_or(1, |n| n.get()) {
        let queue = queue.clone();
        let started = std::thread::Builder::new().name(format!("argon2-{n}")).spawn(move || work(&queue));
        if let Err(e) = started {
            tracing::error!(error = %e, "a password-hashing thread could not be started");
        }
    }
    Hashers { jobs: Mutex::new(jobs), waiting: AtomicUsize::new(0) }
});

thread_local! {
    /// This hashing thread's argon2 memory, grown once to the size in use.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// `blocks` of this thread's memory, for one hash.
pub(super) fn with_memory<T>(blocks: usize, hashing: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        hashing(&mut memory[..blocks])
    })
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(job) = job else { return };
        // A panic fails that one caller (its answer channel drops), not the thread.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

/// Leaves the queue count when the caller stops waiting, answered or cancelled.
struct Waiting;

impl Drop for Waiting {
    fn drop(&mut self) {
        HASHERS.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `hashing` on a hashing thread and waits for its answer.
pub(super) async fn on_hashing_thread<T: Send + 'static>(
    hashing: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let hashers = &*HASHERS;
    if hashers.waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING {
        hashers.waiting.fetch_sub(1, Ordering::Relaxed);
        return Err(ApiError::Busy);
    }
    let _waiting = Waiting;
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = answer.send(hashing());
    });
    hashers
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(job)
        .map_err(|_| ApiError::internal("no password-hashing thread is running"))?;
    answered.await.map_err(|_| ApiError::internal("a password hash failed on its thread"))
}
