//! Ticketing routes under `/api/v1/ticketing`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use surge_kernel::auth::{AdminUser, AuthUser, StreamUser};
use surge_kernel::error::Problem;
use surge_kernel::extract::{Json, Path, Query};
use surge_kernel::idempotency::KeyedJson;
use surge_kernel::page::{invalid_cursor, Page, PageQuery};
use surge_kernel::{parse_rfc3339, ApiError, Millis};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use crate::domain::{
    FlightChange, FlightNumber, Grade, Iata, InvalidInput, Layout, NewFlight, NewHold, SaleRules,
    SeatSelection,
};
use crate::flights::{FlightQuery, FlightSort, FlightView, SeatView};
use crate::reservations::payment::PaymentStarted;
use crate::reservations::views::{ReservationView, ReservedSeat};
use crate::sales::{QueueView, SaleFigures, SaleView, PASS_HEADER};
use crate::Ticketing;

type St = State<Arc<Ticketing>>;

pub fn router(t: Arc<Ticketing>) -> Router {
    let routes = Router::new()
        .route("/flights", get(search_flights).post(create_flight))
        .route("/flights/{id}", get(get_flight).patch(update_flight))
        .route("/flights/{id}/cancel", post(cancel_flight))
        .route("/flights/{id}/seats", get(seat_map))
        .route("/sales", post(open_sale))
        .route("/sales/{id}", get(sale_figures))
        .route("/sales/{id}/close", post(close_sale))
        .route("/sales/{id}/queue", post(join_queue))
        .route("/sales/{id}/queue/me", get(my_place).delete(leave_queue))
        .route("/sales/{id}/queue/stream", get(queue_stream))
        .route("/holds", post(hold_seats))
        .route("/holds/{id}", axum::routing::delete(release_hold))
        .route("/holds/{id}/payment", post(start_payment))
        .route("/holds/{id}/payment/approve", post(approve_payment))
        .route("/reservations", get(my_reservations))
        .route("/reservations/{id}", get(get_reservation))
        .route("/reservations/{id}/cancel", post(cancel_reservation))
        .with_state(t);
    Router::new().nest("/api/v1/ticketing", routes)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        search_flights, create_flight, get_flight, update_flight, cancel_flight, seat_map,
        open_sale, sale_figures, close_sale, join_queue, my_place, leave_queue, queue_stream,
        hold_seats, release_hold, start_payment, approve_payment, my_reservations,
        get_reservation, cancel_reservation
    ),
    components(schemas(
        FlightDraft, FlightPatch, FlightView, FlightDetail, FlightSort, Layout, Grade, SeatView,
        SaleDraft, SaleView, SaleFigures, QueueView, HoldRequest, ReservationView, ReservedSeat,
        PaymentStarted, Approve, Problem
    )),
    tags((name = "ticketing", description = "Flights, waiting room, seat holds, reservations"))
)]
pub struct TicketingApi;

#[derive(Debug, Deserialize, ToSchema)]
pub struct FlightDraft {
    pub flight_number: String,
    pub origin: String,
    pub destination: String,
    /// RFC 3339.
    pub departs_at: String,
    pub arrives_at: String,
    pub layout: Layout,
}

impl FlightDraft {
    fn try_into_domain(self) -> Result<NewFlight, ApiError> {
        let origin = Iata::new(&self.origin, "origin")?;
        let destination = Iata::new(&self.destination, "destination")?;
        let departs = parse_rfc3339(&self.departs_at, "departs_at")?;
        let arrives = parse_rfc3339(&self.arrives_at, "arrives_at")?;
        Ok(NewFlight::new(
            &self.flight_number,
            origin,
            destination,
            departs,
            arrives,
            self.layout,
        )?)
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct FlightPatch {
    pub flight_number: Option<String>,
    pub departs_at: Option<String>,
    pub arrives_at: Option<String>,
}

impl FlightPatch {
    fn try_into_domain(self) -> Result<FlightChange, ApiError> {
        Ok(FlightChange {
            departs_at: self
                .departs_at
                .map(|t| parse_rfc3339(&t, "departs_at"))
                .transpose()?,
            arrives_at: self
                .arrives_at
                .map(|t| parse_rfc3339(&t, "arrives_at"))
                .transpose()?,
            number: self
                .flight_number
                .map(|n| FlightNumber::new(&n))
                .transpose()?,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct HoldRequest {
    pub flight_id: Uuid,
    pub seat_ids: Vec<Uuid>,
}

impl HoldRequest {
    /// At most `max_seats` distinct seats.
    fn try_into_domain(self, max_seats: usize) -> Result<NewHold, ApiError> {
        Ok(NewHold {
            flight_id: self.flight_id,
            seats: SeatSelection::new(&self.seat_ids, max_seats)?,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SaleDraft {
    pub flight_id: Uuid,
    /// Travellers admitted per second.
    pub admission_rate: u32,
    /// Most travellers admitted and shopping at once.
    pub max_active: u32,
    /// How long an admission (and its pass) lasts.
    pub pass_ttl_secs: u32,
}

impl SaleDraft {
    fn try_into_domain(self) -> Result<SaleRules, ApiError> {
        Ok(SaleRules::new(
            self.flight_id,
            self.admission_rate,
            self.max_active,
            self.pass_ttl_secs,
        )?)
    }
}

/// An invalid input is a 422 with its code, naming the field at fault.
impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
            .with("field", e.field())
    }
}

#[derive(Deserialize, ToSchema)]
pub struct Approve {
    /// The token the provider gave the traveller on approval.
    pg_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct FlightDetail {
    #[serde(flatten)]
    flight: FlightView,
    /// The sale behind a waiting room, while one is open: join its queue for a pass.
    open_sale_id: Option<Uuid>,
}

fn pass(headers: &HeaderMap) -> Option<&str> {
    headers.get(PASS_HEADER).and_then(|v| v.to_str().ok())
}

/// Flights by route and date, by departure time or price (cached, single-flight).
#[utoipa::path(get, path = "/api/v1/ticketing/flights", tag = "ticketing", params(PageQuery, FlightSearch),
    responses((status = 200, body = Page<FlightView>), (status = 422, description = "`invalid_iata`", body = Problem)))]
async fn search_flights(
    State(t): St,
    Query(page): Query<PageQuery>,
    Query(q): Query<FlightSearch>,
) -> Result<Json<Page<FlightView>>, ApiError> {
    Ok(Json(t.flights.search(q.try_into_domain(&page)?).await?))
}

/// The query string of a flight search.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
pub struct FlightSearch {
    /// IATA code, e.g. GMP.
    pub origin: Option<String>,
    pub destination: Option<String>,
    /// Departing at or after (RFC 3339 or a date `2026-11-22`); default now.
    pub from: Option<String>,
    /// Departing before (RFC 3339 or a date, which means the end of that day, UTC).
    pub to: Option<String>,
    /// `departure` (default) or `price`.
    pub sort: Option<FlightSort>,
}

impl FlightSearch {
    pub fn try_into_domain(self, page: &PageQuery) -> Result<FlightQuery, ApiError> {
        let iata = |code: Option<String>, field| code.map(|c| Iata::new(&c, field)).transpose();
        Ok(FlightQuery {
            origin: iata(self.origin, "origin")?,
            destination: iata(self.destination, "destination")?,
            from: self.from.map(|f| instant(&f, "from", false)).transpose()?,
            to: self.to.map(|t| instant(&t, "to", true)).transpose()?,
            sort: self.sort.unwrap_or_default(),
            cursor: page
                .cursor()?
                .map(|c| {
                    c.split_once('|')
                        .and_then(|(v, i)| Some((v.parse::<i64>().ok()?, i.parse::<Uuid>().ok()?)))
                        .ok_or_else(invalid_cursor)
                })
                .transpose()?,
            limit: page.limit()?,
        })
    }
}

/// An instant from RFC 3339, or from a date (its start; with `end_of_day`, its end).
fn instant(s: &str, field: &str, end_of_day: bool) -> Result<Millis, ApiError> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        let d = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or_default());
    }
    parse_rfc3339(s, field)
}

/// Adds a flight; its seats are generated from the layout (admins).
#[utoipa::path(post, path = "/api/v1/ticketing/flights", tag = "ticketing", request_body = FlightDraft,
    security(("bearer" = ["ADMIN"])), responses((status = 201, body = FlightView), (status = 422, description = "`validation_failed`, `invalid_iata`", body = Problem)))]
async fn create_flight(
    State(t): St,
    _a: AdminUser,
    Json(d): Json<FlightDraft>,
) -> Result<Response, ApiError> {
    let flight = d.try_into_domain()?;
    Ok((StatusCode::CREATED, Json(t.flights.create(flight).await?)).into_response())
}

/// One flight, with its open sale if any.
#[utoipa::path(get, path = "/api/v1/ticketing/flights/{id}", tag = "ticketing", params(("id" = Uuid, Path)),
    responses((status = 200, body = FlightDetail), (status = 404, description = "`not_found`", body = Problem)))]
async fn get_flight(State(t): St, Path(id): Path<Uuid>) -> Result<Json<FlightDetail>, ApiError> {
    let flight = t.flights.get(id).await?;
    let open_sale_id = t.sales.open_sale_of(id).await?.map(|s| s.id);
    Ok(Json(FlightDetail {
        flight,
        open_sale_id,
    }))
}

/// Changes a flight's number or times (admins).
#[utoipa::path(patch, path = "/api/v1/ticketing/flights/{id}", tag = "ticketing", request_body = FlightPatch,
    params(("id" = Uuid, Path)), security(("bearer" = ["ADMIN"])),
    responses((status = 200, body = FlightView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`flight_cancelled`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem)))]
async fn update_flight(
    State(t): St,
    _a: AdminUser,
    Path(id): Path<Uuid>,
    Json(p): Json<FlightPatch>,
) -> Result<Json<FlightView>, ApiError> {
    let change = p.try_into_domain()?;
    Ok(Json(t.flights.update(id, change).await?))
}

/// Cancels a flight: holds released, confirmed reservations refunded (admins).
#[utoipa::path(post, path = "/api/v1/ticketing/flights/{id}/cancel", tag = "ticketing", params(("id" = Uuid, Path)),
    security(("bearer" = ["ADMIN"])), responses((status = 200, body = FlightView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`flight_cancelled`", body = Problem)))]
async fn cancel_flight(
    State(t): St,
    _a: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<Json<FlightView>, ApiError> {
    Ok(Json(t.reservations.cancel_flight(id).await?))
}

/// The live seat map. While the flight's sale is open, needs a bearer token and the
/// caller's `X-Admission-Pass` (403 `not_admitted` otherwise).
#[utoipa::path(get, path = "/api/v1/ticketing/flights/{id}/seats", tag = "ticketing",
    params(("id" = Uuid, Path), ("X-Admission-Pass" = Option<String>, Header, description = "while a sale is open")),
    security((), ("bearer" = [])),
    responses((status = 200, body = Vec<SeatView>), (status = 401, description = "`unauthenticated` (while a sale is open)", body = Problem),
        (status = 403, description = "`not_admitted` (names `sale_id`)", body = Problem),
        (status = 404, description = "`not_found`", body = Problem)))]
async fn seat_map(
    State(t): St,
    who: Option<AuthUser>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<SeatView>>, ApiError> {
    t.sales.guard(id, who.map(|w| w.id), pass(&headers)).await?;
    Ok(Json(t.flights.seats(id).await?))
}

/// Opens a sale behind a waiting room (admins).
#[utoipa::path(post, path = "/api/v1/ticketing/sales", tag = "ticketing", request_body = SaleDraft,
    security(("bearer" = ["ADMIN"])), responses((status = 201, body = SaleView), (status = 404, description = "`not_found` (the flight)", body = Problem),
        (status = 409, description = "`sale_already_open`, `flight_cancelled`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem)))]
async fn open_sale(
    State(t): St,
    _a: AdminUser,
    Json(d): Json<SaleDraft>,
) -> Result<Response, ApiError> {
    let rules = d.try_into_domain()?;
    Ok((StatusCode::CREATED, Json(t.sales.open(rules).await?)).into_response())
}

/// A sale with its live queue figures (admins).
#[utoipa::path(get, path = "/api/v1/ticketing/sales/{id}", tag = "ticketing", params(("id" = Uuid, Path)),
    security(("bearer" = ["ADMIN"])), responses((status = 200, body = SaleFigures), (status = 404, description = "`not_found`", body = Problem)))]
async fn sale_figures(
    State(t): St,
    _a: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<Json<SaleFigures>, ApiError> {
    Ok(Json(t.sales.figures(id).await?))
}

/// Closes a sale: its queue is dropped and seats are sold without passes (admins).
#[utoipa::path(post, path = "/api/v1/ticketing/sales/{id}/close", tag = "ticketing", params(("id" = Uuid, Path)),
    security(("bearer" = ["ADMIN"])), responses((status = 200, body = SaleView), (status = 404, description = "`not_found`", body = Problem)))]
async fn close_sale(
    State(t): St,
    _a: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<Json<SaleView>, ApiError> {
    Ok(Json(t.sales.close(id).await?))
}

/// Joins the waiting room (joining again keeps the place).
#[utoipa::path(post, path = "/api/v1/ticketing/sales/{id}/queue", tag = "ticketing", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = QueueView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`sale_closed`", body = Problem)))]
async fn join_queue(
    State(t): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<QueueView>, ApiError> {
    Ok(Json(t.sales.join(id, who.id).await?))
}

/// My place: position and ETA while waiting, the pass once admitted.
#[utoipa::path(get, path = "/api/v1/ticketing/sales/{id}/queue/me", tag = "ticketing", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = QueueView),
        (status = 404, description = "`not_found`: no such sale, or not in its queue", body = Problem),
        (status = 409, description = "`sale_closed`", body = Problem)))]
async fn my_place(
    State(t): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<QueueView>, ApiError> {
    Ok(Json(t.sales.me(id, who.id).await?))
}

/// Leaves the queue, or gives an admitted slot to the next in line.
#[utoipa::path(delete, path = "/api/v1/ticketing/sales/{id}/queue/me", tag = "ticketing", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204),
        (status = 404, description = "`not_found`: no such sale, or not in its queue", body = Problem),
        (status = 409, description = "`sale_closed`", body = Problem)))]
async fn leave_queue(
    State(t): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    t.sales.leave(id, who.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Live position updates (Server-Sent Events `position`, then `admitted` with the pass).
#[utoipa::path(get, path = "/api/v1/ticketing/sales/{id}/queue/stream", tag = "ticketing",
    params(("id" = Uuid, Path), ("access_token" = Option<String>, Query, description = "for EventSource clients")),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", description = "`position` and `admitted` events"),
        (status = 404, description = "`not_found`: no such sale, or not in its queue", body = Problem),
        (status = 409, description = "`sale_closed`", body = Problem)))]
async fn queue_stream(
    State(t): St,
    StreamUser(who, end): StreamUser,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let updates = t.sales.clone().watch(id, who.id, t.stream_every).await?;
    let events = updates.map(|v| {
        let kind = if v.status == "admitted" {
            "admitted"
        } else {
            "position"
        };
        Ok::<_, Infallible>(
            Event::default()
                .event(kind)
                .json_data(&v)
                .unwrap_or_else(|_| Event::default().comment("unserializable")),
        )
    });
    Ok(Sse::new(StreamUser::bound(end, events))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Holds up to 4 seats for payment, all or nothing (409 `seat_unavailable` names the
/// seat). Needs `Idempotency-Key`; while a sale is open, also `X-Admission-Pass`.
#[utoipa::path(post, path = "/api/v1/ticketing/holds", tag = "ticketing", request_body = HoldRequest,
    params(("Idempotency-Key" = String, Header, description = "required; a retry replays the first answer"),
           ("X-Admission-Pass" = Option<String>, Header, description = "while a sale is open")),
    security(("bearer" = [])),
    responses((status = 201, body = ReservationView),
        (status = 409, description = "`seat_unavailable`, `hold_limit`, `flight_departed`, `flight_cancelled`", body = Problem),
        (status = 400, description = "`idempotency_key_required`", body = Problem),
        (status = 403, description = "`not_admitted`", body = Problem),
        (status = 404, description = "`not_found` (the flight)", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
        (status = 503, description = "`unavailable`: too much contention; retry", body = Problem)))]
async fn hold_seats(
    State(t): St,
    who: AuthUser,
    headers: HeaderMap,
    req: KeyedJson<HoldRequest>,
) -> Result<Response, ApiError> {
    let sale = t
        .sales
        .guard(req.body.flight_id, Some(who.id), pass(&headers))
        .await?;
    let new_hold = req.body.try_into_domain(t.reservations.max_seats())?;
    let held = t
        .reservations
        .hold(&who, sale, new_hold, &req.key, &req.request_hash)
        .await?;
    Ok((StatusCode::CREATED, Json(held)).into_response())
}

/// Gives held seats back.
#[utoipa::path(delete, path = "/api/v1/ticketing/holds/{id}", tag = "ticketing", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = ReservationView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`invalid_transition`, `concurrent_update`", body = Problem)))]
async fn release_hold(
    State(t): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ReservationView>, ApiError> {
    Ok(Json(t.reservations.release(&who, id).await?))
}

/// Starts paying for a hold; answers where the traveller approves it.
#[utoipa::path(post, path = "/api/v1/ticketing/holds/{id}/payment", tag = "ticketing", operation_id = "ticketing_start_payment",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentStarted), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`hold_expired`, `invalid_transition`", body = Problem),
        (status = 502, description = "`payment_unavailable`", body = Problem)))]
async fn start_payment(
    State(t): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<PaymentStarted>, ApiError> {
    Ok(Json(t.reservations.start_payment(&who, id).await?))
}

/// Completes the payment: the reservation is CONFIRMED with one ticket per seat.
#[utoipa::path(post, path = "/api/v1/ticketing/holds/{id}/payment/approve", tag = "ticketing", request_body = Approve,
    operation_id = "ticketing_approve_payment", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ReservationView), (status = 402, description = "`payment_declined` (the hold is released)", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`hold_expired` (any money taken is refunded), `payment_not_started`, `invalid_transition`", body = Problem),
        (status = 502, description = "`payment_unavailable` (retry)", body = Problem)))]
async fn approve_payment(
    State(t): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(a): Json<Approve>,
) -> Result<Json<ReservationView>, ApiError> {
    Ok(Json(t.reservations.approve(&who, id, &a.pg_token).await?))
}

/// My holds and reservations, newest first.
#[utoipa::path(get, path = "/api/v1/ticketing/reservations", tag = "ticketing", params(PageQuery),
    security(("bearer" = [])), responses((status = 200, body = Page<ReservationView>)))]
async fn my_reservations(
    State(t): St,
    who: AuthUser,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ReservationView>>, ApiError> {
    Ok(Json(t.reservations.list(&who, &page).await?))
}

/// One of my reservations (someone else's is 404).
#[utoipa::path(get, path = "/api/v1/ticketing/reservations/{id}", tag = "ticketing", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = ReservationView), (status = 404, description = "`not_found`", body = Problem)))]
async fn get_reservation(
    State(t): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ReservationView>, ApiError> {
    Ok(Json(t.reservations.get(&who, id).await?))
}

/// Cancels: a hold is released; a confirmed reservation is refunded and its seats
/// go back on sale (CANCELLING, then CANCELLED).
#[utoipa::path(post, path = "/api/v1/ticketing/reservations/{id}/cancel", tag = "ticketing", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = ReservationView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`invalid_transition`, `flight_departed`, `concurrent_update`", body = Problem)))]
async fn cancel_reservation(
    State(t): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ReservationView>, ApiError> {
    Ok(Json(t.reservations.cancel(&who, id).await?))
}
