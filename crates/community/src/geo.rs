//! Where a post is and what "near" means: great-circle distance on MySQL's sphere, and
//! the geohash cells that cover a circle, so a radius search reads indexed cells
//! followed by the exact distance in Rust. Pure Rust.

/// The sphere MySQL's `ST_Distance_Sphere` uses by default (metres), so "within 5 km"
/// means the same here as in the original.
pub const EARTH_RADIUS_M: f64 = 6_370_986.0;

/// The geohash lengths stored per post (`cell4`, `cell5`, `cell6`): about 39 × 20 km,
/// 4.9 × 4.9 km and 1.2 × 0.6 km at the equator (narrower east–west further north).
pub const LEVELS: [usize; 3] = [4, 5, 6];

/// At most this many cells go into one search (one index range each): the finest
/// stored level that covers a circle with no more is used (5 km in Korea: 12 cells of
/// level 5).
pub const MAX_CELLS: usize = 48;

/// Great-circle distance in metres (haversine, on [`EARTH_RADIUS_M`]).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// The cells of every stored level for a point, finest last.
pub fn cells_of(lat: f64, lon: f64) -> [String; 3] {
    LEVELS.map(|len| cell_at(lat, lon, len))
}

/// The geohash of length `len` containing the point. The edges that the geohash bit
/// trick cannot take (latitude 90, longitude 180) are moved into the last cell.
fn cell_at(lat: f64, lon: f64, len: usize) -> String {
    let lat = lat.clamp(-90.0, 89.999_999_999);
    let lon = if lon >= 180.0 {
        -180.0
    } else {
        lon.max(-180.0)
    };
    geohash::encode(geohash::Coord { x: lon, y: lat }, len).unwrap_or_default()
}

/// The latitude/longitude box holding a circle (with a little slack): longitude in one
/// range, two split at the antimeridian, or the whole round when the circle holds a pole.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    pub min_lat: f64,
    pub max_lat: f64,
    pub lon_ranges: Vec<(f64, f64)>,
}

/// How a radius search narrows its candidates.
#[derive(Debug, Clone, PartialEq)]
pub enum Cover {
    /// Posts whose level-`level` cell is one of `cells` (the column `cell{level}`).
    Cells { level: usize, cells: Vec<String> },
    /// Near a pole even the coarsest level needs too many cells: a latitude band.
    Band { min_lat: f64, max_lat: f64 },
}

/// The box holding every point within `radius_m` of the point: no point of the circle
/// is outside it (nor outside the [`cover`] of the cells meeting it).
pub fn bounds(lat: f64, lon: f64, radius_m: f64) -> Bounds {
    // A little slack, so rounding in the box never drops a point right on the circle.
    let r = radius_m * 1.001 + 1.0;
    let dlat = (r / EARTH_RADIUS_M).to_degrees();
    let (min_lat, max_lat) = (lat - dlat, lat + dlat);
    let lon_ranges: Vec<(f64, f64)> = if min_lat <= -90.0 || max_lat >= 90.0 {
        vec![(-180.0, 180.0)]
    } else {
        // The widest longitude span of the circle is at its latitude extreme furthest
        // from the equator: bounded there, it holds everywhere in the band.
        let far = min_lat.abs().max(max_lat.abs()).to_radians();
        let dlon = (r / (EARTH_RADIUS_M * far.cos())).to_degrees();
        if dlon >= 180.0 {
            vec![(-180.0, 180.0)]
        } else {
            let (w, e) = (lon - dlon, lon + dlon);
            if w <= -180.0 {
                vec![(w + 360.0, 180.0), (-180.0, e)]
            } else if e >= 180.0 {
                vec![(w, 180.0), (-180.0, e - 360.0)]
            } else {
                vec![(w, e)]
            }
        }
    };
    Bounds {
        min_lat: min_lat.max(-90.0),
        max_lat: max_lat.min(90.0),
        lon_ranges,
    }
}

/// The cells covering a circle's [`bounds`], at the finest stored level that needs at
/// most [`MAX_CELLS`].
pub fn cover(b: &Bounds) -> Cover {
    let Bounds {
        min_lat,
        max_lat,
        lon_ranges,
    } = b;
    let (min_lat, max_lat) = (*min_lat, *max_lat);
    for level in LEVELS.iter().rev() {
        if let Some(cells) = cells_in_box(*level, min_lat, max_lat, lon_ranges) {
            return Cover::Cells {
                level: *level,
                cells,
            };
        }
    }
    Cover::Band { min_lat, max_lat }
}

/// Every cell of length `len` meeting the box, or `None` past [`MAX_CELLS`].
fn cells_in_box(
    len: usize,
    min_lat: f64,
    max_lat: f64,
    lon_ranges: &[(f64, f64)],
) -> Option<Vec<String>> {
    // A geohash of n characters splits 5n bits: longitude takes the odd one out.
    let bits = 5 * len as i32;
    let (lon_bits, lat_bits) = ((bits + 1) / 2, bits / 2);
    let (cell_h, cell_w) = (180.0 / 2f64.powi(lat_bits), 360.0 / 2f64.powi(lon_bits));
    let (rows, cols) = (2i64.pow(lat_bits as u32), 2i64.pow(lon_bits as u32));
    let index = |v: f64, origin: f64, size: f64, n: i64| {
        (((v - origin) / size).floor() as i64).clamp(0, n - 1)
    };
    let (row0, row1) = (
        index(min_lat, -90.0, cell_h, rows),
        index(max_lat, -90.0, cell_h, rows),
    );
    let mut cells = Vec::new();
    for (w, e) in lon_ranges {
        let (col0, col1) = (
            index(*w, -180.0, cell_w, cols),
            index(*e, -180.0, cell_w, cols),
        );
        let count = (row1 - row0 + 1) * (col1 - col0 + 1);
        if cells.len() as i64 + count > MAX_CELLS as i64 {
            return None;
        }
        for row in row0..=row1 {
            for col in col0..=col1 {
                let lat = -90.0 + (row as f64 + 0.5) * cell_h;
                let lon = -180.0 + (col as f64 + 0.5) * cell_w;
                cells.push(cell_at(lat, lon, len));
            }
        }
    }
    cells.sort();
    cells.dedup();
    Some(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_matches_the_sphere() {
        // Seoul City Hall to Busan City Hall: ~325 km on MySQL's sphere.
        let d = distance_m(37.5663, 126.9779, 35.1798, 129.0750);
        assert!((d - 325_000.0).abs() < 2_000.0, "{d}");
        assert_eq!(distance_m(10.0, 10.0, 10.0, 10.0), 0.0);
        // One degree of latitude on a 6,370,986 m sphere.
        let one = distance_m(0.0, 0.0, 1.0, 0.0);
        assert!((one - 111_194.7).abs() < 0.5, "{one}");
    }

    fn covered(c: &Cover, lat: f64, lon: f64) -> bool {
        match c {
            Cover::Cells { level, cells } => {
                let idx = LEVELS.iter().position(|l| l == level).unwrap_or(0);
                cells.contains(&cells_of(lat, lon)[idx])
            }
            Cover::Band { min_lat, max_lat } => (*min_lat..=*max_lat).contains(&lat),
        }
    }

    #[test]
    fn the_cover_holds_every_point_of_the_circle() {
        let centres = [
            (37.5665, 126.978),
            (0.0, 179.99),
            (-33.9, -180.0),
            (89.95, 10.0),
            (-89.99, 0.0),
            (64.0, -21.9),
            (35.0, 127.0),
        ];
        for (lat, lon) in centres {
            for radius in [1.0, 50.0, 1_000.0, 5_000.0, 20_000.0, 50_000.0] {
                let c = cover(&bounds(lat, lon, radius));
                // Points on the circle itself, every 3 degrees of bearing.
                for step in 0..120 {
                    let b = (step as f64 * 3.0).to_radians();
                    let d = radius / EARTH_RADIUS_M;
                    let (p1, l1) = (lat.to_radians(), lon.to_radians());
                    let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * b.cos()).asin();
                    let l2 =
                        l1 + (b.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
                    let (plat, mut plon) = (p2.to_degrees(), l2.to_degrees());
                    plon = (plon + 540.0).rem_euclid(360.0) - 180.0;
                    assert!(
                        covered(&c, plat, plon),
                        "{lat},{lon} r={radius}: {plat},{plon}"
                    );
                }
                if let Cover::Cells { cells, .. } = &c {
                    assert!(cells.len() <= MAX_CELLS);
                }
            }
        }
    }

    #[test]
    fn five_km_in_seoul_takes_a_dozen_level_five_cells() {
        match cover(&bounds(37.5665, 126.978, 5_000.0)) {
            Cover::Cells { level, cells } => {
                assert_eq!(level, 5);
                assert!(cells.len() <= 16, "{}", cells.len());
            }
            other => panic!("{other:?}"),
        }
    }
}
