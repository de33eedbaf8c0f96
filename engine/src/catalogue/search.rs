//! Portable Chinese search terms. Both backends store the same grams and
//! match them with the same plain SQL, so they give the same results; no
//! FTS5 or pg_trgm whose tokenisers differ.
//!
//! Text is lower-cased; runs of CJK (any non-ASCII letter) give every
//! character and every overlapping pair; runs of ASCII letters and digits give
//! the whole word. A query needs all its grams: its pairs, or for a single
//! character that character.

use std::collections::BTreeSet;

#[derive(PartialEq)]
enum Run {
    Cjk,
    Word,
}

fn runs(text: &str) -> Vec<(Run, Vec<char>)> {
    let mut out: Vec<(Run, Vec<char>)> = Vec::new();
    for c in text.to_lowercase().chars() {
        let kind = if c.is_ascii_alphanumeric() {
            Run::Word
        } else if !c.is_ascii() && c.is_alphanumeric() {
            Run::Cjk
        } else {
            out.push((Run::Word, Vec::new()));
            continue;
        };
        match out.last_mut() {
            Some((k, chars)) if *k == kind => chars.push(c),
            _ => out.push((kind, vec![c])),
        }
    }
    out.retain(|(_, chars)| !chars.is_empty());
    out
}

/// Every gram a text is found by.
pub fn index_grams(text: &str) -> BTreeSet<String> {
    let mut grams = BTreeSet::new();
    for (kind, chars) in runs(text) {
        match kind {
            Run::Word => {
                grams.insert(chars.iter().collect());
            }
            Run::Cjk => {
                for (i, c) in chars.iter().enumerate() {
                    grams.insert(c.to_string());
                    if let Some(next) = chars.get(i + 1) {
                        grams.insert([*c, *next].iter().collect());
                    }
                }
            }
        }
    }
    grams
}

/// The grams a product must hold to match a query; empty when the query has no text.
pub fn query_grams(query: &str) -> Vec<String> {
    let mut grams = BTreeSet::new();
    for (kind, chars) in runs(query) {
        match (kind, chars.len()) {
            (Run::Word, _) | (Run::Cjk, 1) => {
                grams.insert(chars.iter().collect::<String>());
            }
            (Run::Cjk, _) => {
                for pair in chars.windows(2) {
                    grams.insert(pair.iter().collect::<String>());
                }
            }
        }
    }
    grams.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_name_is_found_by_any_part_of_it() {
        let grams = index_grams("潜江清水小龙虾 Crayfish 3-4两");
        for q in ["小龙虾", "潜江", "虾", "CRAYFISH", "清水小龙虾", "3"] {
            assert!(
                query_grams(q).iter().all(|g| grams.contains(g)),
                "{q} not found"
            );
        }
        assert!(!query_grams("大龙虾").iter().all(|g| grams.contains(g)));
        assert!(query_grams("  ,. ").is_empty());
        assert_eq!(query_grams("小龙虾"), vec!["小龙", "龙虾"]);
    }
}
