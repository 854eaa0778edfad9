//! Group commit for hot products. Each product with orders in flight has one task;
//! requests queue to it and every transaction takes *all* that queued while the
//! previous one committed (up to `MAX_BATCH`): one conditional stock UPDATE for the
//! batch's total, multi-row inserts of orders, lines and outbox events, one commit.
//! Throughput is then bounded by batch size × commits/s rather than one commit per
//! buyer, while stock still moves only through the conditional write.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};
use surge_kernel::clock::Clock;
use surge_kernel::events::OutboxSignal;
use surge_kernel::ApiError;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::keys::{stored_orders, Seen};
use super::records::{
    insert_orders, out_of_stock, take_stock, to_view, LineView, NewOrder, OrderView, DUPLICATE_KEY,
};
use super::refusals::{Refusals, REMEMBER_FOR};
use crate::catalog::Catalog;
use crate::entities::{order, order_line, product};

pub const MAX_BATCH: usize = 500;
/// A product's task exits after this long without orders.
const IDLE: Duration = Duration::from_secs(30);

struct Job {
    quantity: i64,
    order: NewOrder,
    reply: oneshot::Sender<Result<OrderView, ApiError>>,
}

impl Job {
    /// Its buyer and Idempotency-Key, if it has one.
    fn key(&self) -> Option<(Uuid, &str)> {
        let o = &self.order;
        o.idem_key.as_deref().map(|k| (o.user_id, k))
    }
}

type Queues = Arc<Mutex<HashMap<Uuid, mpsc::UnboundedSender<Job>>>>;

pub struct Batcher {
    inner: Arc<Inner>,
    queues: Queues,
}

struct Inner {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    outbox: OutboxSignal,
    catalog: Arc<Catalog>,
    /// Most unpaid units of a product per buyer.
    unpaid_cap: i64,
    /// Buyers whose `shop_buyers` row exists (bounded; forgetting costs one insert).
    known_buyers: Mutex<HashSet<Uuid>>,
    /// When this instance last saw each buyer's unpaid units drop (paid or cancelled):
    /// what a task remembers of them from before is no longer true.
    released: Mutex<HashMap<Uuid, Instant>>,
}

const KNOWN_BUYERS_MAX: usize = 200_000;
/// Buyers whose release is kept before the old ones are dropped (see `released`).
const RELEASED_MAX: usize = 10_000;

impl Batcher {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        outbox: OutboxSignal,
        catalog: Arc<Catalog>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                clock,
                outbox,
                catalog,
                unpaid_cap: crate::buyers::DEFAULT_UNPAID_CAP,
                known_buyers: Mutex::default(),
                released: Mutex::default(),
            }),
            queues: Arc::default(),
        }
    }

    /// Sets the unpaid-units cap (before any order is submitted).
    pub fn with_unpaid_cap(mut self, cap: i64) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.unpaid_cap = cap;
        }
        self
    }

    /// Tells the product tasks that this buyer has fewer unpaid units than before (an
    /// order of theirs was paid or cancelled), so none refuses them from memory.
    pub fn released(&self, user: Uuid) {
        let mut released = self
            .inner
            .released
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if released.len() >= RELEASED_MAX {
            released.retain(|_, at| at.elapsed() < REMEMBER_FOR);
        }
        released.insert(user, Instant::now());
    }

    /// Places a one-line order through the product's batch; answers when its batch
    /// committed (or was refused).
    pub async fn submit(
        &self,
        product_id: Uuid,
        quantity: i64,
        order: NewOrder,
    ) -> Result<OrderView, ApiError> {
        let (reply, answer) = oneshot::channel();
        let mut job = Job {
            quantity,
            order,
            reply,
        };
        // A queue whose task just exited refuses the job; the second try starts a new task.
        for _ in 0..2 {
            let tx = self.queue(product_id);
            match tx.send(job) {
                Ok(()) => {
                    return answer.await.map_err(|_| {
                        ApiError::internal(anyhow::anyhow!(
                            "order batch task ended without an answer"
                        ))
                    })?;
                }
                Err(mpsc::error::SendError(back)) => {
                    job = back;
                    let mut q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
                    if q.get(&product_id).is_some_and(|t| t.same_channel(&tx)) {
                        q.remove(&product_id);
                    }
                }
            }
        }
        Err(ApiError::unavailable(
            "the order queue for this product is restarting; retry",
        ))
    }

    fn queue(&self, product_id: Uuid) -> mpsc::UnboundedSender<Job> {
        let mut q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = q.get(&product_id) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        q.insert(product_id, tx.clone());
        tokio::spawn(run(
            self.inner.clone(),
            self.queues.clone(),
            product_id,
            rx,
            tx.clone(),
        ));
        tx
    }
}

async fn run(
    inner: Arc<Inner>,
    queues: Queues,
    product_id: Uuid,
    mut rx: mpsc::UnboundedReceiver<Job>,
    me: mpsc::UnboundedSender<Job>,
) {
    let mut task = Task {
        inner: &inner,
        product_id,
        seen: Seen::default(),
        refusals: Refusals::default(),
    };
    loop {
        let first = match tokio::time::timeout(IDLE, rx.recv()).await {
            Ok(Some(job)) => job,
            Ok(None) => return,
            Err(_) => {
                // Idle: unregister, then finish whatever slipped in before that.
                {
                    let mut q = queues.lock().unwrap_or_else(|p| p.into_inner());
                    if q.get(&product_id).is_some_and(|t| t.same_channel(&me)) {
                        q.remove(&product_id);
                    }
                }
                drop(me);
                rx.close();
                let mut rest = Vec::new();
                while let Ok(job) = rx.try_recv() {
                    rest.push(job);
                }
                while !rest.is_empty() {
                    let jobs: Vec<Job> = rest.drain(..rest.len().min(MAX_BATCH)).collect();
                    task.handle(jobs).await;
                }
                return;
            }
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        task.handle(jobs).await;
    }
}

/// One product's batching state.
struct Task<'a> {
    inner: &'a Inner,
    product_id: Uuid,
    seen: Seen,
    refusals: Refusals,
}

impl Task<'_> {
    async fn handle(&mut self, mut jobs: Vec<Job>) {
        let (product, cap) = (self.product_id, self.inner.unpaid_cap);
        let verdicts: Vec<_> = {
            let released = self
                .inner
                .released
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            jobs.iter()
                .map(|j| {
                    let user = j.order.user_id;
                    let since = released.get(&user).copied();
                    self.refusals.verdict(user, j.quantity, cap, since)
                })
                .collect()
        };
        // Jobs that must be checked against stored orders whatever `Seen` says.
        let mut must_check: Vec<bool> = verdicts.iter().map(Option::is_some).collect();
        if must_check.contains(&true) {
            // Bound to be refused (sold out, or the buyer at the cap a moment ago): one
            // read finds the retries of stored orders among them (made here or on
            // another instance), which go on to be replayed; the rest are refused
            // without a transaction. If that read fails, the batch checks them itself.
            let suspects = jobs.iter().zip(&must_check).filter(|(_, m)| **m);
            let suspects = suspects.filter_map(|(j, _)| j.key());
            match stored_orders(&self.inner.db, suspects).await {
                Ok(stored) => {
                    let mut kept = Vec::with_capacity(jobs.len());
                    must_check.clear();
                    for (job, verdict) in jobs.into_iter().zip(verdicts) {
                        let retry =
                            job.order.idem_key.as_ref().is_some_and(|k| {
                                stored.contains_key(&(job.order.user_id, k.clone()))
                            });
                        match verdict {
                            Some(refusal) if !retry => {
                                refusal.count();
                                let _ = job.reply.send(Err(refusal.error(product, cap)));
                            }
                            verdict => {
                                must_check.push(verdict.is_some());
                                kept.push(job);
                            }
                        }
                    }
                    jobs = kept;
                    if jobs.is_empty() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "looking up retried orders failed"),
            }
        }
        metrics::histogram!("surge_shop_order_batch_size").record(jobs.len() as f64);
        if let Some(batch) = self.commit(jobs, &must_check).await {
            self.refusals.after_batch(batch.left, batch.units);
        }
    }

    /// Runs one batch and answers its jobs; returns what it left, if it ran.
    async fn commit(&mut self, jobs: Vec<Job>, must_check: &[bool]) -> Option<Left> {
        let (inner, product_id) = (self.inner, self.product_id);
        let mut check = self.seen.check(jobs.iter().map(Job::key));
        for (c, m) in check.iter_mut().zip(must_check) {
            *c |= *m;
        }
        let mut outcome = commit_batch(inner, product_id, &jobs, &check).await;
        if matches!(&outcome, Err(e) if e.code == DUPLICATE_KEY) {
            // A key we did not check has an order (a retry sent to another instance, or a
            // concurrent first attempt there): the re-run checks every key and replays it.
            let all = vec![true; jobs.len()];
            outcome = commit_batch(inner, product_id, &jobs, &all).await;
        }
        match outcome {
            Ok((answers, left)) => {
                for (job, answer) in jobs.into_iter().zip(answers) {
                    let _ = job.reply.send(answer);
                }
                Some(left)
            }
            Err(e) => {
                if e.status.is_server_error() {
                    tracing::error!(error = %e, product = %product_id, "order batch failed; nothing was taken");
                }
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(ApiError::new(e.status, e.code, e.detail.clone())));
                }
                None
            }
        }
    }
}

/// What a committed batch left behind.
struct Left {
    /// The product's stock.
    left: i64,
    /// The unpaid units of the product of each buyer in the batch.
    units: HashMap<Uuid, i64>,
}

enum Plan {
    /// Asks for stock.
    Take,
    /// Its Idempotency-Key already has an order: answer with that order.
    Replay(Box<order::Model>),
    /// Same user and key as an earlier job of this batch: same answer as that one.
    SameAs(usize),
    /// Would leave its buyer with more unpaid units than allowed (they have this many).
    OverLimit(i64),
}

/// Marks, in arrival order, the jobs that would take their buyer past the unpaid cap
/// (counting what this batch grants before them).
fn apply_limit(
    plans: &mut [Plan],
    jobs: &[Job],
    unpaid: &HashMap<(Uuid, Uuid), i64>,
    product: Uuid,
    cap: i64,
) {
    let mut have: HashMap<Uuid, i64> = HashMap::new();
    for (p, j) in plans.iter_mut().zip(jobs) {
        if !matches!(p, Plan::Take) {
            continue;
        }
        let user = j.order.user_id;
        let mine = have
            .entry(user)
            .or_insert_with(|| unpaid.get(&(user, product)).copied().unwrap_or(0));
        if *mine + j.quantity > cap {
            *p = Plan::OverLimit(*mine);
        } else {
            *mine += j.quantity;
        }
    }
}

/// Creates the `shop_buyers` rows this batch needs that this task has not seen.
async fn ensure_buyers(inner: &Inner, jobs: &[Job], now: i64) -> Result<(), DbErr> {
    let fresh: Vec<Uuid> = {
        let known = inner.known_buyers.lock().unwrap_or_else(|p| p.into_inner());
        jobs.iter()
            .map(|j| j.order.user_id)
            .filter(|u| !known.contains(u))
            .collect()
    };
    if fresh.is_empty() {
        return Ok(());
    }
    crate::buyers::ensure(&inner.db, &fresh, now).await?;
    let mut known = inner.known_buyers.lock().unwrap_or_else(|p| p.into_inner());
    if known.len() + fresh.len() > KNOWN_BUYERS_MAX {
        known.clear();
    }
    known.extend(fresh);
    Ok(())
}

/// One transaction for the whole batch; one answer per job. `check[i]`: look up
/// whether job i's key already has an order. One span per batch, none per order.
#[tracing::instrument(skip_all, fields(product = %product_id, jobs = jobs.len()))]
async fn commit_batch(
    inner: &Inner,
    product_id: Uuid,
    jobs: &[Job],
    check: &[bool],
) -> Result<(Vec<Result<OrderView, ApiError>>, Left), ApiError> {
    let now = inner.clock.now_ms();
    ensure_buyers(inner, jobs, now).await?;
    let txn = inner.db.begin().await?;
    let mut plans = plan(&txn, jobs, check).await?;
    // Buyers' rows before the product's (the lock order of every path), then their
    // unpaid units: no other order of theirs can slip in between count and insert.
    let users: Vec<Uuid> = jobs.iter().map(|j| j.order.user_id).collect();
    crate::buyers::lock(&txn, &users).await?;
    let unpaid = crate::buyers::unpaid_units(&txn, &users, &[product_id], now).await?;
    apply_limit(&mut plans, jobs, &unpaid, product_id, inner.unpaid_cap);
    let mut grant: Vec<bool> = plans.iter().map(|p| matches!(p, Plan::Take)).collect();
    let wanted: i64 = jobs
        .iter()
        .zip(&grant)
        .filter(|(_, g)| **g)
        .map(|(j, _)| j.quantity)
        .sum();
    if wanted > 0 && !take_stock(&txn, product_id, wanted, now).await? {
        if check.contains(&false) {
            // Some will be refused, and a refused retry of a stored order would never
            // reach the unique index: look up every key before answering.
            plans = plan(&txn, jobs, &vec![true; jobs.len()]).await?;
            apply_limit(&mut plans, jobs, &unpaid, product_id, inner.unpaid_cap);
        }
        // Not enough for everyone: grant in arrival order while it fits. Another
        // instance may take stock between our read and write, so re-check and retry.
        let mut taken = false;
        for _ in 0..5 {
            let Some(p) = product::Entity::find_by_id(product_id)
                .filter(product::Column::Active.eq(true))
                .one(&txn)
                .await?
            else {
                txn.rollback().await?;
                return Err(
                    ApiError::not_found(format!("line 0: no such product {product_id}"))
                        .with("line", 0),
                );
            };
            let mut left = p.stock;
            let mut sum = 0;
            for ((g, j), plan) in grant.iter_mut().zip(jobs).zip(&plans) {
                *g = matches!(plan, Plan::Take) && j.quantity <= left;
                if *g {
                    left -= j.quantity;
                    sum += j.quantity;
                }
            }
            if sum == 0 || take_stock(&txn, product_id, sum, now).await? {
                taken = true;
                break;
            }
        }
        if !taken {
            txn.rollback().await?;
            return Err(ApiError::unavailable("stock changed too fast; retry"));
        }
    }
    let p = product::Entity::find_by_id(product_id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("no such product"))?;
    let mut orders = Vec::new();
    let mut order_index = vec![None; jobs.len()];
    for (i, (j, g)) in jobs.iter().zip(&grant).enumerate() {
        if !*g {
            continue;
        }
        let o = &j.order;
        order_index[i] = Some(orders.len());
        orders.push(NewOrder {
            id: o.id,
            user_id: o.user_id,
            subtotal: p.price * j.quantity,
            discount: 0,
            coupon_id: None,
            idem_key: o.idem_key.clone(),
            request_hash: o.request_hash.clone(),
            shipping: o.shipping.clone(),
            lines: vec![LineView {
                product_id,
                product_name: p.name.clone(),
                unit_price: p.price,
                quantity: j.quantity,
            }],
            now,
            expires_at: now + (o.expires_at - o.now),
        });
    }
    if let Err(e) = insert_orders(&txn, &orders).await {
        txn.rollback().await?;
        return Err(e);
    }
    let replays = replay_views(&txn, &plans).await?;
    txn.commit().await?;
    let mut units: HashMap<Uuid, i64> = HashMap::new();
    for (j, g) in jobs.iter().zip(&grant) {
        let user = j.order.user_id;
        let have = units
            .entry(user)
            .or_insert_with(|| unpaid.get(&(user, product_id)).copied().unwrap_or(0));
        if *g {
            *have += j.quantity;
        }
    }
    if !orders.is_empty() {
        inner.outbox.wake();
    }
    if p.stock == 0 {
        // Sold out: make the catalog say so now, not after its cache expires.
        inner.catalog.forget(product_id).await;
    }
    let mut answers: Vec<Result<OrderView, ApiError>> = Vec::with_capacity(jobs.len());
    for (i, (j, plan)) in jobs.iter().zip(&plans).enumerate() {
        let answer = match plan {
            Plan::Take => match order_index[i] {
                Some(k) => Ok(orders[k].view()),
                None => Err(out_of_stock(0, product_id)),
            },
            Plan::OverLimit(have) => Err(crate::buyers::unpaid_limit(
                0,
                product_id,
                inner.unpaid_cap,
                *have,
            )),
            Plan::Replay(o) => match replays.get(&o.id) {
                Some(v) if o.request_hash == j.order.request_hash => Ok(v.clone()),
                Some(_) => Err(surge_kernel::idempotency::mismatch()),
                None => Err(ApiError::internal(anyhow::anyhow!(
                    "replayed order vanished"
                ))),
            },
            Plan::SameAs(first) => match &answers[*first] {
                _ if jobs[*first].order.request_hash != j.order.request_hash => {
                    Err(surge_kernel::idempotency::mismatch())
                }
                Ok(v) => Ok(v.clone()),
                Err(e) => Err(ApiError::new(e.status, e.code, e.detail.clone())),
            },
        };
        answers.push(answer);
    }
    Ok((
        answers,
        Left {
            left: p.stock,
            units,
        },
    ))
}

/// Which jobs are retries of an order that exists (among those to `check`), or
/// repeats within this batch.
async fn plan(
    txn: &DatabaseTransaction,
    jobs: &[Job],
    check: &[bool],
) -> Result<Vec<Plan>, ApiError> {
    let checked = jobs.iter().zip(check).filter(|(_, c)| **c);
    let checked = checked.filter_map(|(j, _)| j.key());
    let existing = stored_orders(txn, checked).await?;
    let mut first_of: HashMap<(Uuid, &str), usize> = HashMap::new();
    Ok(jobs
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let Some(key) = j.order.idem_key.as_deref() else {
                return Plan::Take;
            };
            if let Some(o) = existing.get(&(j.order.user_id, key.to_owned())) {
                return Plan::Replay(Box::new(o.clone()));
            }
            match first_of.entry((j.order.user_id, key)) {
                std::collections::hash_map::Entry::Occupied(e) => Plan::SameAs(*e.get()),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(i);
                    Plan::Take
                }
            }
        })
        .collect())
}

async fn replay_views(
    txn: &DatabaseTransaction,
    plans: &[Plan],
) -> Result<HashMap<Uuid, OrderView>, ApiError> {
    let mut views = HashMap::new();
    for plan in plans.iter() {
        if let Plan::Replay(o) = plan {
            let lines = order_line::Entity::find()
                .filter(order_line::Column::OrderId.eq(o.id))
                .all(txn)
                .await?;
            views.insert(o.id, to_view((**o).clone(), lines)?);
        }
    }
    Ok(views)
}
