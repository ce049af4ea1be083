//! The webhook worker: a background task of `eryxon serve` that turns the event log into
//! signed HTTP deliveries. Each tick it fans new events out to the endpoints subscribed to
//! them, claims due deliveries under a lease, and sends each on a task of its own, so a slow
//! endpoint only ever holds its own slots (`webhooks::a_slow_endpoint_does_not_delay_another`).

mod send;
mod ssrf;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use crate::domain::network::AllowedNetworks;
use crate::domain::webhook::RetrySchedule;
use crate::store::deliveries::{self, Claimed};
use crate::store::Store;

/// How often the worker looks for new events and due deliveries.
const TICK: Duration = Duration::from_millis(100);
/// How long a claimed delivery is this instance's: longer than a send can take (15 s timeout).
const LEASE: Duration = Duration::from_secs(30);
/// Sends in flight in this instance.
const IN_FLIGHT: usize = 64;
/// Sends in flight to one endpoint, and to one tenant's endpoints, across instances: a
/// tenant's receivers, stuck, hold at most 24 of an instance's 64 sends.
const CAPS: deliveries::Caps = deliveries::Caps {
    per_endpoint: 8,
    per_tenant: 24,
};
/// Deliveries fanned out after which the planner's statistics of the deliveries are refreshed,
/// and the least time between two refreshes (`deliveries::refresh_statistics`).
const REFRESH_AFTER: usize = 500;
const REFRESH_EVERY: Duration = Duration::from_secs(2);

/// What the worker needs.
#[derive(Clone)]
pub struct Worker {
    store: Arc<dyn Store>,
    clients: Arc<ssrf::Clients>,
    schedule: Arc<RetrySchedule>,
    slots: Arc<Semaphore>,
    /// Signalled when a send ends: its slot is free, and more may be due at once.
    freed: Arc<Notify>,
    /// Deliveries fanned out since the statistics were last refreshed, and when that was.
    fanned: Arc<std::sync::Mutex<(usize, Option<std::time::Instant>)>>,
    /// Set when the server stops: no more claims, the sends in flight finish.
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl Worker {
    pub fn new(store: Arc<dyn Store>, schedule: RetrySchedule, allowed: AllowedNetworks) -> Worker {
        Worker {
            store,
            clients: Arc::new(ssrf::Clients::new(allowed, send::builder)),
            schedule: Arc::new(schedule),
            slots: Arc::new(Semaphore::new(IN_FLIGHT)),
            freed: Arc::new(Notify::new()),
            fanned: Arc::default(),
            stopping: Arc::default(),
        }
    }

    /// Claims nothing more; what is being sent goes on.
    pub fn stop_claiming(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Stops claiming and waits for the sends in flight to end, each recorded (at most a
    /// send's timeout): a stop that cut them off left their deliveries leased, sent again 30 s
    /// later by the next server, duplicates of what the receivers had already taken
    /// (`webhooks::a_stop_lets_the_sends_in_flight_finish`).
    pub async fn stop(&self) {
        self.stop_claiming();
        let all = u32::try_from(IN_FLIGHT).expect("a few slots");
        let drained = tokio::time::timeout(send::TIMEOUT + TICK, self.slots.acquire_many(all));
        if drained.await.is_err() {
            tracing::warn!("stopped with webhook sends in flight; their leases run out");
        }
    }

    /// Runs until aborted. A database failure is logged and the next tick tries again: what is
    /// committed stays to be sent.
    ///
    /// A round also starts as soon as a send ends, not only on the tick: an endpoint has at most
    /// 8 sends in flight ([`CAPS`]), so waiting for the tick would cap one receiver at 8
    /// deliveries per 100 ms (decision 0024).
    pub async fn run(self) {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = self.freed.notified() => {}
            }
            if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            if let Err(error) = self.round().await {
                tracing::warn!(%error, "webhook worker: will try again");
            }
        }
    }

    async fn round(&self) -> Result<(), crate::store::StoreError> {
        let created = deliveries::fan_out(&*self.store).await?;
        if self.burst(created) {
            deliveries::refresh_statistics(&*self.store).await?;
        }
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(());
        }
        let claimed = deliveries::claim(&*self.store, free, CAPS, LEASE).await?;
        let mut claimed = claimed.into_iter();
        while let Some(delivery) = claimed.next() {
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                // More claimed than slots (a stop is taking them): never sent, so not leased
                // either, or the next server would wait out the lease and log a send cut off.
                let unsent: Vec<_> = std::iter::once(delivery).chain(claimed).collect();
                deliveries::release(&*self.store, &unsent).await?;
                break;
            };
            let worker = self.clone();
            tokio::spawn(async move {
                worker.deliver(delivery).await;
                drop(permit);
                // Several sends ending together wake one round (`Notify` keeps one permit).
                worker.freed.notify_one();
            });
        }
        Ok(())
    }

    /// Whether the deliveries fanned out since the last refresh of the statistics make a burst
    /// worth refreshing them for.
    fn burst(&self, created: usize) -> bool {
        let mut fanned = self.fanned.lock().unwrap_or_else(|e| e.into_inner());
        fanned.0 += created;
        let due = fanned.1.is_none_or(|at| at.elapsed() >= REFRESH_EVERY);
        if fanned.0 >= REFRESH_AFTER && due {
            *fanned = (0, Some(std::time::Instant::now()));
            return true;
        }
        false
    }

    async fn deliver(&self, delivery: Claimed) {
        let outcome = send::attempt(&self.clients, &delivery, &self.schedule).await;
        if let Err(error) = deliveries::record(&*self.store, &delivery, &outcome).await {
            // The lease runs out and the delivery goes again: at least once.
            tracing::warn!(%error, delivery = %delivery.id, "could not record a webhook attempt");
        }
    }
}
