//! The ticketing tables. Seat states only change through conditional writes, and two
//! unique constraints back them up: a seat has at most one live hold-or-ticket row
//! (`ticketing_reservation_seats.live_seat`), and a flight at most one open sale
//! (`ticketing_sales.open_flight`).

use sea_orm_migration::prelude::*;
use surge_kernel::migration::schema::*;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateTicketingTables), Box::new(CreateShoppers)]
}

/// One row per (flight, traveller) who held seats during a sale: holds of the same
/// traveller lock it, so the per-traveller seat cap is checked one hold at a time.
struct CreateShoppers;

impl MigrationName for CreateShoppers {
    fn name(&self) -> &str {
        "m20261122_000410_ticketing_shoppers"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateShoppers {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("ticketing_shoppers"))
                .if_not_exists()
                .col(uuid("flight_id"))
                .col(uuid("user_id"))
                .col(big("created_at"))
                .primary_key(Index::create().col(a("flight_id")).col(a("user_id")))
                .to_owned(),
        )
        .await
    }
}

struct CreateTicketingTables;

impl MigrationName for CreateTicketingTables {
    fn name(&self) -> &str {
        "m20261122_000400_ticketing_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTicketingTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("ticketing_flights"))
                .if_not_exists()
                .col(id())
                .col(text("flight_number", 10))
                .col(text("origin", 3))
                .col(text("destination", 3))
                .col(big("departs_at"))
                .col(big("arrives_at"))
                .col(text("status", 20))
                .col(ColumnDef::new(a("layout")).text().not_null())
                .col(big("min_price"))
                .col(int("seat_count"))
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_ticketing_flights_route",
            "ticketing_flights",
            &["origin", "destination", "departs_at"],
            false,
        )
        .await?;
        index(
            m,
            "ix_ticketing_flights_departs",
            "ticketing_flights",
            &["departs_at", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("ticketing_seats"))
                .if_not_exists()
                .col(id())
                .col(uuid("flight_id"))
                .col(text("number", 5))
                .col(int("row_no"))
                .col(text("letter", 1))
                .col(text("grade", 30))
                .col(big("price"))
                .col(text("status", 10))
                .col(ColumnDef::new(a("hold_id")).uuid().null())
                .col(ColumnDef::new(a("held_until")).big_integer().null())
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_ticketing_seats_number",
            "ticketing_seats",
            &["flight_id", "number"],
            true,
        )
        .await?;
        index(
            m,
            "ix_ticketing_seats_hold",
            "ticketing_seats",
            &["hold_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("ticketing_sales"))
                .if_not_exists()
                .col(id())
                .col(uuid("flight_id"))
                .col(int("admission_rate"))
                .col(int("max_active"))
                .col(int("pass_ttl_secs"))
                .col(text("status", 10))
                // The flight id while the sale is open, NULL once closed: at most one
                // open sale per flight, enforced by the database.
                .col(ColumnDef::new(a("open_flight")).uuid().null())
                .col(big("opened_at"))
                .col(ColumnDef::new(a("closed_at")).big_integer().null())
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_ticketing_sales_open_flight",
            "ticketing_sales",
            &["open_flight"],
            true,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("ticketing_reservations"))
                .if_not_exists()
                .col(id())
                .col(uuid("user_id"))
                .col(uuid("flight_id"))
                .col(ColumnDef::new(a("sale_id")).uuid().null())
                .col(text("status", 20))
                .col(big("total"))
                .col(int("seat_count"))
                .col(text("idem_key", 150))
                .col(text("request_hash", 64))
                .col(ColumnDef::new(a("payment_tid")).string_len(100).null())
                .col(ColumnDef::new(a("payment_redirect")).string_len(500).null())
                .col(big("expires_at"))
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        // A retried hold (same user, same Idempotency-Key) never holds twice.
        index(
            m,
            "ux_ticketing_reservations_key",
            "ticketing_reservations",
            &["user_id", "idem_key"],
            true,
        )
        .await?;
        index(
            m,
            "ix_ticketing_reservations_status",
            "ticketing_reservations",
            &["status", "expires_at"],
            false,
        )
        .await?;
        index(
            m,
            "ix_ticketing_reservations_flight",
            "ticketing_reservations",
            &["flight_id", "status"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("ticketing_reservation_seats"))
                .if_not_exists()
                .col(uuid("reservation_id"))
                .col(uuid("seat_id"))
                .col(text("seat_number", 5))
                .col(text("grade", 30))
                .col(big("price"))
                // The seat id while this hold or ticket is live, NULL once it is
                // released: one live holder per seat, whatever the code above does.
                .col(ColumnDef::new(a("live_seat")).uuid().null())
                .col(ColumnDef::new(a("ticket_code")).string_len(12).null())
                .primary_key(Index::create().col(a("reservation_id")).col(a("seat_id")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_ticketing_reservation_seats_live",
            "ticketing_reservation_seats",
            &["live_seat"],
            true,
        )
        .await?;
        index(
            m,
            "ux_ticketing_reservation_seats_code",
            "ticketing_reservation_seats",
            &["ticket_code"],
            true,
        )
        .await?;
        Ok(())
    }
}
