//! Ticketing pages through the real server: search, pick seats on the seat map, hold,
//! pay, see the tickets; a seat sold is not offered again; cancelling frees it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use surge_kernel::clock::Clock;
use surge_testkit::matrix;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::json;

fn seat_id(body: &str, number: &str) -> String {
    let marker = format!("id=\"seat-{number}\"");
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no seat {number}"));
    let before = &body[..at];
    let v = before.rfind("value=\"").unwrap() + 7;
    before[v..].split('"').next().unwrap().to_owned()
}

fn seat_disabled(body: &str, number: &str) -> bool {
    let marker = format!("id=\"seat-{number}\"");
    let at = body.find(&marker).unwrap();
    body[at..].split('>').next().unwrap().contains("disabled")
}

matrix! {
    async fn a_traveller_picks_seats_holds_pays_and_gets_tickets(app) {
        let admin = app.admin("tkweb@example.com").await;
        let day = app.clock.now_ms() + 3 * 86_400_000;
        let (s, f) = app.post("/api/v1/ticketing/flights", Some(&admin.access), json!({
            "flight_number": "KE1203", "origin": "GMP", "destination": "CJU",
            "departs_at": surge_kernel::rfc3339(day), "arrives_at": surge_kernel::rfc3339(day + 65 * 60_000),
            "layout": {"rows": 3, "letters": "ABCD", "grades": [{"name": "Economy", "from_row": 1, "to_row": 3, "price": 55_000}]}
        })).await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
        let id = f["id"].as_str().unwrap().to_owned();
        let date = &surge_kernel::rfc3339(day)[..10];

        let b = Browser::new(&app);
        b.sign_up("traveller@example.com", "traveller").await;
        let found = b.get(&format!("/flights?origin=gmp&destination=CJU&date={date}")).await;
        assert_eq!(found.status, StatusCode::OK);
        assert!(found.body.contains("KE1203") && found.body.contains("55,000원"), "{}", found.body);
        let bad = b.get("/flights?origin=G1").await;
        assert!(bad.body.contains("공항 코드는 영문 세 글자입니다"));

        let page = b.get(&format!("/flights/{id}")).await;
        assert!(page.body.contains("빈 좌석 12석"), "{}", page.body);
        let (a1, a2) = (seat_id(&page.body, "1A"), seat_id(&page.body, "1B"));
        let idem = field_value(&page.body, "idem");
        let csrf = page.csrf();
        let none = b.post(&format!("/flights/{id}/hold"), &[("_csrf", &csrf), ("idem", &idem)]).await;
        assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(none.body.contains("좌석을 1~4석 골라 주세요"));
        let held = b.post(&format!("/flights/{id}/hold"), &[("_csrf", &csrf), ("idem", &idem), ("seat", &a1), ("seat", &a2)]).await;
        assert_eq!(held.status, StatusCode::SEE_OTHER, "{}", held.body);
        let res_url = held.location.unwrap();
        // The same form again (a double click) is the same hold.
        let again = b.post(&format!("/flights/{id}/hold"), &[("_csrf", &csrf), ("idem", &idem), ("seat", &a1), ("seat", &a2)]).await;
        assert_eq!(again.location.as_deref(), Some(res_url.as_str()));

        // Someone else sees the two seats taken and cannot hold them.
        let other = Browser::new(&app);
        other.sign_up("second@example.com", "second").await;
        let theirs = other.get(&format!("/flights/{id}")).await;
        assert!(seat_disabled(&theirs.body, "1A") && !seat_disabled(&theirs.body, "1C"));
        let refused = other.post(&format!("/flights/{id}/hold"), &[("_csrf", &theirs.csrf()), ("idem", &field_value(&theirs.body, "idem")), ("seat", &a1)]).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);

        let r = b.get(&res_url).await;
        assert!(r.body.contains("결제 대기") && r.body.contains("110,000원"), "{}", r.body);
        let paid = b.post(&format!("{res_url}/pay"), &[("_csrf", &r.csrf())]).await;
        assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
        let r = b.get(&paid.location.unwrap()).await;
        assert!(r.body.contains("예약 확정") && r.body.contains("탑승권"), "{}", r.body);
        let mine = b.get("/reservations").await;
        assert!(mine.body.contains("KE1203") && mine.body.contains("예약 확정"));
        assert_eq!(other.get(&res_url).await.status, StatusCode::NOT_FOUND, "not theirs");

        // Cancelling (a refund) gives the seats back once the refund is through.
        let cancelled = b.post(&format!("{res_url}/cancel"), &[("_csrf", &r.csrf())]).await;
        assert_eq!(cancelled.status, StatusCode::SEE_OTHER, "{}", cancelled.body);
        app.eventually(|| async {
            !seat_disabled(&other.get(&format!("/flights/{id}")).await.body, "1A")
        }).await;
    }

    /// A flight on sale: join the waiting room, wait (live position over SSE), be
    /// admitted, and the seat map opens with the pass kept in a cookie; someone still
    /// waiting cannot hold a seat.
    async fn the_waiting_room_turns_into_the_seat_map_when_admitted(app) {
        let admin = app.admin("tkqueue@example.com").await;
        let day = app.clock.now_ms() + 2 * 86_400_000;
        let (s, f) = app.post("/api/v1/ticketing/flights", Some(&admin.access), json!({
            "flight_number": "7C101", "origin": "GMP", "destination": "CJU",
            "departs_at": surge_kernel::rfc3339(day), "arrives_at": surge_kernel::rfc3339(day + 65 * 60_000),
            "layout": {"rows": 2, "letters": "AB", "grades": [{"name": "Economy", "from_row": 1, "to_row": 2, "price": 19_000}]}
        })).await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
        let id = f["id"].as_str().unwrap().to_owned();
        let (s, sale) = app.post("/api/v1/ticketing/sales", Some(&admin.access),
            json!({"flight_id": id, "admission_rate": 1, "max_active": 1, "pass_ttl_secs": 600})).await;
        assert_eq!(s, StatusCode::CREATED, "{sale}");

        let first = Browser::new(&app);
        first.sign_up("first@example.com", "first_in").await;
        let page = first.get(&format!("/flights/{id}")).await;
        assert!(page.body.contains("대기실 입장") && !page.body.contains("seatmap"), "{}", page.body);
        let joined = first.post(&format!("/flights/{id}/queue"), &[("_csrf", &page.csrf())]).await;
        assert_eq!(joined.location.as_deref(), Some(format!("/flights/{id}/queue").as_str()));
        // Admitted (the admission step runs every 50 ms in tests): the waiting URL
        // stores the pass and sends to the seat map.
        app.eventually(|| async {
            first.get(&format!("/flights/{id}/queue")).await.location.as_deref() == Some(format!("/flights/{id}").as_str())
        }).await;
        assert!(first.cookie("surge_pass").is_some());
        assert!(first.set_lines.lock().unwrap().iter().any(|l| l.starts_with("surge_pass=") && l.contains(&format!("Path=/flights/{id}")) && l.contains("HttpOnly")));
        let map = first.get(&format!("/flights/{id}")).await;
        assert!(map.body.contains("seatmap"), "{}", map.body);

        // The second traveller waits behind the one active shopper.
        let second = Browser::new(&app);
        second.sign_up("next@example.com", "next_in").await;
        let page = second.get(&format!("/flights/{id}")).await;
        second.post(&format!("/flights/{id}/queue"), &[("_csrf", &page.csrf())]).await;
        let waiting = second.get(&format!("/flights/{id}/queue")).await;
        assert_eq!(waiting.status, StatusCode::OK, "{}", waiting.body);
        assert!(waiting.body.contains("대기 순서") && waiting.body.contains(&format!("data-live=\"/live/queue/{id}\"")), "{}", waiting.body);
        let mut live = app.client.get(app.url(&format!("/live/queue/{id}"))).header("cookie", second.cookie_header()).send().await.unwrap();
        assert_eq!(live.headers()["content-type"], "text/event-stream");
        let chunk = String::from_utf8(live.chunk().await.unwrap().unwrap().to_vec()).unwrap();
        assert!(chunk.contains("event: position") && chunk.contains("\"status\":\"waiting\""), "{chunk}");
        drop(live);
        // Without a pass the hold is refused, in Korean.
        let seat = seat_id(&map.body, "2A");
        let refused = second.post(&format!("/flights/{id}/hold"), &[("_csrf", &page.csrf()), ("idem", "k-second"), ("seat", &seat)]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(refused.body.contains("대기실에서 차례가 된 뒤에"), "{}", refused.body);

        // The admitted one holds with the pass from the cookie.
        let held = first.post(&format!("/flights/{id}/hold"), &[("_csrf", &map.csrf()), ("idem", &field_value(&map.body, "idem")), ("seat", &seat)]).await;
        assert_eq!(held.status, StatusCode::SEE_OTHER, "{}", held.body);
    }

    #[config(|c| c.modules = Some("identity,notifications,shop,web".into()))]
    async fn ticketing_pages_are_not_found_when_ticketing_is_not_served(app) {
        let b = Browser::new(&app);
        assert_eq!(b.get("/flights").await.status, StatusCode::NOT_FOUND);
        assert!(!b.get("/").await.body.contains("/flights"));
    }
}
