//! Online log template miner in the spirit of Drain (He et al., 2017): a fixed-depth prefix
//! tree routes each masked line to a few candidate clusters, the most similar one absorbs it.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use foldhash::fast::RandomState;

use serde::{Deserialize, Serialize};

use super::mask::{MaskConfig, Masker, Token, WILDCARD};

/// Stable identifier of a cluster; never reused within one miner.
pub type ClusterId = u64;

/// Tuning and memory bounds of a [`TemplateMiner`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinerConfig {
    /// How many leading literal words (after the token count) route a line in the tree.
    pub depth: usize,
    /// Minimum similarity (fraction of the template's literal tokens the line repeats)
    /// for a line to join a cluster.
    pub sim_threshold: f64,
    /// Maximum children of a tree node; further distinct words share one `<*>` child.
    pub max_children: usize,
    /// Maximum number of clusters; the least recently used one is evicted beyond it.
    pub max_clusters: usize,
    /// Maximum clusters held by one tree node; its least recently used one is evicted beyond it.
    pub max_clusters_per_node: usize,
    /// Maximum sample lines kept per cluster.
    pub max_samples: usize,
    /// Maximum bytes held by the clusters' templates and samples (roughly: text plus a fixed
    /// cost per cluster and token); the least recently used clusters are evicted beyond it, so
    /// that long lines cannot make `max_clusters` clusters weigh gigabytes.
    pub max_bytes: usize,
    /// Limits of the tokenizer.
    pub mask: MaskConfig,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            depth: 2,
            sim_threshold: 0.7,
            max_children: 100,
            max_clusters: 10_000,
            max_clusters_per_node: 256,
            max_samples: 3,
            max_bytes: 64 << 20,
            mask: MaskConfig::default(),
        }
    }
}

/// A group of lines sharing one template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// Stable id.
    pub id: ClusterId,
    /// Template tokens; `None` is a variable (`<*>`).
    pub tokens: Vec<Option<Box<str>>>,
    /// Number of lines absorbed.
    pub count: u64,
    /// Caller-supplied time (ms) of the first line.
    pub first_seen: u64,
    /// Caller-supplied time (ms) of the latest line.
    pub last_seen: u64,
    /// The first few lines (at most `max_samples`), as given (truncated to `max_bytes`).
    pub samples: Vec<String>,
}

impl Cluster {
    /// The template as one string: tokens joined by spaces (none after a `key=`), variables
    /// as `<*>`.
    pub fn template(&self) -> String {
        let mut s = String::new();
        for t in &self.tokens {
            if !s.is_empty() && !s.ends_with('=') {
                s.push(' ');
            }
            s.push_str(t.as_deref().unwrap_or(WILDCARD));
        }
        s
    }
}

const NONE: u32 = u32::MAX;

/// A cluster and where the miner keeps it: a caller holding one finds the cluster again
/// without a lookup by id, and notices when it was evicted since (its slot then holds
/// another id, or nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterRef {
    /// The cluster's id.
    pub id: ClusterId,
    slot: u32,
}

/// Cluster storage slot with bookkeeping that is not part of the public record.
struct Slot {
    cluster: Cluster,
    /// Number of literal tokens in the template.
    literals: usize,
    /// Tree node holding this cluster.
    node: u32,
    /// Doubly linked LRU list (towards most recent / least recent).
    newer: u32,
    older: u32,
    /// Tick of the last use, for per-node eviction.
    tick: u64,
}

/// Prefix-tree node; any node may hold clusters.
#[derive(Default)]
struct Node {
    children: HashMap<Box<str>, u32, RandomState>,
    wild: Option<u32>,
    clusters: Vec<u32>,
    parent: u32,
    /// Key in the parent: `Some(word)`, or `None` for the parent's wildcard child.
    key: Option<Box<str>>,
    /// Token count this subtree is for.
    len: usize,
}

/// Online template miner with bounded memory.
pub struct TemplateMiner {
    cfg: MinerConfig,
    masker: Masker,
    slots: Vec<Option<Slot>>,
    free_slots: Vec<u32>,
    ids: HashMap<ClusterId, u32, RandomState>,
    nodes: Vec<Option<Node>>,
    free_nodes: Vec<u32>,
    roots: HashMap<usize, u32, RandomState>,
    lru_head: u32,
    lru_tail: u32,
    next_id: ClusterId,
    tick: u64,
    live: usize,
    /// What the live clusters weigh, by [`weight`].
    bytes: usize,
    buf: Vec<Token>,
    path: Vec<usize>,
    /// Masked token sequence (as a seeded 64-bit hash) → the cluster that last took it. A
    /// line masking to a sequence seen before goes straight to that cluster: it already
    /// matched every literal of the template there, and templates only ever generalise.
    seen: HashMap<u64, (u32, ClusterId), RandomState>,
    /// Seed of the sequence hashes; random per miner, so crafted input cannot aim collisions.
    seed: RandomState,
    /// Clusters evicted and not yet drained; `None` (nothing kept) unless `keep_evicted`.
    evicted: Option<Vec<Cluster>>,
    /// Whether the kept evicted clusters keep their samples.
    evicted_samples: bool,
}

/// Entries kept in the sequence cache per allowed cluster (it is emptied when full).
const SEEN_PER_CLUSTER: usize = 4;

/// Longest literal token that may serve as a routing key (tree keys are copies of tokens; the
/// longest word of that kind in the Loghub samples has 34 bytes).
const MAX_KEY: usize = 64;

/// Bytes counted for each cluster, token and sample beside their text (their allocations and
/// bookkeeping), for [`MinerConfig::max_bytes`].
const PER_CLUSTER: usize = 256;
const PER_ITEM: usize = 24;

/// What a cluster weighs against [`MinerConfig::max_bytes`].
fn weight(c: &Cluster) -> usize {
    let tokens: usize = c
        .tokens
        .iter()
        .map(|t| PER_ITEM + t.as_ref().map_or(0, |t| t.len()))
        .sum();
    let samples: usize = c.samples.iter().map(|s| PER_ITEM + s.len()).sum();
    PER_CLUSTER + tokens + samples
}

/// True when a literal token may serve as a routing key: letters and a little punctuation, at
/// most [`MAX_KEY`] bytes.
fn routable(s: &str) -> bool {
    s.len() <= MAX_KEY
        && s.bytes()
            .all(|b| b.is_ascii_alphabetic() || matches!(b, b'_' | b'-' | b':' | b'=' | b'\''))
}

impl TemplateMiner {
    /// Creates an empty miner (bounds below 1 are raised to 1).
    pub fn new(mut cfg: MinerConfig) -> Self {
        cfg.max_children = cfg.max_children.max(1);
        cfg.max_clusters = cfg.max_clusters.clamp(1, NONE as usize - 1);
        cfg.max_clusters_per_node = cfg.max_clusters_per_node.max(1);
        TemplateMiner {
            masker: Masker::new(cfg.mask.clone()),
            cfg,
            slots: Vec::new(),
            free_slots: Vec::new(),
            ids: HashMap::default(),
            nodes: Vec::new(),
            free_nodes: Vec::new(),
            roots: HashMap::default(),
            lru_head: NONE,
            lru_tail: NONE,
            next_id: 0,
            tick: 0,
            live: 0,
            bytes: 0,
            buf: Vec::new(),
            path: Vec::new(),
            seen: HashMap::default(),
            seed: RandomState::default(),
            evicted: None,
            evicted_samples: true,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &MinerConfig {
        &self.cfg
    }

    /// Number of live clusters.
    pub fn len(&self) -> usize {
        self.live
    }

    /// What the live clusters' templates and samples weigh (see [`MinerConfig::max_bytes`]).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True when no cluster exists.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The cluster with this id, unless it was evicted.
    pub fn cluster(&self, id: ClusterId) -> Option<&Cluster> {
        let slot = *self.ids.get(&id)?;
        self.slot(slot).map(|s| &s.cluster)
    }

    /// All live clusters, in no particular order.
    pub fn clusters(&self) -> impl Iterator<Item = &Cluster> + '_ {
        self.slots.iter().flatten().map(|s| &s.cluster)
    }

    fn slot(&self, i: u32) -> Option<&Slot> {
        self.slots.get(i as usize).and_then(Option::as_ref)
    }

    fn slot_mut(&mut self, i: u32) -> Option<&mut Slot> {
        self.slots.get_mut(i as usize).and_then(Option::as_mut)
    }

    fn node(&self, i: u32) -> Option<&Node> {
        self.nodes.get(i as usize).and_then(Option::as_ref)
    }

    fn node_mut(&mut self, i: u32) -> Option<&mut Node> {
        self.nodes.get_mut(i as usize).and_then(Option::as_mut)
    }

    /// Adds one message seen at `now_ms`; returns its cluster and whether that cluster is new.
    pub fn add(&mut self, message: &str, now_ms: u64) -> (ClusterId, bool) {
        let (at, new) = self.add_located(message, now_ms);
        (at.id, new)
    }

    /// [`TemplateMiner::add`], returning where the cluster is kept, for
    /// [`TemplateMiner::add_repeat`].
    pub fn add_located(&mut self, message: &str, now_ms: u64) -> (ClusterRef, bool) {
        let mut buf = std::mem::take(&mut self.buf);
        self.masker.mask(message, &mut buf);
        let result = self.add_masked(message, &buf, now_ms);
        self.buf = buf;
        result
    }

    /// [`TemplateMiner::add_located`] for a message masked already (possibly on another
    /// thread): `tokens` must be what a [`Masker`] with this miner's `mask` limits made of it.
    pub fn add_masked(
        &mut self,
        message: &str,
        tokens: &[Token],
        now_ms: u64,
    ) -> (ClusterRef, bool) {
        let src = self.masker.truncate(message);
        let sig = self.signature(tokens, src);
        match self.seen_cluster(sig, tokens, src) {
            Some(slot) => {
                self.absorb(slot, None, message, now_ms);
                let id = self.slot(slot).map_or(0, |s| s.cluster.id);
                (ClusterRef { id, slot }, false)
            }
            None => self.route(tokens, src, message, now_ms, sig),
        }
    }

    /// Counts `message` once more into the cluster `at`, for a caller that knows the message is
    /// an exact repeat of one this cluster took (its template still fits: templates only ever
    /// generalise). False, and nothing counted, when the cluster has been evicted since.
    pub fn add_repeat(&mut self, at: ClusterRef, message: &str, now_ms: u64) -> bool {
        if self.slot(at.slot).is_none_or(|s| s.cluster.id != at.id) {
            return false;
        }
        self.absorb(at.slot, None, message, now_ms);
        true
    }

    /// The tree search and similarity match for a sequence not in the cache.
    fn route(
        &mut self,
        buf: &[Token],
        src: &str,
        message: &str,
        now_ms: u64,
        sig: u64,
    ) -> (ClusterRef, bool) {
        // Routing words: the first `depth` literal tokens that look like plain words.
        let mut path = std::mem::take(&mut self.path);
        path.clear();
        for (i, t) in buf.iter().enumerate() {
            if path.len() >= self.cfg.depth {
                break;
            }
            if matches!(t, Token::Lit { .. }) && routable(t.text(src)) {
                path.push(i);
            }
        }
        let found = self.search(buf, &path, src);
        let best = found.and_then(|node| self.best_match(node, buf, src));
        let (slot, result) = match best {
            Some(slot) => {
                self.absorb(slot, Some((buf, src)), message, now_ms);
                let id = self.slot(slot).map_or(0, |s| s.cluster.id);
                (slot, (id, false))
            }
            None => {
                let id = self.create(buf, &path, src, message, now_ms);
                (self.ids.get(&id).copied().unwrap_or(NONE), (id, true))
            }
        };
        self.path = path;
        if self.seen.len()
            >= self
                .cfg
                .max_clusters
                .saturating_mul(SEEN_PER_CLUSTER)
                .max(1024)
        {
            self.seen.clear();
        }
        self.seen.insert(sig, (slot, result.0));
        (ClusterRef { id: result.0, slot }, result.1)
    }

    /// The seeded hash of a masked token sequence.
    fn signature(&self, toks: &[Token], src: &str) -> u64 {
        let mut h = self.seed.build_hasher();
        h.write_usize(toks.len());
        for t in toks {
            match t {
                Token::Wild => h.write_u8(0xff),
                Token::Lit { .. } => {
                    h.write(t.bytes(src.as_bytes()));
                    h.write_u8(0);
                }
            }
        }
        h.finish()
    }

    /// The cached cluster for this sequence, when it is still alive and its template still
    /// matches every token (which also rules out a hash collision).
    fn seen_cluster(&self, sig: u64, toks: &[Token], src: &str) -> Option<u32> {
        let &(slot, id) = self.seen.get(&sig)?;
        let s = self.slot(slot).filter(|s| s.cluster.id == id)?;
        let tmpl = &s.cluster.tokens;
        let same = tmpl.len() == toks.len()
            && tmpl.iter().zip(toks).all(|(t, l)| match (t, l) {
                (None, _) => true,
                (Some(t), Token::Lit { .. }) => t.as_bytes() == l.bytes(src.as_bytes()),
                (Some(_), Token::Wild) => false,
            });
        same.then_some(slot)
    }

    /// Follows the tree for a line; `None` when no node for it exists yet.
    fn search(&self, toks: &[Token], path: &[usize], src: &str) -> Option<u32> {
        let mut cur = *self.roots.get(&toks.len())?;
        for &p in path {
            let node = self.node(cur)?;
            let key = toks.get(p)?.text(src);
            cur = match node.children.get(key) {
                Some(&c) => c,
                None => node.wild?,
            };
        }
        Some(cur)
    }

    /// The most similar cluster in `node` at or above the threshold.
    fn best_match(&self, node: u32, toks: &[Token], src: &str) -> Option<u32> {
        let node = self.node(node)?;
        let mut best: Option<(f64, usize, u32)> = None;
        for &ci in &node.clusters {
            let Some(slot) = self.slot(ci) else { continue };
            let tmpl = &slot.cluster.tokens;
            if tmpl.len() != toks.len() {
                continue;
            }
            let (mut eq, mut line_lits) = (0usize, 0usize);
            for (t, l) in tmpl.iter().zip(toks) {
                if let Token::Lit { .. } = l {
                    line_lits += 1;
                    if t.as_deref().map(str::as_bytes) == Some(l.bytes(src.as_bytes())) {
                        eq += 1;
                    }
                }
            }
            // Positions the template already generalized do not count; an all-variable
            // template only takes all-variable lines.
            let sim = if slot.literals > 0 {
                eq as f64 / slot.literals as f64
            } else if line_lits == 0 {
                1.0
            } else {
                0.0
            };
            let params = tmpl.len() - slot.literals;
            let better = match best {
                None => true,
                Some((bs, bp, _)) => sim > bs || (sim == bs && params > bp),
            };
            if better {
                best = Some((sim, params, ci));
            }
        }
        best.filter(|b| b.0 >= self.cfg.sim_threshold).map(|b| b.2)
    }

    /// Merges a line into a cluster: with its tokens given, those differing from the template
    /// become variables (a cached sequence already fits the template, so it passes none).
    fn absorb(&mut self, slot: u32, tokens: Option<(&[Token], &str)>, line: &str, now_ms: u64) {
        self.tick += 1;
        let tick = self.tick;
        let max_samples = self.cfg.max_samples;
        let Some(s) = self.slot_mut(slot) else {
            return;
        };
        s.cluster.count += 1;
        s.cluster.last_seen = s.cluster.last_seen.max(now_ms);
        s.tick = tick;
        let wants_sample = s.cluster.samples.len() < max_samples;
        // Most recent first, so that a budget eviction for its new sample spares it and starts
        // from the least recently used cluster.
        if self.lru_head != slot {
            self.lru_unlink(slot);
            self.lru_push_front(slot);
        }
        if let Some((toks, src)) = tokens {
            self.generalize(slot, toks, src);
        }
        if wants_sample {
            self.add_sample(slot, line);
        }
    }

    /// Turns the template tokens of cluster `slot` that differ from the line's into variables.
    fn generalize(&mut self, slot: u32, toks: &[Token], src: &str) {
        let Some(s) = self.slots.get_mut(slot as usize).and_then(Option::as_mut) else {
            return;
        };
        let (mut lits, mut freed) = (0, 0);
        for (t, l) in s.cluster.tokens.iter_mut().zip(toks) {
            let same = match (&*t, l) {
                (Some(t), Token::Lit { .. }) => t.as_bytes() == l.bytes(src.as_bytes()),
                _ => false,
            };
            if same {
                lits += 1;
            } else if let Some(old) = t.take() {
                freed += old.len();
            }
        }
        s.literals = lits;
        self.bytes = self.bytes.saturating_sub(freed);
    }

    /// Keeps `line` (cut to `max_bytes`) as a sample of cluster `slot`, within the byte budget.
    /// Out of line: only a cluster's first few lines come here.
    #[cold]
    fn add_sample(&mut self, slot: u32, line: &str) {
        let line = self.masker.truncate(line);
        let Some(s) = self.slots.get_mut(slot as usize).and_then(Option::as_mut) else {
            return;
        };
        s.cluster.samples.push(line.to_owned());
        self.bytes += line.len() + PER_ITEM;
        self.evict_over_budget(slot);
    }

    /// Creates a cluster for a line, evicting as needed, and files it in the tree.
    fn create(
        &mut self,
        toks: &[Token],
        path: &[usize],
        src: &str,
        line: &str,
        now_ms: u64,
    ) -> ClusterId {
        if self.live >= self.cfg.max_clusters {
            let tail = self.lru_tail;
            self.evict(tail);
        }
        let node = self.ensure_path(toks, path, src);
        let full = self
            .node(node)
            .map(|n| n.clusters.len() >= self.cfg.max_clusters_per_node)
            .unwrap_or(false);
        if full {
            let victim = self.node(node).and_then(|n| {
                n.clusters
                    .iter()
                    .copied()
                    .min_by_key(|&c| self.slot(c).map_or(0, |s| s.tick))
            });
            if let Some(v) = victim {
                self.evict(v);
            }
        }
        // Eviction may have pruned the node; walk the path again.
        let node = self.ensure_path(toks, path, src);
        let tokens: Vec<Option<Box<str>>> = toks
            .iter()
            .map(|t| match t {
                Token::Wild => None,
                Token::Lit { .. } => Some(t.text(src).into()),
            })
            .collect();
        let literals = tokens.iter().filter(|t| t.is_some()).count();
        let id = self.next_id;
        self.next_id += 1;
        self.tick += 1;
        let mut samples = Vec::new();
        if self.cfg.max_samples > 0 {
            samples.push(self.masker.truncate(line).to_owned());
        }
        let cluster = Cluster {
            id,
            tokens,
            count: 1,
            first_seen: now_ms,
            last_seen: now_ms,
            samples,
        };
        self.bytes += weight(&cluster);
        let slot = Slot {
            cluster,
            literals,
            node,
            newer: NONE,
            older: NONE,
            tick: self.tick,
        };
        let si = match self.free_slots.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(n) = self.node_mut(node) {
            n.clusters.push(si);
        }
        self.ids.insert(id, si);
        self.lru_push_front(si);
        self.live += 1;
        self.evict_over_budget(si);
        id
    }

    /// Evicts least recently used clusters other than `keep` while the clusters weigh more
    /// than `max_bytes`.
    fn evict_over_budget(&mut self, keep: u32) {
        while self.bytes > self.cfg.max_bytes && self.lru_tail != keep && self.lru_tail != NONE {
            self.evict(self.lru_tail);
        }
    }

    fn alloc_node(&mut self, node: Node) -> u32 {
        match self.free_nodes.pop() {
            Some(i) => {
                self.nodes[i as usize] = Some(node);
                i
            }
            None => {
                self.nodes.push(Some(node));
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// Walks the tree for a line, creating missing nodes; returns the final node.
    fn ensure_path(&mut self, toks: &[Token], path: &[usize], src: &str) -> u32 {
        let len = toks.len();
        let mut cur = match self.roots.get(&len) {
            Some(&r) => r,
            None => {
                let r = self.alloc_node(Node {
                    parent: NONE,
                    len,
                    ..Node::default()
                });
                self.roots.insert(len, r);
                r
            }
        };
        for &p in path {
            let key = toks.get(p).map_or("", |t| t.text(src));
            let max_children = self.cfg.max_children;
            let Some(node) = self.node(cur) else { break };
            let next = match node.children.get(key) {
                Some(&c) => Some(c),
                None if node.children.len() >= max_children => node.wild,
                None => None,
            };
            let to_wild = node.children.len() >= max_children;
            cur = match next {
                Some(c) => c,
                None => {
                    let child = self.alloc_node(Node {
                        parent: cur,
                        key: if to_wild { None } else { Some(key.into()) },
                        len,
                        ..Node::default()
                    });
                    if let Some(n) = self.node_mut(cur) {
                        if to_wild {
                            n.wild = Some(child);
                        } else {
                            n.children.insert(key.into(), child);
                        }
                    }
                    child
                }
            };
        }
        cur
    }

    /// Removes a cluster and prunes tree nodes left empty.
    fn evict(&mut self, slot: u32) {
        let Some(s) = self.slot(slot) else { return };
        let (id, node) = (s.cluster.id, s.node);
        self.lru_unlink(slot);
        let removed = self.slots[slot as usize].take();
        if let Some(s) = &removed {
            self.bytes = self.bytes.saturating_sub(weight(&s.cluster));
        }
        if let (Some(kept), Some(mut s)) = (&mut self.evicted, removed) {
            if !self.evicted_samples {
                s.cluster.samples = Vec::new();
            }
            kept.push(s.cluster);
        }
        self.free_slots.push(slot);
        self.ids.remove(&id);
        self.live -= 1;
        if let Some(n) = self.node_mut(node) {
            n.clusters.retain(|&c| c != slot);
        }
        let mut cur = node;
        while let Some(n) = self.node(cur) {
            if !n.clusters.is_empty() || !n.children.is_empty() || n.wild.is_some() {
                break;
            }
            let (parent, len) = (n.parent, n.len);
            let key = self.node_mut(cur).and_then(|n| n.key.take());
            self.nodes[cur as usize] = None;
            self.free_nodes.push(cur);
            if parent == NONE {
                self.roots.remove(&len);
                break;
            }
            if let Some(p) = self.node_mut(parent) {
                match key {
                    Some(k) => {
                        p.children.remove(&k);
                    }
                    None => p.wild = None,
                }
            }
            cur = parent;
        }
    }

    fn lru_unlink(&mut self, i: u32) {
        let Some(s) = self.slot(i) else { return };
        let (newer, older) = (s.newer, s.older);
        match self.slot_mut(newer) {
            Some(n) => n.older = older,
            None => self.lru_head = older,
        }
        match self.slot_mut(older) {
            Some(o) => o.newer = newer,
            None => self.lru_tail = newer,
        }
        if let Some(s) = self.slot_mut(i) {
            s.newer = NONE;
            s.older = NONE;
        }
    }

    fn lru_push_front(&mut self, i: u32) {
        let head = self.lru_head;
        if let Some(s) = self.slot_mut(i) {
            s.newer = NONE;
            s.older = head;
        }
        match self.slot_mut(head) {
            Some(h) => h.newer = i,
            None => self.lru_tail = i,
        }
        self.lru_head = i;
    }
}

impl TemplateMiner {
    /// From now on keeps every evicted cluster (LRU or per node) until [`Self::drain_evicted`]:
    /// for a caller that saves clusters and must not lose lines it has not saved yet. Off by
    /// default (an evicted cluster is dropped).
    pub fn keep_evicted(&mut self) {
        self.evicted.get_or_insert_with(Vec::new);
    }

    /// [`Self::keep_evicted`] without the evicted clusters' samples: for a caller that only
    /// needs their templates, at a fraction of the memory.
    pub fn keep_evicted_templates(&mut self) {
        self.keep_evicted();
        self.evicted_samples = false;
    }

    /// The clusters evicted since the last drain, in eviction order (none unless
    /// [`Self::keep_evicted`]).
    pub fn drain_evicted(&mut self) -> impl Iterator<Item = Cluster> + '_ {
        self.evicted.iter_mut().flat_map(|kept| kept.drain(..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A word of letters only for `n` (so nothing in it is masked).
    fn word(mut n: usize) -> String {
        let mut w = String::from("w");
        loop {
            w.push(char::from(b'a' + (n % 26) as u8));
            n /= 26;
            if n == 0 {
                return w;
            }
        }
    }

    #[test]
    fn the_byte_budget_is_kept_exactly_on_every_path() {
        const BUDGET: usize = 16 * 1024;
        let mut m = TemplateMiner::new(MinerConfig {
            max_bytes: BUDGET,
            max_clusters: 30,
            ..MinerConfig::default()
        });
        let held = |m: &TemplateMiner| m.clusters().map(weight).sum::<usize>();
        let (mut evicted, mut seen) = (0, std::collections::HashSet::new());
        // Five hot families (they gather samples, and their templates generalise: the third
        // word varies) between forty cold ones that cycle (evicted by count and by bytes).
        for round in 0..5 {
            for i in 0..80 {
                for family in [i % 5, 5 + i % 40] {
                    let line = format!(
                        "{} event {} state {}",
                        word(family),
                        word(round * 7 + i % 3),
                        "z".repeat(100 + (family * 37) % 400)
                    );
                    let (id, new) = m.add(&line, (round * 80 + i) as u64);
                    if new {
                        seen.insert(id);
                    }
                    assert!(m.cluster(id).is_some(), "the line's own cluster is live");
                    assert_eq!(m.bytes(), held(&m), "round {round}, line {i}");
                    assert!(m.bytes() <= BUDGET, "{} bytes", m.bytes());
                }
            }
            evicted = seen.len() - m.len();
        }
        assert!(evicted > 100, "{evicted} evictions");
        assert!(m.clusters().any(|c| c.samples.len() == 3));
        assert!(m.clusters().any(|c| c.tokens.iter().any(Option::is_none)));
    }

    #[test]
    fn groups_and_generalizes() {
        let mut m = TemplateMiner::new(MinerConfig::default());
        let (a, new_a) = m.add("Invalid user webmaster from 173.234.31.186", 1);
        let (b, new_b) = m.add("Invalid user test from 10.0.0.1", 5);
        assert!(new_a && !new_b);
        assert_eq!(a, b);
        let c = m.cluster(a).map(Cluster::template);
        assert_eq!(c.as_deref(), Some("Invalid user <*> from <*>"));
        let (k, _) = m.add("acquire lock=233570404, flags=0x1 ok", 5);
        let t = m.cluster(k).map(Cluster::template);
        assert_eq!(t.as_deref(), Some("acquire lock=<*> flags=<*> ok"));
        let (d, _) = m.add("session opened for user root", 6);
        assert_ne!(a, d);
        assert_eq!(m.len(), 3);
        let cl = m.cluster(a).expect("cluster exists");
        assert_eq!((cl.count, cl.first_seen, cl.last_seen), (2, 1, 5));
        assert_eq!(cl.samples.len(), 2);
    }

    #[test]
    fn tree_stays_bounded_under_unique_lines() {
        let cfg = MinerConfig {
            max_clusters: 50,
            max_children: 8,
            max_clusters_per_node: 4,
            ..MinerConfig::default()
        };
        let depth = cfg.depth;
        let mut m = TemplateMiner::new(cfg);
        let words = ["alpha", "beta", "gamma", "delta", "kappa", "sigma", "omega"];
        for i in 0..20_000usize {
            // Unique literal words (letters only) at every routing position.
            let w = |k: usize| {
                let mut s = String::from(words[(i / 7 + k) % words.len()]);
                let mut n = i * 31 + k;
                while n > 0 {
                    s.push(char::from(b'a' + (n % 26) as u8));
                    n /= 26;
                }
                s
            };
            let line = format!("{} {} {} tail", w(0), w(1), w(2));
            m.add(&line, i as u64);
            assert!(m.len() <= 50);
        }
        let live_nodes = m.nodes.iter().flatten().count();
        assert!(live_nodes <= 50 * (depth + 1), "{live_nodes} nodes");
        assert!(m.nodes.iter().flatten().all(|n| n.children.len() <= 8));
        assert_eq!(m.ids.len(), m.len());
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut m = TemplateMiner::new(MinerConfig {
            max_clusters: 2,
            ..MinerConfig::default()
        });
        let (a, _) = m.add("alpha beta gamma", 0);
        let (b, _) = m.add("delta epsilon", 1);
        m.add("alpha beta gamma", 2);
        let (c, _) = m.add("zeta eta theta iota", 3);
        assert_eq!(m.len(), 2);
        assert!(m.cluster(a).is_some());
        assert!(m.cluster(b).is_none());
        assert!(m.cluster(c).is_some());
        assert_eq!(m.clusters().count(), 2);
    }

    #[test]
    fn evicted_clusters_are_handed_back_when_asked() {
        let cfg = MinerConfig {
            max_clusters: 1,
            ..MinerConfig::default()
        };
        let mut dropping = TemplateMiner::new(cfg.clone());
        dropping.add("alpha beta gamma", 0);
        dropping.add("delta epsilon", 1);
        assert_eq!(dropping.drain_evicted().count(), 0);
        let mut m = TemplateMiner::new(cfg);
        m.keep_evicted();
        let (a, _) = m.add("alpha beta gamma", 0);
        m.add("alpha beta gamma", 1);
        m.add("delta epsilon", 2);
        let evicted: Vec<Cluster> = m.drain_evicted().collect();
        assert_eq!(evicted.len(), 1);
        assert_eq!((evicted[0].id, evicted[0].count), (a, 2));
        assert_eq!(evicted[0].template(), "alpha beta gamma");
        assert_eq!(m.drain_evicted().count(), 0, "drained once");
    }
}
