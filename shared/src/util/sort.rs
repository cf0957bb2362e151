//! Stable sorting through one shared instance of the standard library's
//! sort, for code size in the components.
//!
//! `slice::sort_by` and its kin are generic over the element and the
//! comparator, so every call site compiles its own copy of the stable sort
//! (driftsort and its helpers, ~6 KB of wasm each): `twiggy top` on the
//! `query` component's core module counted 26 copies, 182 KB of its
//! 1.9 MB. Here the standard sort runs once, on indices, with a comparator
//! behind `dyn`, and the slice is then permuted in place; the generic part
//! left per call site is the small permutation loop. A sort pays one
//! indirect call per comparison and a `Vec<usize>` of the slice's length:
//! meant for what a request sorts (series, streams, label sets), not for a
//! hot loop over millions of items.

use std::cmp::Ordering;

/// Sorts `v` by `cmp`, stably (equal elements keep their order), as
/// `v.sort_by(cmp)` would.
pub fn sort_by<T>(v: &mut [T], cmp: impl Fn(&T, &T) -> Ordering) {
    let order = order(v.len(), &|a, b| cmp(&v[a], &v[b]));
    permute(v, order);
}

/// Sorts `v` by the key `key` gives each element, stably, as
/// `v.sort_by_key(key)` would.
pub fn sort_by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `v` in its natural order, stably, as `v.sort()` would.
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// Collects `items` into a sorted collection (`BTreeMap`, `BTreeSet`,
/// `serde_json::Map`) by inserting them one by one, as `collect` would
/// collect them (a later equal key replaces an earlier one's value).
///
/// `collect` into a `BTreeMap` or `BTreeSet` buffers the items and sorts
/// them with the standard library's stable sort first, which compiles
/// another copy of it for each key type and call site: 15 in `query`,
/// ~75 KB of wasm at `opt-level = "s"` (`twiggy paths` on each
/// `driftsort_main`). Inserting pays O(log n) a item, as the sort did; the
/// collections this builds are a request's label sets and listings.
pub fn collect<C: Default + Extend<T>, T>(items: impl IntoIterator<Item = T>) -> C {
    let mut c = C::default();
    c.extend(items);
    c
}

/// The indices `0..n` in the order `cmp` (over indices) sorts them: the one
/// place the standard library's stable sort is instantiated.
#[inline(never)]
fn order(n: usize, cmp: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| cmp(a, b));
    order
}

/// Rearranges `v` so that `v[i]` becomes the old `v[order[i]]`, following
/// each cycle of the permutation with swaps (`order` is marked as it goes).
fn permute<T>(v: &mut [T], mut order: Vec<usize>) {
    for start in 0..v.len() {
        let mut dst = start;
        loop {
            let src = order[dst];
            order[dst] = dst;
            if src == start {
                break;
            }
            v.swap(dst, src);
            dst = src;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_as_the_standard_library_does_stability_included() {
        // Pairs sorted by their first half only: the second shows stability.
        let mut seed = 0x9e37_79b9_u32;
        for len in [0, 1, 2, 3, 7, 64, 1000] {
            let v: Vec<(u8, u32)> = (0..len)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    ((seed % 5) as u8, i)
                })
                .collect();
            let (mut ours, mut std) = (v.clone(), v);
            sort_by_key(&mut ours, |p| p.0);
            std.sort_by_key(|p| p.0);
            assert_eq!(ours, std, "len {len}");
        }
        let mut words = vec!["b", "a", "c", "a"];
        sort(&mut words);
        assert_eq!(words, ["a", "a", "b", "c"]);
        let mut desc = vec![1, 3, 2];
        sort_by(&mut desc, |a, b| b.cmp(a));
        assert_eq!(desc, [3, 2, 1]);
    }

    #[test]
    fn collects_as_collect_does_a_later_key_replacing_an_earlier_one() {
        use std::collections::{BTreeMap, BTreeSet};
        let pairs = [("b", 1), ("a", 2), ("b", 3)];
        let ours: BTreeMap<_, _> = collect(pairs);
        assert_eq!(ours, pairs.into_iter().collect::<BTreeMap<_, _>>());
        assert_eq!(ours["b"], 3);
        let set: BTreeSet<_> = collect(["c", "a", "c"]);
        assert_eq!(set.into_iter().collect::<Vec<_>>(), ["a", "c"]);
        let json: serde_json::Map<String, serde_json::Value> =
            collect([("z".to_owned(), 1.into()), ("y".to_owned(), 2.into())]);
        assert_eq!(
            serde_json::Value::Object(json).to_string(),
            r#"{"y":2,"z":1}"#
        );
    }
}
