//! Fare sales behind a virtual waiting room.
//!
//! Travellers join a sale's queue (the `WaitingRoom` port: FIFO by join order); an
//! admission step run by every instance lets the oldest waiters in at the sale's rate,
//! never more than `max_active` at once (the store keeps the token bucket, so more
//! instances do not mean a faster rate). An admitted traveller gets a pass: an HMAC
//! over (sale, user, place, expiry) with a server secret, checked on every seat-map
//! and hold request of the sale's flight without touching any store.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use sha2::Sha256;
use surge_kernel::clock::Clock;
use surge_kernel::waiting_room::{AdmissionPolicy, Place, RoomStats, WaitingRoom};
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::domain::{FlightStatus, SaleRules, SaleStatus};
use crate::entities::sale;
use crate::flights::{flight_cancelled, Flights};

pub const PASS_HEADER: &str = "x-admission-pass";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SaleView {
    pub id: Uuid,
    pub flight_id: Uuid,
    pub admission_rate: i32,
    pub max_active: i32,
    pub pass_ttl_secs: i32,
    /// OPEN or CLOSED.
    pub status: SaleStatus,
    pub opened_at: String,
    pub closed_at: Option<String>,
}

impl From<sale::Model> for SaleView {
    fn from(s: sale::Model) -> Self {
        SaleView {
            id: s.id,
            flight_id: s.flight_id,
            admission_rate: s.admission_rate,
            max_active: s.max_active,
            pass_ttl_secs: s.pass_ttl_secs,
            status: s.status,
            opened_at: rfc3339(s.opened_at),
            closed_at: s.closed_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SaleFigures {
    #[serde(flatten)]
    pub sale: SaleView,
    #[serde(flatten)]
    pub queue: RoomStats,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueueView {
    pub sale_id: Uuid,
    /// `waiting` or `admitted`.
    pub status: &'static str,
    /// Join number: the order of admission.
    pub seq: u64,
    /// 1 means next in line; 0 once admitted.
    pub position: u64,
    /// How many are ahead.
    pub ahead: u64,
    /// Rough wait at the sale's admission rate.
    pub eta_secs: u64,
    /// Send as `X-Admission-Pass` on the seat-map and hold requests (admitted only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admitted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_expires_at: Option<String>,
}

/// What a valid pass proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub sale: Uuid,
    pub user: Uuid,
    pub seq: u64,
    pub expires_at: Millis,
}

/// Signs and checks admission passes: `base64url(sale.user.seq.expiry).base64url(hmac)`.
#[derive(Clone)]
pub struct PassKey(Vec<u8>);

impl PassKey {
    /// Derives the pass key from a server secret, so it is never the JWT key itself.
    pub fn derive(server_secret: &[u8]) -> Self {
        let mut mac = mac(server_secret);
        mac.update(b"surge admission pass v1");
        PassKey(mac.finalize().into_bytes().to_vec())
    }

    pub fn sign(&self, p: &Pass) -> String {
        let body = format!("{}.{}.{}.{}", p.sale, p.user, p.seq, p.expires_at);
        let mut m = mac(&self.0);
        m.update(body.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(body),
            URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        )
    }

    /// The pass's claims if the signature is ours; expiry is the caller's to check.
    pub fn verify(&self, token: &str) -> Option<Pass> {
        let (body_b64, sig_b64) = token.trim().split_once('.')?;
        let body = URL_SAFE_NO_PAD.decode(body_b64).ok()?;
        let sig = URL_SAFE_NO_PAD.decode(sig_b64).ok()?;
        let mut m = mac(&self.0);
        m.update(&body);
        m.verify_slice(&sig).ok()?; // constant time
        let body = String::from_utf8(body).ok()?;
        let mut parts = body.split('.');
        let pass = Pass {
            sale: parts.next()?.parse().ok()?,
            user: parts.next()?.parse().ok()?,
            seq: parts.next()?.parse().ok()?,
            expires_at: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(pass)
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

pub fn not_admitted(sale: Uuid, why: &str) -> ApiError {
    ApiError::forbidden(
        "not_admitted",
        format!(
            "{why}: join the waiting room of sale {sale} and send its pass as X-Admission-Pass"
        ),
    )
    .with("sale_id", sale.to_string())
}

fn not_in_queue() -> ApiError {
    ApiError::not_found("you are not in this sale's queue; join it first")
}

pub struct Sales {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    room: Arc<dyn WaitingRoom>,
    key: PassKey,
    flights: Arc<Flights>,
    /// flight id → its open sale, for the pass check on every seat request. Kept for
    /// `OPEN_SALE_TTL`, and dropped at once on this instance when a sale opens/closes.
    open_by_flight: moka::future::Cache<Uuid, Option<sale::Model>>,
    by_id: moka::future::Cache<Uuid, Option<sale::Model>>,
}

/// How long another instance may take to notice a sale opening or closing.
pub const OPEN_SALE_TTL: Duration = Duration::from_secs(1);

impl Sales {
    pub fn new(
        f: &surge_kernel::module::Foundation,
        room: Arc<dyn WaitingRoom>,
        key: PassKey,
        flights: Arc<Flights>,
    ) -> Self {
        Sales {
            db: f.db.clone(),
            clock: f.clock.clone(),
            room,
            key,
            flights,
            open_by_flight: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(OPEN_SALE_TTL)
                .build(),
            by_id: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(OPEN_SALE_TTL)
                .build(),
        }
    }

    #[tracing::instrument(skip(self))]
    pub async fn open(&self, d: SaleRules) -> Result<SaleView, ApiError> {
        let f = self.flights.load(d.flight_id).await?;
        if f.status != FlightStatus::Scheduled {
            return Err(flight_cancelled());
        }
        let s = sale::ActiveModel {
            id: Set(new_id()),
            flight_id: Set(f.id),
            admission_rate: Set(d.admission_rate as i32),
            max_active: Set(d.max_active as i32),
            pass_ttl_secs: Set(d.pass_ttl_secs as i32),
            status: Set(SaleStatus::Open),
            open_flight: Set(Some(f.id)),
            opened_at: Set(self.clock.now_ms()),
            closed_at: Set(None),
        }
        .insert(&self.db)
        .await
        .map_err(|e| match surge_kernel::error::unique_violation(&e) {
            Some(_) => ApiError::conflict(
                "sale_already_open",
                "this flight already has an open sale; close it first",
            ),
            None => e.into(),
        })?;
        self.open_by_flight.invalidate(&f.id).await;
        Ok(s.into())
    }

    #[tracing::instrument(skip(self))]
    pub async fn close(&self, id: Uuid) -> Result<SaleView, ApiError> {
        let s = self.load(id).await?;
        let (from, to) = (SaleStatus::Open, SaleStatus::Closed);
        debug_assert!(from.can_become(to));
        sale::Entity::update_many()
            .col_expr(sale::Column::Status, Expr::value(to))
            .col_expr(sale::Column::OpenFlight, Expr::value(Option::<Uuid>::None))
            .col_expr(sale::Column::ClosedAt, Expr::value(self.clock.now_ms()))
            .filter(sale::Column::Id.eq(id))
            .filter(sale::Column::Status.eq(from))
            .exec(&self.db)
            .await?;
        self.forget(id, s.flight_id).await;
        Ok(self.load(id).await?.into())
    }

    /// Closes the flight's open sale inside `txn` (the flight is being cancelled);
    /// call `forget` after the commit.
    pub(crate) async fn close_open_sale(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        flight: Uuid,
        now: Millis,
    ) -> Result<Option<Uuid>, sea_orm::DbErr> {
        let Some(s) = sale::Entity::find()
            .filter(sale::Column::OpenFlight.eq(flight))
            .one(txn)
            .await?
        else {
            return Ok(None);
        };
        sale::Entity::update_many()
            .col_expr(sale::Column::Status, Expr::value(SaleStatus::Closed))
            .col_expr(sale::Column::OpenFlight, Expr::value(Option::<Uuid>::None))
            .col_expr(sale::Column::ClosedAt, Expr::value(now))
            .filter(sale::Column::Id.eq(s.id))
            .exec(txn)
            .await?;
        Ok(Some(s.id))
    }

    /// Drops a closed sale's queue and cached state (best effort: the sale is closed
    /// in the database already, and queues of closed sales are never admitted).
    pub(crate) async fn forget(&self, sale: Uuid, flight: Uuid) {
        if let Err(e) = self.room.clear(sale).await {
            tracing::warn!(error = %e, %sale, "dropping a closed sale's queue failed");
        }
        self.open_by_flight.invalidate(&flight).await;
        self.by_id.invalidate(&sale).await;
    }

    /// A sale, cached for `OPEN_SALE_TTL`: every queue poll needs one, and a sale
    /// changes only when it closes.
    async fn load(&self, id: Uuid) -> Result<sale::Model, ApiError> {
        let db = self.db.clone();
        self.by_id
            .try_get_with(
                id,
                async move { sale::Entity::find_by_id(id).one(&db).await },
            )
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("loading sale {id}: {e}")))?
            .ok_or_else(|| ApiError::not_found("no such sale"))
    }

    async fn load_open(&self, id: Uuid) -> Result<sale::Model, ApiError> {
        let s = self.load(id).await?;
        if s.status != SaleStatus::Open {
            return Err(ApiError::conflict("sale_closed", "this sale is closed"));
        }
        Ok(s)
    }

    #[tracing::instrument(skip(self))]
    pub async fn figures(&self, id: Uuid) -> Result<SaleFigures, ApiError> {
        let s = self.load(id).await?;
        let queue = self.room.stats(id, self.clock.now_ms()).await?;
        Ok(SaleFigures {
            sale: s.into(),
            queue,
        })
    }

    /// The flight's open sale, if any (cached for `OPEN_SALE_TTL`).
    pub async fn open_sale_of(&self, flight: Uuid) -> Result<Option<sale::Model>, ApiError> {
        let db = self.db.clone();
        self.open_by_flight
            .try_get_with(flight, async move {
                sale::Entity::find()
                    .filter(sale::Column::OpenFlight.eq(flight))
                    .one(&db)
                    .await
            })
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("loading the open sale: {e}")))
    }

    /// While the flight has an open sale, the caller must carry a valid pass of that
    /// sale, issued to them and not expired: 403 `not_admitted` otherwise. Returns the
    /// sale the caller shops in, if any.
    #[tracing::instrument(skip(self, pass))]
    pub async fn guard(
        &self,
        flight: Uuid,
        user: Option<Uuid>,
        pass: Option<&str>,
    ) -> Result<Option<Uuid>, ApiError> {
        let Some(s) = self.open_sale_of(flight).await? else {
            return Ok(None);
        };
        let Some(token) = pass else {
            return Err(not_admitted(
                s.id,
                "this flight is on sale behind a waiting room",
            ));
        };
        let Some(user) = user else {
            return Err(ApiError::unauthorized(
                "unauthenticated",
                "a bearer access token is required with an admission pass",
            ));
        };
        let p = self
            .key
            .verify(token)
            .ok_or_else(|| not_admitted(s.id, "the admission pass is not valid"))?;
        if p.sale != s.id {
            return Err(not_admitted(s.id, "the admission pass is for another sale"));
        }
        if p.user != user {
            return Err(not_admitted(
                s.id,
                "the admission pass belongs to someone else",
            ));
        }
        if p.expires_at <= self.clock.now_ms() {
            return Err(not_admitted(s.id, "the admission pass has expired"));
        }
        Ok(Some(s.id))
    }

    #[tracing::instrument(skip(self))]
    pub async fn join(&self, sale: Uuid, user: Uuid) -> Result<QueueView, ApiError> {
        let s = self.load_open(sale).await?;
        let place = self.room.join(sale, user, self.clock.now_ms()).await?;
        Ok(self.view(&s, user, place))
    }

    #[tracing::instrument(skip(self))]
    pub async fn me(&self, sale: Uuid, user: Uuid) -> Result<QueueView, ApiError> {
        let s = self.load(sale).await?;
        self.place_view(&s, user).await?.ok_or_else(not_in_queue)
    }

    async fn place_view(&self, s: &sale::Model, user: Uuid) -> Result<Option<QueueView>, ApiError> {
        let place = self.room.place(s.id, user, self.clock.now_ms()).await?;
        Ok(place.map(|p| self.view(s, user, p)))
    }

    #[tracing::instrument(skip(self))]
    pub async fn leave(&self, sale: Uuid, user: Uuid) -> Result<(), ApiError> {
        self.load(sale).await?;
        if !self.room.leave(sale, user).await? {
            return Err(not_in_queue());
        }
        Ok(())
    }

    /// The shopper is done (paid): their slot goes to the next in line.
    pub(crate) async fn finished(&self, sale: Uuid, user: Uuid) {
        if let Err(e) = self.room.leave(sale, user).await {
            tracing::warn!(error = %e, %sale, "freeing a waiting-room slot failed");
        }
    }

    fn view(&self, s: &sale::Model, user: Uuid, place: Place) -> QueueView {
        match place {
            Place::Waiting { seq, position } => QueueView {
                sale_id: s.id,
                status: "waiting",
                seq,
                position,
                ahead: position.saturating_sub(1),
                eta_secs: position.div_ceil(s.admission_rate.max(1) as u64),
                pass: None,
                admitted_at: None,
                pass_expires_at: None,
            },
            Place::Admitted {
                seq,
                admitted_at_ms,
                expires_at_ms,
            } => QueueView {
                sale_id: s.id,
                status: "admitted",
                seq,
                position: 0,
                ahead: 0,
                eta_secs: 0,
                pass: Some(self.key.sign(&Pass {
                    sale: s.id,
                    user,
                    seq,
                    expires_at: expires_at_ms,
                })),
                admitted_at: Some(rfc3339(admitted_at_ms)),
                pass_expires_at: Some(rfc3339(expires_at_ms)),
            },
        }
    }

    /// Position updates for one traveller, polled every `every` and sent when they
    /// change, until admitted (the last item carries the pass) or gone from the queue.
    pub async fn watch(
        self: Arc<Self>,
        sale: Uuid,
        user: Uuid,
        every: Duration,
    ) -> Result<impl futures::Stream<Item = QueueView>, ApiError> {
        let s = self.load(sale).await?;
        let first = self.place_view(&s, user).await?.ok_or_else(not_in_queue)?;
        let w = Watch {
            sales: self,
            sale: s,
            user,
            every,
            pending: Some(first),
            last: None,
        };
        Ok(futures::stream::unfold(w, |mut w| async move {
            loop {
                let v = match w.pending.take() {
                    Some(v) => v,
                    None => {
                        if w.last.as_ref().is_some_and(|l| l.status == "admitted") {
                            return None;
                        }
                        tokio::time::sleep(w.every).await;
                        match w.sales.place_view(&w.sale, w.user).await {
                            Ok(Some(v)) => v,
                            Ok(None) | Err(_) => return None,
                        }
                    }
                };
                if w.last.as_ref() != Some(&v) {
                    w.last = Some(v.clone());
                    return Some((v, w));
                }
            }
        }))
    }

    /// One admission step for every open sale. Every instance runs this; the store's
    /// token bucket keeps the global rate.
    #[tracing::instrument(skip(self))]
    pub async fn admit_all(&self) -> Result<u64, ApiError> {
        let now = self.clock.now_ms();
        let open = sale::Entity::find()
            .filter(sale::Column::Status.eq(SaleStatus::Open))
            .all(&self.db)
            .await?;
        let mut admitted = 0;
        for s in open {
            let policy = AdmissionPolicy {
                rate_per_sec: s.admission_rate.max(1) as u32,
                max_active: s.max_active.max(1) as u32,
                pass_ttl_ms: s.pass_ttl_secs as i64 * 1000,
            };
            match self.room.admit(s.id, policy, now).await {
                Ok(n) => admitted += n,
                Err(e) => tracing::warn!(error = %e, sale = %s.id, "admission step failed"),
            }
        }
        Ok(admitted)
    }
}

struct Watch {
    sales: Arc<Sales>,
    sale: sale::Model,
    user: Uuid,
    every: Duration,
    pending: Option<QueueView>,
    last: Option<QueueView>,
}

/// The admission task: every `every`, one admission step for each open sale.
pub async fn run_admission(sales: Arc<Sales>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sales.admit_all().await {
            tracing::warn!(error = %e, "waiting-room admission failed");
        }
    }
}
