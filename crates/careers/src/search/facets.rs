//! Counts category, skill and location values over every matching document from the
//! index's columns (fast fields): one pass over the matches, no stored document read.

use std::collections::HashMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::results::{FacetCount, Facets};

/// The column names (STRING | FAST fields of the schema), in `Facets` order.
pub(super) const CATEGORY: &str = "category_value";
pub(super) const SKILLS: &str = "skill_name";
pub(super) const LOCATION: &str = "location_value";

pub(super) struct FacetCounter;

type Counts = [HashMap<String, u64>; 3];

pub(super) struct SegmentCounter {
    columns: [Option<StrColumn>; 3],
    /// Per column, a count per term ordinal of this segment.
    counts: [Vec<u64>; 3],
}

impl Collector for FacetCounter {
    type Fruit = Counts;
    type Child = SegmentCounter;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentCounter> {
        let ff = reader.fast_fields();
        let columns = [ff.str(CATEGORY)?, ff.str(SKILLS)?, ff.str(LOCATION)?];
        let counts =
            [0, 1, 2].map(|i| vec![0u64; columns[i].as_ref().map(|c| c.num_terms()).unwrap_or(0)]);
        Ok(SegmentCounter { columns, counts })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Counts>) -> tantivy::Result<Counts> {
        let mut total: Counts = Default::default();
        for fruit in fruits {
            for (into, from) in total.iter_mut().zip(fruit) {
                for (value, n) in from {
                    *into.entry(value).or_default() += n;
                }
            }
        }
        Ok(total)
    }
}

impl SegmentCollector for SegmentCounter {
    type Fruit = Counts;

    fn collect(&mut self, doc: DocId, _: Score) {
        for (column, counts) in self.columns.iter().zip(self.counts.iter_mut()) {
            if let Some(c) = column {
                for ord in c.term_ords(doc) {
                    if let Some(n) = counts.get_mut(ord as usize) {
                        *n += 1;
                    }
                }
            }
        }
    }

    fn harvest(self) -> Counts {
        let mut out: Counts = Default::default();
        let mut value = String::new();
        for ((column, counts), into) in self.columns.iter().zip(self.counts).zip(out.iter_mut()) {
            let Some(c) = column else { continue };
            for (ord, n) in counts.into_iter().enumerate() {
                if n > 0 && c.ord_to_str(ord as u64, &mut value).unwrap_or(false) {
                    into.insert(value.clone(), n);
                }
            }
        }
        out
    }
}

/// Most frequent first, then by value.
pub(super) fn sorted([category, skills, location]: Counts) -> Facets {
    let sorted = |m: HashMap<String, u64>| {
        let mut v: Vec<FacetCount> = m
            .into_iter()
            .map(|(value, count)| FacetCount { value, count })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        v
    };
    Facets {
        category: sorted(category),
        skills: sorted(skills),
        location: sorted(location),
    }
}
