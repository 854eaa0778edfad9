//! Group commit for hot products. Each product with orders in flight has one task;
//! requests queue to it and every transaction takes *all* that queued while the
//! previous one committed (up to `MAX_BATCH`): one conditional stock UPDATE for the
//! batch's total, multi-row inserts of orders, lines and outbox events, one commit.
//! Throughput is then bounded by batch size × commits/s rather than one commit per
//! buyer, while stock still moves only through the conditional write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use surge_kernel::clock::Clock;
use surge_kernel::events::OutboxSignal;
use surge_kernel::ApiError;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::catalog::Catalog;
use crate::entities::product;
use crate::orders::{insert_orders, out_of_stock, take_stock, LineView, NewOrder, OrderView};

pub const MAX_BATCH: usize = 500;
/// A product's task exits after this long without orders.
const IDLE: Duration = Duration::from_secs(30);

struct Job {
    quantity: i64,
    order: NewOrder,
    reply: oneshot::Sender<Result<OrderView, ApiError>>,
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
}

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
            }),
            queues: Arc::default(),
        }
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
                    commit(&inner, product_id, jobs).await;
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
        metrics::histogram!("surge_shop_order_batch_size").record(jobs.len() as f64);
        commit(&inner, product_id, jobs).await;
    }
}

async fn commit(inner: &Inner, product_id: Uuid, jobs: Vec<Job>) {
    match commit_batch(inner, product_id, &jobs).await {
        Ok(granted) => {
            for (job, ok) in jobs.into_iter().zip(granted) {
                let answer = match ok {
                    Some(view) => Ok(view),
                    None => Err(out_of_stock(0, product_id)),
                };
                let _ = job.reply.send(answer);
            }
        }
        Err(e) => {
            let code = e.code;
            let detail = e.detail.clone();
            if e.status.is_server_error() {
                tracing::error!(error = %e, product = %product_id, "order batch failed; nothing was taken");
            }
            for job in jobs {
                let _ = job
                    .reply
                    .send(Err(ApiError::new(e.status, code, detail.clone())));
            }
        }
    }
}

/// One transaction for the whole batch; `Some(order)` for each granted job.
async fn commit_batch(
    inner: &Inner,
    product_id: Uuid,
    jobs: &[Job],
) -> Result<Vec<Option<OrderView>>, ApiError> {
    let now = inner.clock.now_ms();
    let txn = inner.db.begin().await?;
    let wanted: i64 = jobs.iter().map(|j| j.quantity).sum();
    let mut grant = vec![true; jobs.len()];
    if !take_stock(&txn, product_id, wanted, now).await? {
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
            for (g, j) in grant.iter_mut().zip(jobs) {
                *g = j.quantity <= left;
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
    if !grant.iter().any(|g| *g) {
        txn.rollback().await?;
        return Ok(vec![None; jobs.len()]);
    }
    let p = product::Entity::find_by_id(product_id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("no such product"))?;
    let mut orders = Vec::new();
    for (j, g) in jobs.iter().zip(&grant) {
        if !*g {
            continue;
        }
        let o = &j.order;
        orders.push(NewOrder {
            id: o.id,
            user_id: o.user_id,
            subtotal: p.price * j.quantity,
            discount: 0,
            coupon_id: None,
            idem_key: o.idem_key.clone(),
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
    insert_orders(&txn, &orders).await?;
    txn.commit().await?;
    inner.outbox.wake();
    if p.stock == 0 {
        // Sold out: make the catalog say so now, not after its cache expires.
        inner.catalog.forget(product_id).await;
    }
    let mut views = orders.iter().map(NewOrder::view);
    Ok(grant
        .into_iter()
        .map(|g| if g { views.next() } else { None })
        .collect())
}
