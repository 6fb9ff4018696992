//! Password hashing: argon2id at the crate defaults, which are OWASP's minimum
//! (m = 19 MiB, t = 2, p = 1), stored as PHC strings.
//!
//! Hashes run on a few threads of their own, one per core, never on the async executor
//! (~25 ms of CPU would stall every request); more at once would only thrash caches.
//! Callers queue for a thread; past `MAX_WAITING` queued, a caller is answered 503 at once.
//!
//! Memory is the other reason for care. Each hash allocates its 19 MiB afresh, and
//! glibc's malloc, after the first such block is freed, raises its mmap threshold above
//! it (the "dynamic" threshold): later blocks come from the heap arenas and stay there
//! when freed, fragmented by small allocations around them. Measured with the local
//! server (debug build, scripts/bench's login burst): 32 concurrent logins peaked at
//! 234 MB on these threads (467 MB on tokio's blocking pool), 59 MB with the threshold
//! fixed at glibc's default of 128 KiB, which is what `fix_mmap_threshold` does: every
//! block is mapped for its hash and returned to the system after it.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, LazyLock, Mutex};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

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
    fix_mmap_threshold();
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

/// Setting the threshold at all turns glibc's dynamic adjustment off; 128 KiB is its own
/// starting value, so only the hash blocks (and other allocations past 128 KiB, rare
/// here) change: always mapped, always returned. Other allocators need nothing.
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator setting; it takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
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
async fn on_hashing_thread<T: Send + 'static>(hashing: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
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

/// A well-formed argon2id hash, at the current parameters, that no known password matches. Verifying
/// an unknown email's login against it costs the same as a wrong password for a real
/// user, so response time does not reveal which emails are registered. A test checks its
/// parameters match `Argon2::default()`.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$ra5+yX7nKwP0SVYr5Ppgmw$t8GZCWXu4pB+m3pGQ0uqSGTU4oeqb9bu2uy9sNiUwvQ";

pub async fn hash(password: String) -> Result<String, ApiError> {
    on_hashing_thread(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ApiError::internal(format!("hashing a password: {e}")))
    })
    .await?
}

/// True when `password` matches `phc`. A stored hash that does not parse counts as no
/// match (and is logged): it cannot be verified, and must not turn into a 500 at login.
pub async fn verify(password: String, phc: String) -> Result<bool, ApiError> {
    on_hashing_thread(move || match Argon2::default().verify_password(password.as_bytes(), phc.as_str()) {
        Ok(()) => true,
        Err(argon2::password_hash::Error::PasswordInvalid) => false,
        Err(e) => {
            tracing::error!(error = %e, "a stored password hash could not be verified");
            false
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::phc::PasswordHash;

    #[tokio::test]
    async fn hash_then_verify_round_trips() {
        let phc = hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("correct horse".into(), phc.clone()).await.unwrap());
        assert!(!verify("wrong horse".into(), phc).await.unwrap());
    }

    #[tokio::test]
    async fn dummy_hash_has_the_parameters_real_hashes_get() {
        let real = hash("anything".into()).await.unwrap();
        let real = PasswordHash::new(&real).unwrap();
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert!(!verify("anything".into(), DUMMY_HASH.into()).await.unwrap());
    }

    #[tokio::test]
    async fn unparseable_stored_hash_is_no_match_not_an_error() {
        assert!(!verify("x".into(), "not-a-phc-string".into()).await.unwrap());
    }
}
