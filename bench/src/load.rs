//! The two ways of loading a client: a closed loop of `concurrency` workers (each sends its
//! next request when the last one answered: this finds the saturating throughput), and an
//! open loop at a fixed rate (requests leave on a schedule whatever the answers do: this
//! gives latencies at a load the machine can carry).
//!
//! Open-loop latency is measured from the moment a request was *scheduled*, not from when it
//! was sent, so a stalled server shows up in the percentiles instead of hiding behind a
//! slower send rate (coordinated omission).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// Something that can perform one operation of a scenario: adminql over HTTP, or the direct
/// SQL baseline.
pub trait Client: Send + Sync + 'static {
    /// Per-worker state (an HTTP connection); the direct client keeps a pool instead.
    type Session: Send + 'static;

    fn open(&self) -> impl Future<Output = anyhow::Result<Self::Session>> + Send;

    /// Runs one operation; `Err` is a failed response, with the reason.
    fn call(
        &self,
        session: &mut Self::Session,
        rng: &mut fastrand::Rng,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// What one run measured, on the client side.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Latencies of the successful requests, in microseconds.
    pub latencies_us: Vec<u32>,
    pub failures: u64,
    /// Up to a few distinct failure reasons, for the report.
    pub failure_reasons: Vec<String>,
    pub elapsed: Duration,
    /// Open loop only: requests that could not leave on time because `max_in_flight`
    /// requests were outstanding (their latency still counts from the schedule).
    pub late: u64,
}

impl Sample {
    pub fn requests(&self) -> u64 {
        self.latencies_us.len() as u64 + self.failures
    }

    pub fn throughput(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn fail(&mut self, reason: String) {
        self.failures += 1;
        if self.failure_reasons.len() < 5 && !self.failure_reasons.contains(&reason) {
            self.failure_reasons.push(reason);
        }
    }

    /// Adds `other`'s requests (not its elapsed time).
    pub fn merge(&mut self, other: Sample) {
        self.latencies_us.extend(other.latencies_us);
        self.failures += other.failures;
        for r in other.failure_reasons {
            if self.failure_reasons.len() < 5 && !self.failure_reasons.contains(&r) {
                self.failure_reasons.push(r);
            }
        }
        self.late += other.late;
    }

    /// How many successful latencies fall at or under each bound (milliseconds), bucket by
    /// bucket; the last bucket is open.
    pub fn histogram(&self) -> Vec<(f64, u64)> {
        const BOUNDS: [f64; 17] = [
            0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 75.0, 100.0, 200.0,
            500.0, 1000.0,
        ];
        let mut counts = vec![0u64; BOUNDS.len() + 1];
        for &us in &self.latencies_us {
            let ms = f64::from(us) / 1000.0;
            let i = BOUNDS.iter().position(|b| ms <= *b).unwrap_or(BOUNDS.len());
            counts[i] += 1;
        }
        BOUNDS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The `q` quantile (0..=1) of successful latencies, in milliseconds.
    pub fn percentile_ms(&mut self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let rank = ((q * self.latencies_us.len() as f64).ceil() as usize).max(1) - 1;
        f64::from(self.latencies_us[rank.min(self.latencies_us.len() - 1)]) / 1000.0
    }
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

/// Sessions shared by the workers; kept across runs so connections are not reopened.
pub struct Sessions<C: Client> {
    idle: Mutex<Vec<C::Session>>,
}

impl<C: Client> Default for Sessions<C> {
    fn default() -> Self {
        Sessions {
            idle: Mutex::new(Vec::new()),
        }
    }
}

impl<C: Client> Sessions<C> {
    async fn take(&self, client: &C) -> Result<C::Session, String> {
        let idle = self.idle.lock().expect("sessions lock").pop();
        match idle {
            Some(session) => Ok(session),
            None => client.open().await.map_err(|e| format!("connect: {e}")),
        }
    }

    fn put(&self, session: C::Session) {
        self.idle.lock().expect("sessions lock").push(session);
    }
}

/// Runs `concurrency` workers, each sending requests back to back for `duration`.
pub async fn closed_loop<C: Client>(
    client: Arc<C>,
    sessions: Arc<Sessions<C>>,
    concurrency: usize,
    duration: Duration,
    seed: u64,
) -> Sample {
    let start = Instant::now();
    let end = start + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let client = client.clone();
        let sessions = sessions.clone();
        workers.push(tokio::spawn(async move {
            let mut rng =
                fastrand::Rng::with_seed(seed ^ (worker as u64).wrapping_mul(0x9E37_79B9));
            let mut sample = Sample::default();
            let mut session = match sessions.take(&client).await {
                Ok(s) => s,
                Err(e) => {
                    sample.fail(e);
                    return sample;
                }
            };
            while Instant::now() < end {
                let sent = Instant::now();
                match client.call(&mut session, &mut rng).await {
                    Ok(()) => sample.latencies_us.push(micros(sent.elapsed())),
                    Err(reason) => sample.fail(reason),
                }
            }
            sessions.put(session);
            sample
        }));
    }
    let mut total = Sample::default();
    for worker in workers {
        match worker.await {
            Ok(sample) => total.merge(sample),
            Err(e) => total.fail(format!("worker panicked: {e}")),
        }
    }
    total.elapsed = start.elapsed();
    total
}

/// Sends `rate` requests per second on a fixed schedule for `duration`, with at most
/// `max_in_flight` outstanding. Requests slower than `slow_log_ms` are printed to stderr.
pub async fn open_loop<C: Client>(
    client: Arc<C>,
    sessions: Arc<Sessions<C>>,
    rate: f64,
    max_in_flight: usize,
    duration: Duration,
    seed: u64,
    slow_log_ms: Option<u32>,
) -> Sample {
    let slow_us = slow_log_ms.map(|ms| ms.saturating_mul(1000));
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let permits = Arc::new(Semaphore::new(max_in_flight));
    let shared = Arc::new(Mutex::new(Sample::default()));
    let start = Instant::now();
    let mut late = 0;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0u64.. {
        let scheduled = start + interval.mul_f64(i as f64);
        if scheduled >= start + duration {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                late += 1;
                permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore open")
            }
        };
        let client = client.clone();
        let sessions = sessions.clone();
        let shared = shared.clone();
        let mut rng = fastrand::Rng::with_seed(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        tasks.spawn(async move {
            let result = match sessions.take(&client).await {
                Ok(mut session) => {
                    let result = client.call(&mut session, &mut rng).await;
                    sessions.put(session);
                    result
                }
                Err(e) => Err(e),
            };
            let latency = micros(scheduled.elapsed());
            if slow_us.is_some_and(|limit| latency > limit) {
                log_slow(latency);
            }
            let mut sample = shared.lock().expect("sample lock");
            match result {
                Ok(()) => sample.latencies_us.push(latency),
                Err(reason) => sample.fail(reason),
            }
            drop(permit);
        });
        // Reap finished tasks as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let mut total = std::mem::take(&mut *shared.lock().expect("sample lock"));
    total.elapsed = start.elapsed();
    total.late = late;
    total
}

/// One line per slow request: when it finished (Unix time, which `perf record -k mono`
/// traces can be lined up with by the offset between the two clocks) and how long it took.
fn log_slow(latency_us: u32) {
    let finished = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    eprintln!(
        "bench: slow request finished at {:.6} after {:.3} ms",
        finished.as_secs_f64(),
        f64::from(latency_us) / 1000.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut s = Sample {
            latencies_us: (1..=100).map(|i| i * 1000).collect(),
            ..Sample::default()
        };
        assert_eq!(s.percentile_ms(0.5), 50.0);
        assert_eq!(s.percentile_ms(0.99), 99.0);
        assert_eq!(s.percentile_ms(1.0), 100.0);
    }
}
