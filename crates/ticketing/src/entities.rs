//! SeaORM entities for reads and simple writes; seats move through conditional updates.
//! State columns are typed with the enums of `domain.rs`, stored as their names.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod flight {
    use sea_orm::entity::prelude::*;

    use crate::domain::FlightStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ticketing_flights")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub flight_number: String,
        pub origin: String,
        pub destination: String,
        pub departs_at: i64,
        pub arrives_at: i64,
        pub status: FlightStatus,
        /// The layout it was created with, as JSON.
        pub layout: String,
        pub min_price: i64,
        pub seat_count: i32,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod seat {
    use sea_orm::entity::prelude::*;

    use crate::domain::SeatStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ticketing_seats")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub flight_id: Uuid,
        pub number: String,
        pub row_no: i32,
        pub letter: String,
        pub grade: String,
        pub price: i64,
        pub status: SeatStatus,
        pub hold_id: Option<Uuid>,
        pub held_until: Option<i64>,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod sale {
    use sea_orm::entity::prelude::*;

    use crate::domain::SaleStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ticketing_sales")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub flight_id: Uuid,
        pub admission_rate: i32,
        pub max_active: i32,
        pub pass_ttl_secs: i32,
        pub status: SaleStatus,
        pub open_flight: Option<Uuid>,
        pub opened_at: i64,
        pub closed_at: Option<i64>,
    }
    no_relations!();
}

pub mod reservation {
    use sea_orm::entity::prelude::*;

    use crate::domain::ReservationStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ticketing_reservations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub flight_id: Uuid,
        pub sale_id: Option<Uuid>,
        pub status: ReservationStatus,
        pub total: i64,
        pub seat_count: i32,
        pub idem_key: String,
        pub request_hash: String,
        pub payment_tid: Option<String>,
        pub payment_redirect: Option<String>,
        pub expires_at: i64,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod reservation_seat {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ticketing_reservation_seats")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub reservation_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seat_id: Uuid,
        pub seat_number: String,
        pub grade: String,
        pub price: i64,
        pub live_seat: Option<Uuid>,
        pub ticket_code: Option<String>,
    }
    no_relations!();
}
