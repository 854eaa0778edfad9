//! `surge demo` fills every module, and running it twice adds nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use surge_kernel::clock::SystemClock;
use surge_kernel::page::PageQuery;
use surge_server::{build, demo, Config};
use surge_ticketing::flights::FlightSearch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_data_loads_once_with_flights_and_an_open_sale() {
    let dir = std::env::temp_dir().join(format!("surge-demo-{}", uuid::Uuid::new_v4()));
    let cfg = Config {
        data_dir: dir.clone(),
        ..Config::default()
    };
    let app = build(&cfg, Arc::new(SystemClock)).await.unwrap();
    demo::load(&app).await.unwrap();
    demo::load(&app).await.unwrap();
    let page = PageQuery {
        cursor: None,
        limit: Some(100),
    };
    let gmp_cju = app
        .ticketing
        .flights
        .search(
            &FlightSearch {
                origin: Some("GMP".into()),
                destination: Some("CJU".into()),
                ..FlightSearch::default()
            },
            &page,
        )
        .await
        .unwrap();
    // Two carriers, three departures a day, seven days; the second run added none.
    assert_eq!(gmp_cju.items.len(), 42);
    let on_sale: Vec<_> = futures::future::join_all(
        gmp_cju
            .items
            .iter()
            .map(|f| app.ticketing.sales.open_sale_of(f.id)),
    )
    .await
    .into_iter()
    .filter_map(|s| s.unwrap())
    .collect();
    assert_eq!(on_sale.len(), 1, "one fare sale is open");
    let products = app
        .shop
        .catalog
        .list(&page, None, Default::default())
        .await
        .unwrap();
    assert_eq!(products.items.len(), 28);
    let rooms = app
        .partner
        .rooms
        .list(&Default::default(), &page)
        .await
        .unwrap();
    assert_eq!(rooms.items.len(), 4, "open rooms");
    let waiting = app
        .partner
        .matcher
        .count(surge_partner::domain::Category::Meal)
        .await
        .unwrap();
    assert_eq!(
        waiting.waiting, 2,
        "random-match applications that cannot meet stay waiting"
    );
    std::fs::remove_dir_all(dir).ok();
}
