//! `surge community generate --count N`: bulk-loads synthetic posts across Korea for the
//! radius benchmark. Where people post follows where they live: most posts scatter
//! around 16 cities (weighted roughly by population, each spread as a Gaussian of its
//! own size), the rest anywhere in the mainland and Jeju boxes; creation times spread
//! evenly over the last 30 days. Multi-row inserts of 500 posts per transaction, no
//! events. Post `n` has a fixed id and place, so running it again adds only the posts
//! not there yet.

use std::sync::Arc;

use sea_orm::{EntityTrait, Set, TransactionTrait};
use surge_kernel::sql::add_missing;
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::deps::Deps;
use crate::entities::post;
use crate::geo;

/// Posts per transaction: 19 columns x 500 rows stays under SQLite's 32,766 parameters.
const BATCH: u64 = 500;
/// The time the posts' creation spreads over, back from now.
const SPREAD_MS: i64 = 30 * 24 * 3_600_000;

/// (name, latitude, longitude, spread in km, weight).
const CITIES: [(&str, f64, f64, f64, u32); 16] = [
    ("서울", 37.5665, 126.9780, 9.0, 30),
    ("부산", 35.1796, 129.0756, 7.0, 8),
    ("인천", 37.4563, 126.7052, 6.0, 7),
    ("대구", 35.8714, 128.6014, 6.0, 5),
    ("대전", 36.3504, 127.3845, 5.0, 4),
    ("광주", 35.1595, 126.8526, 5.0, 4),
    ("수원", 37.2636, 127.0286, 5.0, 5),
    ("성남", 37.4200, 127.1265, 4.0, 4),
    ("울산", 35.5384, 129.3114, 5.0, 3),
    ("고양", 37.6584, 126.8320, 4.0, 3),
    ("청주", 36.6424, 127.4890, 4.0, 2),
    ("전주", 35.8242, 127.1480, 4.0, 2),
    ("창원", 35.2280, 128.6811, 5.0, 3),
    ("포항", 36.0190, 129.3435, 4.0, 1),
    ("춘천", 37.8813, 127.7298, 4.0, 1),
    ("제주", 33.4996, 126.5312, 8.0, 3),
];
/// Of 100 posts, this many are anywhere instead of near a city.
const ANYWHERE: u32 = 15;

const TITLES: [&str; 8] = [
    "오늘 하늘 맑음",
    "갑자기 소나기",
    "바람이 많이 불어요",
    "미세먼지 심해요",
    "노을이 예뻐요",
    "안개가 자욱해요",
    "눈이 조금 와요",
    "햇살 좋은 오후",
];
const BODIES: [&str; 4] = [
    "우산 챙기세요",
    "산책하기 딱 좋은 날씨예요",
    "마스크 꼭 쓰세요",
    "사진 찍기 좋은 하늘이에요",
];

pub struct Generator {
    deps: Arc<Deps>,
}

/// The fixed id of generated post `n`.
pub fn generated_id(n: u64) -> Uuid {
    // "SurgeCom" in the high half: never a v7 id of a real post.
    Uuid::from_u128((0x5375_7267_6543_6f6d_u128 << 64) | u128::from(n))
}

/// A deterministic stream of numbers in [0, 1) for post `n` (splitmix64).
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = self.next().max(f64::MIN_POSITIVE);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.next()).cos()
    }
}

/// Where post `n` is, and the place name given to it.
pub fn place_of(n: u64) -> (f64, f64, &'static str) {
    let mut d = Draws(n.wrapping_mul(0x2545_f491_4f6c_dd1d));
    if d.next() * 100.0 < f64::from(ANYWHERE) {
        // The mainland box, or (one in ten) Jeju's.
        return if d.next() < 0.9 {
            (34.6 + d.next() * 3.6, 126.4 + d.next() * 3.0, "어딘가")
        } else {
            (
                33.25 + d.next() * 0.3,
                126.2 + d.next() * 0.7,
                "제주 어딘가",
            )
        };
    }
    let total: u32 = CITIES.iter().map(|c| c.4).sum();
    let mut pick = d.next() * f64::from(total);
    let city = CITIES
        .iter()
        .find(|c| {
            pick -= f64::from(c.4);
            pick < 0.0
        })
        .unwrap_or(&CITIES[0]);
    let (name, lat, lon, km, _) = *city;
    let dlat = d.normal() * km / 111.0;
    let dlon = d.normal() * km / (111.0 * lat.to_radians().cos());
    (
        (lat + dlat).clamp(33.0, 38.6),
        (lon + dlon).clamp(124.5, 131.0),
        name,
    )
}

impl Generator {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Self { deps }
    }

    /// Adds generated posts `0..count` that are not there yet, by `authors` in turn;
    /// `progress` hears the number done after each batch. Returns how many it added.
    #[tracing::instrument(skip(self, authors, progress))]
    pub async fn generate(
        &self,
        count: u64,
        authors: &[Uuid],
        progress: impl Fn(u64),
    ) -> Result<u64, ApiError> {
        if authors.is_empty() {
            return Err(ApiError::bad_request(
                "no_authors",
                "generated posts need at least one author",
            ));
        }
        let now = self.deps.clock.now_ms();
        let db = &self.deps.db;
        let added = add_missing::<post::Entity, _, _>(
            db,
            post::Column::Id,
            count,
            BATCH,
            generated_id,
            progress,
            |todo| async move {
                let rows = todo.into_iter().map(|n| row(n, count, now, authors));
                let txn = db.begin().await?;
                post::Entity::insert_many(rows).exec(&txn).await?;
                txn.commit().await
            },
        )
        .await?;
        Ok(added)
    }
}

fn row(n: u64, count: u64, now: i64, authors: &[Uuid]) -> post::ActiveModel {
    let (lat, lon, place) = place_of(n);
    let [cell4, cell5, cell6] = geo::cells_of(lat, lon);
    // Post 0 the oldest, the last one a moment ago.
    let age = (SPREAD_MS as f64 * (1.0 - (n + 1) as f64 / count.max(1) as f64)) as i64;
    let at = now - age;
    let i = n as usize;
    post::ActiveModel {
        id: Set(generated_id(n)),
        author_id: Set(authors[i % authors.len()]),
        title: Set(format!("{} {}", place, TITLES[i % TITLES.len()])),
        body: Set(BODIES[(i / 7) % BODIES.len()].to_owned()),
        latitude: Set(lat),
        longitude: Set(lon),
        place_name: Set(Some(place.to_owned())),
        cell4: Set(cell4),
        cell5: Set(cell5),
        cell6: Set(cell6),
        image_ids: Set("[]".to_owned()),
        up_count: Set(0),
        down_count: Set(0),
        view_count: Set(0),
        comment_count: Set(0),
        created_at: Set(at),
        updated_at: Set(at),
        deleted_at: Set(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_fixed_and_in_korea() {
        for n in 0..10_000 {
            let (lat, lon, _) = place_of(n);
            assert_eq!(place_of(n).0, lat);
            assert!((33.0..=38.6).contains(&lat) && (124.5..=131.0).contains(&lon));
        }
        let near_seoul = (0..10_000)
            .filter(|n| {
                let (lat, lon, _) = place_of(*n);
                geo::distance_m(lat, lon, 37.5665, 126.9780) < 30_000.0
            })
            .count();
        // Seoul's 30 of the 85 city weights (for the 85 % near a city), and its
        // neighbours within 30 km: Goyang, Seongnam, part of Incheon and Suwon.
        assert!((3_500..5_000).contains(&near_seoul), "{near_seoul}");
    }
}
