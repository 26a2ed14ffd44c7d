//! The `--filter` language of `hoard models ls`: `size>1GiB`, `size<100MiB`, `age>30d`
//! (unused for longer than), `age<1d`, `store=huggingface`. Several filters keep the items
//! every one of them keeps.
//!
//! An expression is a field, one of `<`, `>` or `=`, and a value. Sizes are written as in
//! hoard.toml ([`crate::size::parse_size`]), ages as hoard's durations (`30d`, `12h`,
//! `2h5m`). An `=` right after `<` or `>` is ignored: `size>=1GiB` reads as `size>1GiB`.

use crate::error::ModelsError;
use crate::inventory::{Item, Store};
use crate::size::{parse_size, ByteSize};
use std::cmp::Ordering;
use std::time::Duration;

/// One parsed `--filter` expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Items whose size on disk compares so with this.
    Size(Comparison, ByteSize),
    /// Items whose last use (the newer of last access and last change) lies so far back.
    Age(Comparison, Duration),
    /// Items of this store.
    Store(Store),
}

/// How a value must compare with the filter's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `<`
    Less,
    /// `>`
    Greater,
    /// `=`
    Equal,
}

impl Comparison {
    fn holds<T: Ord>(self, actual: T, wanted: T) -> bool {
        let wanted_order = match self {
            Comparison::Less => Ordering::Less,
            Comparison::Greater => Ordering::Greater,
            Comparison::Equal => Ordering::Equal,
        };
        actual.cmp(&wanted) == wanted_order
    }
}

impl std::str::FromStr for Filter {
    type Err = ModelsError;

    fn from_str(text: &str) -> Result<Filter, ModelsError> {
        let at = text
            .find(['<', '>', '='])
            .ok_or_else(|| ModelsError::FilterSyntax(text.to_owned()))?;
        let field = text[..at].trim();
        let comparison = match text.as_bytes()[at] {
            b'<' => Comparison::Less,
            b'>' => Comparison::Greater,
            _ => Comparison::Equal,
        };
        let value = text[at + 1..].trim_start_matches('=').trim();
        match field {
            "size" => Ok(Filter::Size(comparison, parse_size(value)?)),
            "age" => Ok(Filter::Age(comparison, hoard::ttl::parse_duration(value)?)),
            "store" => {
                // The store is checked first: `store>nope` is an unknown store.
                let store: Store = value.parse()?;
                match comparison {
                    Comparison::Equal => Ok(Filter::Store(store)),
                    _ => Err(ModelsError::FilterStoreOperator),
                }
            }
            _ => Err(ModelsError::FilterField(text.to_owned())),
        }
    }
}

impl Filter {
    /// Whether `item` passes, judged at `now_ms` (milliseconds since the Unix epoch).
    pub fn keeps(&self, item: &Item, now_ms: i64) -> bool {
        match *self {
            Filter::Size(comparison, size) => comparison.holds(item.size, size.as_u64()),
            Filter::Age(comparison, age) => {
                // An item with no times at all is as old as the epoch.
                let last_use = item
                    .last_accessed_ms
                    .max(item.last_modified_ms)
                    .unwrap_or(0);
                let unused_ms = u64::try_from(now_ms.saturating_sub(last_use)).unwrap_or(0);
                let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
                comparison.holds(unused_ms, age_ms)
            }
            Filter::Store(store) => item.store == store,
        }
    }

    /// Whether `item` passes every one of `filters`.
    pub fn all_keep(filters: &[Filter], item: &Item, now_ms: i64) -> bool {
        filters.iter().all(|filter| filter.keeps(item, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    const DAY_MS: i64 = 86_400_000;

    fn item(id: &str, store: Store, size: u64, last_use_ms: Option<i64>) -> Item {
        Item {
            id: id.to_owned(),
            store,
            path: PathBuf::from("/models").join(id),
            size,
            revisions: 1,
            last_accessed_ms: last_use_ms,
            last_modified_ms: None,
            refs: BTreeMap::new(),
            detached: Vec::new(),
            partial: Vec::new(),
            contents: Vec::new(),
        }
    }

    fn parse(text: &str) -> Filter {
        text.parse().unwrap()
    }

    fn error(text: &str) -> String {
        text.parse::<Filter>().unwrap_err().to_string()
    }

    #[test]
    fn expressions_parse_into_typed_filters() {
        assert_eq!(
            parse("size>1GiB"),
            Filter::Size(Comparison::Greater, ByteSize::gib(1))
        );
        assert_eq!(
            parse(" size < 100MiB "),
            Filter::Size(Comparison::Less, ByteSize::mib(100))
        );
        assert_eq!(
            parse("size>=2KiB"),
            Filter::Size(Comparison::Greater, ByteSize::kib(2))
        );
        assert_eq!(
            parse("size==5"),
            Filter::Size(Comparison::Equal, ByteSize::b(5))
        );
        assert_eq!(
            parse("age>30d"),
            Filter::Age(Comparison::Greater, Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse("store=hf"), Filter::Store(Store::Huggingface));
    }

    #[test]
    fn bad_expressions_say_what_to_write() {
        assert_eq!(
            error("large"),
            "filter \"large\": use size>1GiB, age>30d or store=torch"
        );
        assert_eq!(
            error("colour=red"),
            "filter \"colour=red\": the fields are size, age and store"
        );
        assert_eq!(error("size>lots"), "\"lots\" is not a size like 256MiB");
        assert_eq!(
            error("age>90"),
            "invalid duration \"90\": missing unit (ms, s, m, h, d or w)"
        );
        assert_eq!(
            error("store=s3"),
            "unknown store \"s3\": use huggingface, torch, ollama, mlx or app"
        );
        assert_eq!(
            error("store>torch"),
            "store filters use =, as in store=torch"
        );
        assert!(error("store>s3").starts_with("unknown store"));
    }

    #[test]
    fn sizes_compare_with_the_size_on_disk() {
        let small = item("org/small", Store::Huggingface, 1000, None);
        let big = item("org/big", Store::Huggingface, 5000, None);
        let over_2k = parse("size>2KiB");
        assert!(!over_2k.keeps(&small, 0) && over_2k.keeps(&big, 0));
        assert!(parse("size<1000B").keeps(&item("x", Store::Torch, 999, None), 0));
        assert!(parse("size=1000").keeps(&small, 0));
        assert!(!parse("size=1000").keeps(&big, 0));
    }

    #[test]
    fn age_is_the_time_since_the_last_access_or_change() {
        let now = 100 * DAY_MS;
        let fresh = item("fresh", Store::Torch, 1, Some(now - DAY_MS));
        let mut stale = item("stale", Store::Torch, 1, Some(now - 60 * DAY_MS));
        let older_than_30d = parse("age>30d");
        assert!(!older_than_30d.keeps(&fresh, now));
        assert!(older_than_30d.keeps(&stale, now));
        // A recent change counts as use even when the last access is old.
        stale.last_modified_ms = Some(now - DAY_MS);
        assert!(!older_than_30d.keeps(&stale, now));
        // No times at all: as old as the epoch.
        assert!(older_than_30d.keeps(&item("never", Store::Torch, 1, None), now));
        // A time in the future is no age at all.
        let ahead = item("ahead", Store::Torch, 1, Some(now + DAY_MS));
        assert!(parse("age<1d").keeps(&ahead, now));
    }

    #[test]
    fn every_filter_must_keep_an_item() {
        let filters = [parse("store=torch"), parse("size>2KiB")];
        assert!(Filter::all_keep(
            &filters,
            &item("torch:vad.pt", Store::Torch, 3000, None),
            0
        ));
        assert!(!Filter::all_keep(
            &filters,
            &item("torch:tiny.pt", Store::Torch, 10, None),
            0
        ));
        assert!(!Filter::all_keep(
            &filters,
            &item("org/big", Store::Huggingface, 3000, None),
            0
        ));
        assert!(Filter::all_keep(&[], &item("any", Store::App, 0, None), 0));
    }
}
