//! Password hashing with argon2id at OWASP's parameters (m = 19456 KiB, t = 2, p = 1).
//!
//! Hashing is CPU- and memory-heavy on purpose, so it runs on a few dedicated threads fed by
//! a queue: a flood of sign-ins waits its turn instead of exhausting the async workers, and
//! memory stays bounded. (On tokio's blocking pool each new thread kept its own ~19 MiB
//! malloc arena: the benchmark's sign-in scenario peaked at 770 MB of RSS.) There is one
//! hashing thread per CPU the process may use, at most four: more would not hash faster, and
//! each one holds ~19 MiB while it works.

use std::sync::{LazyLock, Mutex, mpsc};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{AppError, AppResult};

/// Most hashing threads, so at most this many hashes at once (each takes ~19 MiB).
const MAX_HASH_THREADS: usize = 4;

type Job = Box<dyn FnOnce() + Send>;

/// The queue the hashing threads take work from (started on first use).
static QUEUE: LazyLock<Mutex<mpsc::Sender<Job>>> = LazyLock::new(|| {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = std::sync::Arc::new(Mutex::new(receiver));
    // available_parallelism honours cgroup CPU quotas, so a pod limited to 2 CPUs gets 2.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_HASH_THREADS);
    for i in 0..threads {
        let receiver = receiver.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                loop {
                    let job = match receiver.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A panicking job must not take a hashing thread with it.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return,
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start a password hashing thread");
        }
    }
    Mutex::new(sender)
});

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` into a PHC string.
pub async fn hash(password: String) -> AppResult<String> {
    run_limited(move || {
        let salt_bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt_bytes)
            .map_err(|e| AppError::internal(anyhow::anyhow!("argon2 salt: {e}")))?;
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::internal(anyhow::anyhow!("argon2 hash: {e}")))
    })
    .await
}

/// Checks `password` against a PHC string; a malformed stored hash counts as a mismatch.
pub async fn verify(password: String, phc: String) -> AppResult<bool> {
    run_limited(move || {
        Ok(PasswordHash::new(&phc)
            .map(|parsed| {
                argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false))
    })
    .await
}

/// Enforces the password policy; the error names `field`.
pub fn check_policy(field: &str, password: &str, min_length: usize) -> AppResult<()> {
    let length = password.chars().count();
    if length < min_length {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at least {min_length} characters"),
        ));
    }
    if length > 1024 {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at most 1024 characters"),
        ));
    }
    Ok(())
}

/// A random password for the generated bootstrap admin.
pub fn generate() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 20)
}

async fn run_limited<T: Send + 'static>(
    work: impl FnOnce() -> AppResult<T> + Send + 'static,
) -> AppResult<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(work());
    });
    QUEUE
        .lock()
        .map_err(|_| AppError::internal(anyhow::anyhow!("password hashing queue poisoned")))?
        .send(job)
        .map_err(|_| AppError::internal(anyhow::anyhow!("password hashing threads are gone")))?;
    result
        .await
        .map_err(|_| AppError::internal(anyhow::anyhow!("password hashing job was dropped")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let phc = hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            verify("correct horse battery".into(), phc.clone())
                .await
                .unwrap()
        );
        assert!(!verify("wrong".into(), phc).await.unwrap());
        assert!(!verify("x".into(), "not a hash".into()).await.unwrap());
    }

    #[test]
    fn policy() {
        assert!(check_policy("password", "short", 12).is_err());
        assert!(check_policy("password", "long enough password", 12).is_ok());
        assert_eq!(generate().len(), 20);
    }
}
