//! `SURGE_DATABASE_READ_URL`: the public reads (listing and search pages, a posting by
//! id) answer from the read database, while a user's points, read right after their own
//! write, come from the primary. Proven with a read database that holds the same
//! postings as the primary but one changed title, on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{Backend, TestApp};

surge_testkit::on_every_backend!(public_reads_go_to_the_read_database);

const REPLICA_TITLE: &str = "읽기 전용 데이터베이스의 제목";

fn item<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {list}"))
}

async fn public_reads_go_to_the_read_database(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("surge-read-db-{}", uuid::Uuid::new_v4()));
    let replica = match backend {
        Backend::Embedded => {
            std::fs::create_dir_all(&dir).unwrap();
            format!("sqlite://{}?mode=rwc", dir.join("replica.db").display())
        }
        other => match other.server_url() {
            Some(server) => surge_testkit::fresh_database(&server).await,
            None => return,
        },
    };
    // The read database: another deployment's primary, so it has the schema and can be
    // written through the API; the app under test reads from it.
    let url = replica.clone();
    let Some(writer) = TestApp::spawn_on(backend, move |c| {
        // Embedded keeps its key beside the database it would have made there.
        std::fs::create_dir_all(&c.data_dir).unwrap();
        c.database_url = Some(url.into());
    })
    .await
    else {
        return;
    };
    let url = replica.clone();
    let app = TestApp::spawn_on(backend, move |c| c.database_read_url = Some(url.into()))
        .await
        .unwrap();
    // The same generated postings (fixed ids) in both databases.
    for a in [&app, &writer] {
        assert_eq!(a.careers.generator.generate(20, |_| {}).await.unwrap(), 20);
    }
    app.careers.search.rebuild().await.unwrap();
    // Read from the other deployment: a page this app showed would keep its rows (up
    // to `ROWS_TTL`), and a change made there sends this app no event to forget them.
    let id = surge_careers::generate::generated_id(0).to_string();
    let (_, before) = writer
        .get(&format!("/api/v1/careers/postings/{id}"), None)
        .await;
    let original = before["title"].as_str().unwrap().to_owned();
    assert_ne!(original, REPLICA_TITLE);

    // Change the title in the read database only.
    let admin = writer.admin("replica-admin@example.com").await;
    let (s, b) = writer
        .call(
            Method::PATCH,
            &format!("/api/v1/careers/postings/{id}"),
            Some(&admin.access),
            Some(json!({"title": REPLICA_TITLE})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // The listing, a search (matched by the primary's words in this app's index) and
    // the posting by id show the read database's row.
    let (_, list) = app.get("/api/v1/careers/postings?limit=50", None).await;
    assert_eq!(
        item(&list, &id)["title"],
        REPLICA_TITLE,
        "listing page rows"
    );
    let word = original.split_whitespace().next().unwrap();
    let q: String = url_escape(word);
    let (_, found) = app
        .get(&format!("/api/v1/careers/postings?q={q}&limit=50"), None)
        .await;
    assert_eq!(
        item(&found, &id)["title"],
        REPLICA_TITLE,
        "search page rows"
    );
    let (_, one) = app
        .get(&format!("/api/v1/careers/postings/{id}"), None)
        .await;
    assert_eq!(one["title"], REPLICA_TITLE, "a posting by id");
    // The primary still has the original.
    assert_eq!(
        app.careers
            .postings
            .get(id.parse().unwrap())
            .await
            .unwrap()
            .title,
        original
    );

    // A user's points after their own scrap: from the primary (the read database has
    // no ledger row for them).
    let user = app.user("reader@example.com", "독자").await;
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/careers/postings/{id}/scrap"),
            Some(&user.access),
            None,
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    let (_, points) = app
        .get("/api/v1/careers/points/me", Some(&user.access))
        .await;
    assert_eq!(points["balance"], 50, "{points}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
