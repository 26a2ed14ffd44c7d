//! The exact index against the flat f32 scan: same ids, same order, same score bits.

use super::*;
use crate::index::dot;
use crate::index::test_vectors::{raw, unit};
use crate::SemanticError;

/// Both indexes holding `vectors` as ids 0, 1, ...
fn both(vectors: &[Vec<f32>]) -> (ExactIndex, FlatIndex) {
    let dim = vectors.first().map_or(0, Vec::len);
    let (mut exact, mut flat) = (ExactIndex::new(dim), FlatIndex::new(dim));
    for (id, v) in vectors.iter().enumerate() {
        exact.insert(id as u64, v);
        flat.insert(id as u64, v);
    }
    (exact, flat)
}

/// `found` as (id, score bits), so equal means bit for bit.
fn bits(found: &[(u64, f32)]) -> Vec<(u64, u32)> {
    found.iter().map(|(id, s)| (*id, s.to_bits())).collect()
}

/// Asserts the exact index answers `query` exactly as the flat scan does, and returns how.
fn same(exact: &ExactIndex, flat: &FlatIndex, query: &[f32], k: usize) -> SearchTrace {
    let trace = exact.search_traced(query, k);
    assert_eq!(bits(&trace.found), bits(&flat.search(query, k)), "k {k}");
    assert_eq!(bits(&trace.found), bits(&exact.search(query, k)));
    trace
}

#[test]
fn returns_the_flat_scans_results_bit_for_bit_and_proves_most_of_them() {
    let dim = 384;
    let vectors: Vec<Vec<f32>> = (0..3000).map(|n| unit(n, dim)).collect();
    let (exact, flat) = both(&vectors);
    let mut proved = 0;
    let mut searches = 0;
    for q in 0..60u64 {
        // Held-out queries, and stored vectors asked again (the top-1 is then itself).
        let query = if q % 2 == 0 {
            unit(100_000 + q, dim)
        } else {
            vectors[q as usize * 37].clone()
        };
        for k in [1, 4, 10, 50] {
            let trace = same(&exact, &flat, &query, k);
            assert_eq!(trace.found.len(), k);
            if q % 2 == 1 {
                assert_eq!(
                    trace.found[0].0,
                    q * 37,
                    "a stored vector finds itself first"
                );
            }
            proved += usize::from(trace.proved);
            searches += 1;
            // When proved, only the candidates were read in f32.
            if trace.proved {
                assert_eq!(trace.rescored, candidates_for(k));
            }
        }
    }
    // Random unit vectors crowd their scores together, yet the bounds are tight enough.
    assert!(proved * 10 >= searches * 9, "proved {proved} of {searches}");
}

#[test]
fn near_ties_and_exact_ties_are_rescanned_and_ranked_as_the_flat_scan_ranks_them() {
    let dim = 64;
    let base = unit(5, dim);
    // 200 vectors a hair apart (far below one int8 step, so their codes are the same or
    // one step apart), 20 exact copies of one of them, and unrelated ones.
    let mut vectors: Vec<Vec<f32>> = (0..200)
        .map(|n| {
            let mut v = base.clone();
            v[(n % dim as u64) as usize] += (n as f32 - 100.0) * 1e-6;
            v
        })
        .collect();
    let copied = vectors[3].clone();
    vectors.extend((0..20).map(|_| copied.clone()));
    vectors.extend((0..500).map(|n| unit(1000 + n, dim)));
    let (exact, flat) = both(&vectors);
    let mut rescanned = 0;
    for k in [1, 3, 8, 40] {
        for query in [base.clone(), vectors[3].clone(), vectors[150].clone()] {
            let trace = same(&exact, &flat, &query, k);
            rescanned += usize::from(!trace.proved);
            // The returned scores are the f32 cosines, not the int8 estimates.
            for (id, score) in &trace.found {
                assert_eq!(
                    score.to_bits(),
                    dot(&query, &vectors[*id as usize]).to_bits()
                );
            }
        }
    }
    assert!(rescanned > 0, "near-ties must exercise the second scan");
}

#[test]
fn removal_and_replacement_keep_both_copies_in_step() {
    let dim = 48;
    let vectors: Vec<Vec<f32>> = (0..400).map(|n| unit(n, dim)).collect();
    let (mut exact, mut flat) = both(&vectors);
    for id in (0..400).step_by(3) {
        assert_eq!(exact.remove(id), flat.remove(id));
    }
    assert!(!exact.remove(0), "removed once");
    for id in (1..400).step_by(7) {
        let v = unit(5000 + id, dim);
        exact.insert(id, &v);
        flat.insert(id, &v);
    }
    assert_eq!(exact.len(), flat.len());
    for q in 0..30 {
        same(&exact, &flat, &unit(9000 + q, dim), 5);
        // A replaced vector is found as its new self, a removed one not at all.
        let found = exact.search(&unit(5000 + 8, dim), 1);
        assert_eq!(found[0].0, 8);
        assert!(exact
            .search(&vectors[3], 400)
            .iter()
            .all(|(id, _)| *id != 3));
    }
}

#[test]
fn zero_and_unnormalized_vectors_and_queries_get_the_flat_scans_answer() {
    let dim = 384;
    let mut vectors: Vec<Vec<f32>> = (0..300)
        .map(|n| {
            // Norms from 1e-3 to 1e3, and raw (unnormalized) directions.
            let scale = 10f32.powf((n % 7) as f32 - 3.0);
            raw(n, dim).into_iter().map(|x| x * scale).collect()
        })
        .collect();
    vectors.extend((0..10).map(|_| vec![0.0; dim]));
    let (exact, flat) = both(&vectors);
    for q in 0..20 {
        let scale = 10f32.powf((q % 5) as f32 - 2.0);
        let query: Vec<f32> = raw(7000 + q, dim).into_iter().map(|x| x * scale).collect();
        same(&exact, &flat, &query, 4);
    }
    // A zero query scores every vector 0: the proof cannot hold, the answer is still the
    // flat scan's (the first four positions).
    let zero = vec![0.0; dim];
    let trace = same(&exact, &flat, &zero, 4);
    assert_eq!(
        trace.found.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    // An index of zero vectors only.
    let (exact, flat) = both(&vec![vec![0.0; dim]; 50]);
    same(&exact, &flat, &unit(1, dim), 3);
}

#[test]
fn non_finite_vectors_and_queries_fall_back_to_the_f32_scan() {
    let dim = 16;
    let mut vectors: Vec<Vec<f32>> = (0..100).map(|n| unit(n, dim)).collect();
    vectors[10][3] = f32::NAN;
    vectors[20][0] = f32::INFINITY;
    let (mut exact, mut flat) = both(&vectors);
    let trace = same(&exact, &flat, &unit(500, dim), 50);
    assert!(!trace.proved && trace.rescored == 100);
    // Once they are gone, searches are proved again.
    exact.remove(10);
    flat.remove(10);
    exact.insert(20, &unit(20, dim));
    flat.insert(20, &unit(20, dim));
    assert!(same(&exact, &flat, &vectors[30], 1).proved);
    let mut query = unit(501, dim);
    query[0] = f32::NAN;
    let trace = exact.search_traced(&query, 3);
    assert_eq!(trace.found.len(), 3);
    assert_eq!(bits(&trace.found), bits(&flat.search(&query, 3)));
}

#[test]
fn dimension_mismatches_are_errors_and_change_nothing() {
    let mut index = ExactIndex::new(8);
    index.insert(1, &unit(1, 8));
    let refused = index.try_insert(2, &[0.5; 7]);
    assert!(matches!(
        refused,
        Err(SemanticError::Dimension {
            expected: 8,
            got: 7
        })
    ));
    index.insert(3, &[0.5; 9]);
    index.insert(1, &[0.5; 9]);
    assert_eq!(index.len(), 1, "vectors of another length are not stored");
    assert_eq!(index.search(&unit(1, 8), 1)[0].0, 1);
    assert!(
        (index.search(&unit(1, 8), 1)[0].1 - 1.0).abs() < 1e-6,
        "1 kept its vector"
    );
    let refused = index.try_search(&[0.5; 4], 1);
    assert!(matches!(
        refused,
        Err(SemanticError::Dimension {
            expected: 8,
            got: 4
        })
    ));
    assert!(index.search(&[0.5; 4], 1).is_empty());
    assert_eq!(
        index.try_search(&unit(1, 8), 1).map(|f| f.len()).ok(),
        Some(1)
    );
    index
        .try_insert(2, &unit(2, 8))
        .expect("the right length is stored");
    assert_eq!(index.len(), 2);
    let message = SemanticError::Dimension {
        expected: 8,
        got: 7,
    }
    .to_string();
    assert!(message.contains('8') && message.contains('7'), "{message}");
}

#[test]
fn small_long_and_empty_indexes_agree_with_the_flat_scan() {
    // Fewer vectors than candidates: every one is rescored.
    let few: Vec<Vec<f32>> = (0..10).map(|n| unit(n, 384)).collect();
    let (exact, flat) = both(&few);
    let trace = same(&exact, &flat, &unit(77, 384), 4);
    assert!(trace.proved && trace.rescored == 10);
    same(&exact, &flat, &unit(77, 384), 100);
    // Long vectors: the query's codes take a narrower range, and odd lengths a tail.
    for dim in [1, 3, 33, 1537, 4099] {
        let vectors: Vec<Vec<f32>> = (0..120).map(|n| unit(n, dim)).collect();
        let (exact, flat) = both(&vectors);
        for q in 0..5 {
            same(&exact, &flat, &unit(300 + q, dim), 2);
        }
    }
    let empty = ExactIndex::new(4);
    assert!(empty.search(&unit(1, 4), 3).is_empty());
    assert!(both(&few).0.search(&unit(1, 384), 0).is_empty());
}

#[test]
fn clustered_data_at_every_spread_agrees_with_the_flat_scan_through_removals() {
    // Clusters of vectors around a few centres, from well apart (the proof holds) to far
    // closer than one int8 step (the second scan decides), with removals in between.
    let dim = 96;
    let mut rescanned = 0;
    let mut searches = 0;
    for (round, spread) in [3e-1f32, 3e-2, 1e-3, 1e-5, 1e-7].into_iter().enumerate() {
        let centres: Vec<Vec<f32>> = (0..6).map(|c| unit(round as u64 * 100 + c, dim)).collect();
        let vectors: Vec<Vec<f32>> = (0..600u64)
            .map(|n| {
                let centre = &centres[(n % 6) as usize];
                let noise = raw(50_000 + round as u64 * 1000 + n, dim);
                centre
                    .iter()
                    .zip(&noise)
                    .map(|(c, e)| c + spread * e)
                    .collect()
            })
            .collect();
        let (mut exact, mut flat) = both(&vectors);
        for step in 0..4u64 {
            for (i, centre) in centres.iter().enumerate() {
                for k in [1, 2, 7, 33] {
                    let trace = same(&exact, &flat, centre, k);
                    rescanned += usize::from(!trace.proved);
                    searches += 1;
                    let stored = &vectors[(i * 97 + k) % vectors.len()];
                    same(&exact, &flat, stored, k);
                }
            }
            for id in (step..600).step_by(5) {
                assert_eq!(exact.remove(id), flat.remove(id));
            }
        }
    }
    assert!(
        rescanned > 0 && rescanned < searches,
        "{rescanned} of {searches} rescanned"
    );
}
