//! `surge demo` fills every module, and running it twice adds nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use surge_kernel::clock::SystemClock;
use surge_kernel::page::PageQuery;
use surge_server::{build, demo, Config};
use surge_ticketing::domain::Iata;
use surge_ticketing::flights::FlightQuery;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_data_loads_once_with_flights_an_open_sale_and_job_postings() {
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
        .search(FlightQuery {
            origin: Some(Iata::new("GMP", "origin").unwrap()),
            destination: Some(Iata::new("CJU", "destination").unwrap()),
            limit: 100,
            ..FlightQuery::default()
        })
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
    let chat_rooms = app.chat.rooms.list_active(&page).await.unwrap();
    let (general, alert): (Vec<_>, Vec<_>) = chat_rooms
        .items
        .iter()
        .partition(|r| r.kind == surge_chat::domain::RoomKind::General);
    assert_eq!(general.len(), 2, "general chat rooms");
    assert!(
        general.iter().all(|r| r.member_count == 4),
        "every demo account is in"
    );
    let mut names: Vec<&str> = alert.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["부산 호우경보", "서울 폭염주의보"],
        "weather-alert rooms"
    );
    // Careers: the postings once (not twice), searchable with facets once indexed, some
    // past their deadline; the mentor's three programs.
    assert_eq!(
        app.careers.search.rebuild().await.unwrap(),
        demo::DEMO_POSTINGS
    );
    let all = surge_careers::postings::PostingListing::default();
    let listed = app.careers.search.list(&all, &page).await.unwrap();
    let facets = listed.facets.unwrap();
    assert_eq!(listed.total, Some(demo::DEMO_POSTINGS));
    assert!(facets.category.len() >= 10, "{facets:?}");
    assert!(
        facets.location.iter().any(|l| l.value == "판교"),
        "{facets:?}"
    );
    let open = surge_careers::postings::PostingListing {
        open: Some(true),
        ..Default::default()
    };
    let open_total = app
        .careers
        .search
        .list(&open, &page)
        .await
        .unwrap()
        .total
        .unwrap();
    assert!(
        (1_500..1_900).contains(&open_total),
        "some deadlines passed: {open_total} open"
    );
    let found = app
        .careers
        .search
        .search("백엔드 개발자", &open, &PageQuery::default())
        .await
        .unwrap();
    assert!(found.total.unwrap() > 50, "{:?}", found.total);
    let programs = app
        .careers
        .programs
        .list(&Default::default(), &page)
        .await
        .unwrap();
    assert_eq!(programs.items.len(), 3, "the mentor's open programs");
    // Sample news (marked as such), once, linked to the demo companies they name.
    let news = app
        .careers
        .news
        .list(&Default::default(), &page)
        .await
        .unwrap();
    assert_eq!(news.items.len(), 8, "sample news items, loaded once");
    assert!(news
        .items
        .iter()
        .all(|n| n.feed == demo::DEMO_NEWS_FEED && n.title.starts_with("[샘플]")));
    let toss = surge_careers::sources::NewsFilter {
        company: Some("토스".into()),
        ..Default::default()
    };
    let linked = app.careers.news.list(&toss, &page).await.unwrap();
    assert_eq!(linked.items.len(), 1, "the item naming 토스");
    assert!(linked.items[0].companies.contains(&"토스".to_owned()));
    // Community: missions for every slot, posts around Busan (and Seoul, Jeju).
    let missions = app.community.missions.list(&page).await.unwrap();
    assert_eq!(missions.items.len(), 6, "two missions per slot, once");
    let busan = app
        .community
        .nearby
        .search(
            surge_community::domain::Place::new(35.1587, 129.1604).unwrap(),
            surge_community::domain::Radius::new(Some(15_000.0)).unwrap(),
            &page,
            None,
        )
        .await
        .unwrap();
    assert_eq!(busan.items.len(), 3, "posts around Busan");
    std::fs::remove_dir_all(dir).ok();
}
