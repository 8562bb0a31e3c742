//! Keeping the reports of huge plans readable: long runs of one kind of item (16,000
//! `write-file` actions, 8,000 new `.res` files, 12,000 allocations) are shown by their first
//! few and counted, and a markdown report is cut to what a pull-request comment holds, saying
//! what was left out. `--format json` and `--format sh` always carry everything.

use std::collections::{BTreeMap, BTreeSet};

/// A group with more items than this is folded (a pair's worth of one kind of change, as in
/// the example state, is shown whole).
pub const FOLD_OVER: usize = 50;
/// How many items of a folded group are still shown.
pub const FOLD_SHOWN: usize = 3;
/// GitHub's limit on a pull-request comment, in characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// One folded group: what its items are, how many were left out, how many there are and on
/// how many nodes.
#[derive(Debug, PartialEq, Eq)]
pub struct Group {
    pub what: String,
    pub hidden: usize,
    pub total: usize,
    pub nodes: usize,
}

impl Group {
    /// `… 16317 more write-file actions like these, on 64 nodes (16320 in all; ...)`.
    /// Items that belong to no node (allocations) leave the nodes out.
    pub fn line(&self, noun: &str, everything: &str) -> String {
        let nodes = match self.nodes {
            0 => String::new(),
            1 => ", on 1 node".to_string(),
            n => format!(", on {n} nodes"),
        };
        format!(
            "… {} more {} {noun} like these{nodes} ({} in all; {everything})",
            self.hidden, self.what, self.total
        )
    }
}

/// The items to show (in their order) and the groups folded: a group is the items with the
/// same `key`; one with more than [`FOLD_OVER`] items shows only its first [`FOLD_SHOWN`].
/// Groups come in the order of their first item; `node` is "" for items of no node.
pub fn fold<'a, T, K: Ord + std::fmt::Display>(
    items: &'a [T],
    key: impl Fn(&'a T) -> K,
    node: impl Fn(&'a T) -> &'a str,
) -> (Vec<&'a T>, Vec<Group>) {
    let keys: Vec<K> = items.iter().map(&key).collect();
    let mut counts: BTreeMap<&K, (usize, BTreeSet<&str>)> = BTreeMap::new();
    let mut order: Vec<&K> = Vec::new();
    for (k, item) in keys.iter().zip(items) {
        let entry = counts.entry(k).or_insert_with(|| {
            order.push(k);
            (0, BTreeSet::new())
        });
        entry.0 += 1;
        let n = node(item);
        if !n.is_empty() {
            entry.1.insert(n);
        }
    }
    let mut seen: BTreeMap<&K, usize> = BTreeMap::new();
    let mut shown = Vec::new();
    for (k, item) in keys.iter().zip(items) {
        let n = seen.entry(k).or_default();
        *n += 1;
        if counts[k].0 <= FOLD_OVER || *n <= FOLD_SHOWN {
            shown.push(item);
        }
    }
    let groups = order
        .into_iter()
        .filter_map(|k| {
            let (total, nodes) = &counts[k];
            (*total > FOLD_OVER).then(|| Group {
                what: k.to_string(),
                hidden: total - FOLD_SHOWN,
                total: *total,
                nodes: nodes.len(),
            })
        })
        .collect();
    (shown, groups)
}

/// A markdown report assembled part by part within [`COMMENT_LIMIT`]: each part has a
/// priority; parts are admitted item by item, most important part first, and laid out in their
/// own order. What did not fit is counted and named in a closing note.
#[derive(Default)]
pub struct Budget {
    parts: Vec<Part>,
}

struct Part {
    /// Lower is more important.
    priority: u8,
    /// What its items are, for the note (`actions`, `file diffs`).
    noun: &'static str,
    head: String,
    items: Vec<String>,
    tail: String,
}

/// Room kept for the note on what was cut.
const NOTE_ROOM: usize = 1024;

impl Budget {
    /// Adds a part: `head` and `tail` are shown when any item is, `items` as far as they fit.
    pub fn part(
        &mut self,
        priority: u8,
        noun: &'static str,
        head: String,
        items: Vec<String>,
        tail: String,
    ) {
        self.parts.push(Part {
            priority,
            noun,
            head,
            items,
            tail,
        });
    }

    /// Plain text always shown (a heading, a summary).
    pub fn text(&mut self, text: String) {
        self.part(0, "", text, Vec::new(), String::new());
    }

    /// The report: every part that fits (with `limit` in bytes, so also in characters), then
    /// a note of what was cut.
    pub fn finish(self, limit: usize, everything: &str) -> String {
        let fixed: usize = self
            .parts
            .iter()
            .filter(|p| p.items.is_empty())
            .map(|p| p.head.len() + p.tail.len())
            .sum();
        let mut used = fixed;
        let room = limit.saturating_sub(NOTE_ROOM);
        let mut admitted = vec![0usize; self.parts.len()];
        let mut order: Vec<usize> = (0..self.parts.len()).collect();
        order.sort_by_key(|i| self.parts[*i].priority);
        for i in order {
            let p = &self.parts[i];
            if p.items.is_empty() {
                continue;
            }
            let frame = p.head.len() + p.tail.len();
            let mut n = 0;
            let mut size = frame;
            for item in &p.items {
                if used + size + item.len() > room {
                    break;
                }
                size += item.len();
                n += 1;
            }
            if n > 0 {
                used += size;
                admitted[i] = n;
            }
        }
        let mut out = String::new();
        let mut cut: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        let mut nouns: Vec<&str> = Vec::new();
        for (p, n) in self.parts.iter().zip(&admitted) {
            if p.items.is_empty() {
                out.push_str(&p.head);
                out.push_str(&p.tail);
                continue;
            }
            if *n > 0 {
                out.push_str(&p.head);
                for item in &p.items[..*n] {
                    out.push_str(item);
                }
                out.push_str(&p.tail);
            }
            let e = cut.entry(p.noun).or_insert_with(|| {
                nouns.push(p.noun);
                (0, 0)
            });
            e.0 += p.items.len() - n;
            e.1 += p.items.len();
        }
        let cuts: Vec<String> = nouns
            .iter()
            .filter(|k| cut[**k].0 > 0)
            .map(|k| format!("{} of {} {k}", cut[*k].0, cut[*k].1))
            .collect();
        if !cuts.is_empty() {
            let note = format!(
                "\n---\n*Cut to fit a pull-request comment ({limit} characters): {} left out; {everything}.*\n",
                cuts.join(", ")
            );
            out.push_str(&note);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_groups_are_kept_whole_and_long_ones_show_their_first_items() {
        let mut items: Vec<(String, String)> = (0..FOLD_OVER + 5)
            .map(|i| ("a".to_string(), format!("n{}", i % 2)))
            .collect();
        items.insert(1, ("b".to_string(), "n0".to_string()));
        let (shown, groups) = fold(&items, |i| i.0.as_str(), |i| i.1.as_str());
        let kinds: Vec<&str> = shown.iter().map(|i| i.0.as_str()).collect();
        assert_eq!(kinds, ["a", "b", "a", "a"]);
        assert_eq!(
            groups,
            [Group {
                what: "a".into(),
                hidden: FOLD_OVER + 2,
                total: FOLD_OVER + 5,
                nodes: 2
            }]
        );
        let twenty: Vec<(String, String)> = (0..FOLD_OVER)
            .map(|_| ("a".to_string(), "n".to_string()))
            .collect();
        let (shown, groups) = fold(&twenty, |i| i.0.as_str(), |i| i.1.as_str());
        assert_eq!(shown.len(), FOLD_OVER);
        assert!(groups.is_empty());
    }

    #[test]
    fn a_budget_keeps_the_important_parts_and_says_what_it_cut() {
        let mut b = Budget::default();
        b.text("# head\n".into());
        b.part(
            3,
            "actions",
            "## actions\n".into(),
            (0..1000).map(|i| format!("- action {i}\n")).collect(),
            "\n".into(),
        );
        b.part(
            1,
            "blocked items",
            "## blocked\n".into(),
            vec!["- x is blocked\n".into()],
            "\n".into(),
        );
        let out = b.finish(4096, "`--format json` has everything");
        assert!(out.len() <= 4096, "{}", out.len());
        assert!(out.starts_with("# head\n## actions\n- action 0\n"), "{out}");
        assert!(out.contains("## blocked\n- x is blocked\n"), "{out}");
        assert!(out.contains("left out"), "{out}");
        assert!(out.contains("of 1000 actions"), "{out}");

        let mut small = Budget::default();
        small.text("# head\n".into());
        small.part(
            1,
            "actions",
            "## a\n".into(),
            vec!["- one\n".into()],
            "\n".into(),
        );
        assert_eq!(small.finish(4096, "x"), "# head\n## a\n- one\n\n");
    }
}
