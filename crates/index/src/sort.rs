//! Sort keys. Every order ends in the id's key, so equal scores, dates and counts keep one
//! order across pages, commits and merges (tantivy's own tie-break, the document address,
//! changes when segments merge).

use std::sync::Arc;

use tantivy::collector::sort_key::NaturalComparator;
use tantivy::collector::{SegmentSortKeyComputer, SortKeyComputer};
use tantivy::columnar::ColumnValues;
use tantivy::{DocId, Score, SegmentReader};

use crate::schema::{CREATED_AT, DOWNLOADS, ID_KEY};

/// Descending by a numeric fast field (as monotonic u64).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastKey(&'static str);

pub(crate) const BY_ID: FastKey = FastKey(ID_KEY);
pub(crate) const BY_CREATED: FastKey = FastKey(CREATED_AT);
pub(crate) const BY_DOWNLOADS: FastKey = FastKey(DOWNLOADS);

pub(crate) struct FastKeySegment(Arc<dyn ColumnValues<u64>>);

impl SortKeyComputer for FastKey {
    type SortKey = u64;
    type Child = FastKeySegment;
    type Comparator = NaturalComparator;

    fn segment_sort_key_computer(&self, reader: &SegmentReader) -> tantivy::Result<FastKeySegment> {
        let column = reader.fast_fields().u64_lenient(self.0)?.ok_or_else(|| {
            tantivy::TantivyError::SchemaError(format!("{} is not a fast field", self.0))
        })?;
        Ok(FastKeySegment(column.0.first_or_default_col(0)))
    }
}

impl SegmentSortKeyComputer for FastKeySegment {
    type SortKey = u64;
    type SegmentSortKey = u64;
    type SegmentComparator = NaturalComparator;

    #[inline]
    fn segment_sort_key(&mut self, doc: DocId, _score: Score) -> u64 {
        self.0.get_val(doc)
    }

    fn convert_segment_sort_key(&self, key: u64) -> u64 {
        key
    }
}
