//! The transformer's one-token step on the CPU, without a tensor per operation: the weights
//! are copied once out of the candle model into plain row-major matrices, the sliding
//! window's keys and values live in ring buffers, and every intermediate has a buffer
//! allocated once (RustFFT's way: plan once, reuse buffers). Sampling spends its time on
//! one pass over the weights per frame instead of on a hundred small tensor allocations;
//! the result is what [`Transformer::step`] computes (checked in the tests below).

use super::gain_cache::GainKey;
use super::transformer::{Transformer, TransformerConfig};
use candle_core::{Result, Tensor};
use half::bf16;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// How the plain step holds its matrices. Sampling is bound by reading the weights once per
/// token, so halving them nearly halves its cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// As trained.
    F32,
    /// bfloat16: f32's upper 16 bits (8 significant bits, f32's range); products are
    /// summed in f32. What the samplers use.
    Bf16,
}

enum Matrix {
    F32(Vec<f32>),
    Bf16(Vec<u16>),
}

/// `y = W·x + b` for a `[n_out, n_in]` row-major `W` (candle's `Linear` layout).
struct Dense {
    w: Matrix,
    b: Vec<f32>,
    n_in: usize,
}

/// A layer norm's scale and shift (eps 1e-5, as `model::transformer` builds them).
struct Norm {
    w: Vec<f32>,
    b: Vec<f32>,
}

struct BlockWeights {
    ln1: Norm,
    qkv: Dense,
    proj: Dense,
    ln2: Norm,
    ff1: Dense,
    ff2: Dense,
}

/// A trained transformer's weights as plain arrays, shared by every stream sampling it.
pub struct StepWeights {
    cfg: TransformerConfig,
    start: Vec<f32>,
    input: Dense,
    blocks: Vec<BlockWeights>,
    ln_f: Norm,
    head: Dense,
    /// A codebook's centres (`k × n_features`) and the spread drawn around them
    /// (`n_features`: `RESIDUAL_SHARE` of the training residual's).
    codebook: Option<(Vec<f32>, Vec<f32>)>,
    /// Rotary tables `[context, head_dim / 2]`, as the candle model holds them.
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// The same tables transposed, `[head_dim / 2, context]`: one rotation angle for every
    /// window position in a row, as [`Head`] reads them.
    cos_t: Vec<f32>,
    sin_t: Vec<f32>,
}

fn values(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

impl Dense {
    fn of(l: &candle_nn::Linear, precision: Precision) -> Result<Self> {
        let (_, n_in) = l.weight().dims2()?;
        let b = match l.bias() {
            Some(b) => values(b)?,
            None => vec![0.0; l.weight().dim(0)?],
        };
        let w = values(l.weight())?;
        let w = match precision {
            Precision::F32 => Matrix::F32(w),
            Precision::Bf16 => {
                Matrix::Bf16(w.into_iter().map(|v| bf16::from_f32(v).to_bits()).collect())
            }
        };
        Ok(Dense { w, b, n_in })
    }

    fn n_out(&self) -> usize {
        self.b.len()
    }

    /// `y = W·x + b` (`y` holds `n_out` values), in 256-bit vectors where the CPU has
    /// AVX2 (nearly every x86-64 since 2013), else in the build's baseline SIMD. Both sum
    /// the same products in the same order (independent lanes, no fused multiply-add), so a
    /// seed streams the same samples on either.
    fn apply(&self, x: &[f32], y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked on the line above.
            return unsafe { self.apply_avx2(x, y) };
        }
        self.apply_baseline(x, y)
    }

    /// [`Dense::apply`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn apply_avx2(&self, x: &[f32], y: &mut [f32]) {
        self.apply_baseline(x, y)
    }

    #[inline(always)]
    fn apply_baseline(&self, x: &[f32], y: &mut [f32]) {
        match &self.w {
            Matrix::F32(w) => rows(w, self.n_in, &self.b, x, y, |v| v),
            Matrix::Bf16(w) => rows(w, self.n_in, &self.b, x, y, |v| {
                f32::from_bits(u32::from(v) << 16)
            }),
        }
    }
}

impl Norm {
    fn of(n: &candle_nn::LayerNorm) -> Result<Self> {
        let w = values(n.weight())?;
        let b = match n.bias() {
            Some(b) => values(b)?,
            None => vec![0.0; w.len()],
        };
        Ok(Norm { w, b })
    }

    /// Normalises `x` to zero mean and unit variance, then scales and shifts, into `y`.
    fn apply(&self, x: &[f32], y: &mut [f32]) {
        let n = x.len() as f32;
        let mean = x.iter().sum::<f32>() / n;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + 1e-5).sqrt();
        for (((o, v), w), b) in y.iter_mut().zip(x).zip(&self.w).zip(&self.b) {
            *o = (v - mean) * inv * w + b;
        }
    }
}

/// Independent partial sums of a dot product: enough for the compiler to keep several
/// SIMD registers busy at once.
const LANES: usize = 32;

/// `y = W·x + b` row by row, each weight widened to f32 by `wide`.
#[inline(always)]
fn rows<T: Copy>(
    w: &[T],
    n_in: usize,
    b: &[f32],
    x: &[f32],
    y: &mut [f32],
    wide: impl Fn(T) -> f32 + Copy,
) {
    for ((row, bias), out) in w.chunks_exact(n_in).zip(b).zip(y) {
        *out = bias + dot(row, x, wide);
    }
}

/// Dot product of weights (widened by `wide`) with f32 values.
#[inline(always)]
fn dot<T: Copy>(a: &[T], b: &[f32], wide: impl Fn(T) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| wide(*x) * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += wide(x[i]) * y[i];
        }
    }
    // Fold the lanes onto eight (vector adds) before the last horizontal sum.
    for i in 0..8 {
        acc[i] += acc[i + 8] + acc[i + 16] + acc[i + 24];
    }
    acc[..8].iter().sum::<f32>() + tail
}

/// GELU, tanh approximation (candle's `Tensor::gelu`).
fn gelu(v: f32) -> f32 {
    const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
    0.5 * v * (1.0 + (SQRT_TWO_OVER_PI * v * (1.0 + 0.044_715 * v * v)).tanh())
}

impl StepWeights {
    /// Copies the weights out of `model` (on any device), its matrices at `precision`.
    pub fn new(model: &Transformer, precision: Precision) -> Result<Self> {
        let p = model.parts();
        let blocks = p
            .blocks
            .iter()
            .map(|b| {
                Ok(BlockWeights {
                    ln1: Norm::of(&b.ln1)?,
                    qkv: Dense::of(&b.qkv, precision)?,
                    proj: Dense::of(&b.proj, precision)?,
                    ln2: Norm::of(&b.ln2)?,
                    ff1: Dense::of(&b.ff1, precision)?,
                    ff2: Dense::of(&b.ff2, precision)?,
                })
            })
            .collect::<Result<_>>()?;
        let (cos, sin) = (values(p.cos)?, values(p.sin)?);
        let context = model.config().context;
        Ok(StepWeights {
            cfg: model.config().clone(),
            start: values(p.start)?,
            input: Dense::of(p.input, precision)?,
            blocks,
            ln_f: Norm::of(p.ln_f)?,
            head: Dense::of(p.head, precision)?,
            codebook: match p.codebook {
                Some((c, s)) => {
                    let share = super::codebook::RESIDUAL_SHARE;
                    Some((values(c)?, values(s)?.iter().map(|v| v * share).collect()))
                }
                None => None,
            },
            cos_t: transposed(&cos, context),
            sin_t: transposed(&sin, context),
            cos,
            sin,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TransformerConfig {
        &self.cfg
    }

    /// Mean and standard deviation of component `k` of `next`: a codebook's centre and
    /// spread, else the mixture's own.
    pub fn component<'a>(&'a self, next: &'a NextToken, k: usize) -> (&'a [f32], &'a [f32]) {
        let f = self.cfg.n_features;
        match &self.codebook {
            Some((centres, spread)) => (&centres[k * f..(k + 1) * f], spread),
            None => (
                &next.mean[k * f..(k + 1) * f],
                &next.std[k * f..(k + 1) * f],
            ),
        }
    }
}

/// The weights of the checkpoint `key` names, shared with every other sampler of it in this
/// process that is still alive, else made by `load` (and shared from then on). A stream
/// scenario or `generate --count` with one checkpoint then holds one copy of the weights
/// (one read per step for all of them from the same cache lines), and memory returns when
/// the last sampler goes.
pub fn shared(
    key: &GainKey,
    load: impl FnOnce() -> crate::Result<StepWeights>,
) -> crate::Result<Arc<StepWeights>> {
    static LIVE: OnceLock<Mutex<HashMap<GainKey, Weak<StepWeights>>>> = OnceLock::new();
    let live = LIVE.get_or_init(Default::default);
    if let Some(w) = live.lock().ok().and_then(|m| m.get(key)?.upgrade()) {
        return Ok(w);
    }
    let w = Arc::new(load()?);
    if let Ok(mut m) = live.lock() {
        m.retain(|_, w| w.strong_count() > 0);
        m.insert(key.clone(), Arc::downgrade(&w));
    }
    Ok(w)
}

/// The next token's distribution after a step: a mixture of diagonal Gaussians (whose
/// components, for a codebook model, are the codebook's: see [`StepWeights::component`]).
#[derive(Debug, Clone, Default)]
pub struct NextToken {
    /// Component means, `mixture × n_features` (empty with a codebook).
    pub mean: Vec<f32>,
    /// Component standard deviations (log-std clamped to [-5, 3]), shaped as `mean`.
    pub std: Vec<f32>,
    /// Component weights, summing to 1.
    pub weight: Vec<f32>,
}

/// One sequence being sampled: the sliding window's keys and values per block (unrotated,
/// as the candle cache holds them) and the scratch buffers of a step.
pub struct Stepper {
    w: Arc<StepWeights>,
    /// Per block, the keys transposed (`[d_model, context]`: each key value's slots side by
    /// side, as [`Head`] reads them), then the values (`[context, d_model]`):
    /// slot 0 is the start token's, slots 1.. a ring of the frames after it.
    kv: Vec<(Vec<f32>, Vec<f32>)>,
    /// Positions held, the start token included (at most `context`).
    len: usize,
    /// Ring index (0-based among the frame slots) of the oldest frame held.
    oldest: usize,
    h: Vec<f32>,
    a: Vec<f32>,
    qkv: Vec<f32>,
    att: Vec<f32>,
    y: Vec<f32>,
    ff: Vec<f32>,
    out: Vec<f32>,
}

impl Stepper {
    /// An empty window over `w` (feed the start token first: `step(None, …)`).
    pub fn new(w: Arc<StepWeights>) -> Self {
        let c = &w.cfg;
        let d = c.d_model;
        let slots = vec![(vec![0.0; c.context * d], vec![0.0; c.context * d]); c.n_layers];
        let out = vec![0.0; w.head.n_out()];
        Stepper {
            kv: slots,
            len: 0,
            oldest: 0,
            h: vec![0.0; d],
            a: vec![0.0; d],
            qkv: vec![0.0; 3 * d],
            att: vec![0.0; c.context],
            y: vec![0.0; d],
            ff: vec![0.0; c.d_ff],
            out,
            w,
        }
    }

    /// A fresh, empty window over the same weights.
    pub fn restarted(&self) -> Self {
        Self::new(Arc::clone(&self.w))
    }

    /// The weights stepped through.
    pub fn weights(&self) -> &StepWeights {
        &self.w
    }

    /// Positions in the window now, the start token included (at most `context`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Feeds one token (`n_features` normalised values), or the start token when `token`
    /// is `None`, and writes the distribution of the token after it into `next`. Past
    /// `context` positions the oldest frame after the start token drops out.
    pub fn step(&mut self, token: Option<&[f32]>, next: &mut NextToken) {
        let w = Arc::clone(&self.w);
        match token {
            None => self.h.copy_from_slice(&w.start),
            Some(t) => w.input.apply(t, &mut self.h),
        }
        let slot = self.admit();
        for (i, blk) in w.blocks.iter().enumerate() {
            self.block(&w, blk, i, slot);
        }
        w.ln_f.apply(&self.h, &mut self.a);
        w.head.apply(&self.a, &mut self.out);
        self.split(next);
    }

    /// Makes room for the new position and returns its slot: 0 for the start token, else
    /// a frame slot (the oldest frame's when the window is full).
    fn admit(&mut self) -> usize {
        let ring = self.w.cfg.context - 1;
        if self.len == 0 {
            self.len = 1;
            return 0;
        }
        if self.len == self.w.cfg.context {
            let slot = 1 + self.oldest;
            self.oldest = (self.oldest + 1) % ring;
            return slot;
        }
        self.len += 1;
        1 + (self.oldest + self.len - 2) % ring
    }

    /// One pre-norm block on `self.h`, storing the new key and value in `slot`.
    fn block(&mut self, w: &StepWeights, blk: &BlockWeights, layer: usize, slot: usize) {
        let d = w.cfg.d_model;
        blk.ln1.apply(&self.h, &mut self.a);
        blk.qkv.apply(&self.a, &mut self.qkv);
        {
            let ctx = w.cfg.context;
            let (keys, vals) = &mut self.kv[layer];
            for (j, &k) in self.qkv[d..2 * d].iter().enumerate() {
                keys[j * ctx + slot] = k;
            }
            vals[slot * d..(slot + 1) * d].copy_from_slice(&self.qkv[2 * d..]);
        }
        self.attend(w, layer);
        blk.proj.apply(&self.y, &mut self.a);
        add(&mut self.h, &self.a);
        blk.ln2.apply(&self.h, &mut self.a);
        blk.ff1.apply(&self.a, &mut self.ff);
        self.ff.iter_mut().for_each(|v| *v = gelu(*v));
        blk.ff2.apply(&self.ff, &mut self.a);
        add(&mut self.h, &self.a);
    }

    /// Multi-head attention of the newest position's query (rotated to window position
    /// `len - 1`) over every key (each rotated to its window position) into `self.y`.
    fn attend(&mut self, w: &StepWeights, layer: usize) {
        let (d, hd, ctx) = (w.cfg.d_model, w.cfg.head_dim(), w.cfg.context);
        let half = hd / 2;
        let len = self.len;
        let runs = window_runs(len, self.oldest, ctx - 1);
        let (keys, vals) = &self.kv[layer];
        let (qc, qs) = (
            &w.cos[(len - 1) * half..len * half],
            &w.sin[(len - 1) * half..len * half],
        );
        // The query, rotated to its window position once (in place: q is not read again).
        for q in self.qkv[..d].chunks_exact_mut(hd) {
            for i in 0..half {
                let (q1, q2) = (q[i], q[i + half]);
                (q[i], q[i + half]) = (q1 * qc[i] - q2 * qs[i], q1 * qs[i] + q2 * qc[i]);
            }
        }
        for head in 0..w.cfg.n_heads {
            let one = Head {
                q: &self.qkv[head * hd..(head + 1) * hd],
                keys: &keys[head * hd * ctx..(head + 1) * hd * ctx],
                vals,
                at: head * hd,
                d,
            };
            let y = &mut self.y[head * hd..(head + 1) * hd];
            one.attend(w, &runs, &mut self.att[..len], y);
        }
    }

    /// Splits the head's output into the mixture's means, standard deviations and weights
    /// (a codebook model's output is only the weights' logits).
    fn split(&self, next: &mut NextToken) {
        let (f, k) = (self.w.cfg.n_features, self.w.cfg.mixture);
        if self.w.codebook.is_some() {
            next.mean.clear();
            next.std.clear();
            next.weight.clear();
            next.weight.extend_from_slice(&self.out);
            softmax(&mut next.weight);
            return;
        }
        next.mean.clear();
        next.mean.extend_from_slice(&self.out[..k * f]);
        next.std.clear();
        next.std.extend(
            self.out[k * f..2 * k * f]
                .iter()
                .map(|v| v.clamp(-5.0, 3.0).exp()),
        );
        next.weight.clear();
        if k == 1 {
            next.weight.push(1.0);
        } else {
            next.weight.extend_from_slice(&self.out[2 * k * f..]);
            softmax(&mut next.weight);
        }
    }
}

/// The window's positions `0..len` as runs of consecutive slots, `(first position, first
/// slot, count)`: the start token's slot 0, then the ring of `ring` frame slots from the
/// oldest frame's (`oldest`) to its end, then from its start.
fn window_runs(len: usize, oldest: usize, ring: usize) -> [(usize, usize, usize); 3] {
    let frames = len.saturating_sub(1);
    let to_end = frames.min(ring - oldest);
    [
        (0, 0, len.min(1)),
        (1, 1 + oldest, to_end),
        (1 + to_end, 1, frames - to_end),
    ]
}

/// `rows` (`[n_rows, n]`, row-major) transposed to `[n, n_rows]`.
fn transposed(rows: &[f32], n_rows: usize) -> Vec<f32> {
    let n = rows.len() / n_rows.max(1);
    (0..n)
        .flat_map(|i| (0..n_rows).map(move |r| rows[r * n + i]))
        .collect()
}

/// One head's share of a step's attention: its rotated query, its block of the
/// transposed keys (`[head_dim, context]`), and where its values start in each slot of
/// the values (`[context, d]`).
struct Head<'a> {
    q: &'a [f32],
    keys: &'a [f32],
    vals: &'a [f32],
    at: usize,
    d: usize,
}

impl Head<'_> {
    /// The head's output `y` (`head_dim` values) over the window positions of `runs`
    /// ([`window_runs`]), writing their attention weights into `att` (one per position):
    /// in 256-bit vectors where the CPU has AVX2, else in the build's baseline SIMD. Both sum the same products in the
    /// same order, so a seed streams the same samples on either.
    fn attend(
        &self,
        w: &StepWeights,
        runs: &[(usize, usize, usize)],
        att: &mut [f32],
        y: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked on the line above.
            return unsafe { self.attend_avx2(w, runs, att, y) };
        }
        self.attend_baseline(w, runs, att, y)
    }

    /// [`Head::attend`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn attend_avx2(
        &self,
        w: &StepWeights,
        runs: &[(usize, usize, usize)],
        att: &mut [f32],
        y: &mut [f32],
    ) {
        self.attend_baseline(w, runs, att, y)
    }

    #[inline(always)]
    fn attend_baseline(
        &self,
        w: &StepWeights,
        runs: &[(usize, usize, usize)],
        att: &mut [f32],
        y: &mut [f32],
    ) {
        let scale = 1.0 / (self.q.len() as f32).sqrt();
        self.scores(w, runs, att);
        att.iter_mut().for_each(|a| *a *= scale);
        softmax(att);
        let hd = y.len();
        y.fill(0.0);
        for &(p0, s0, n) in runs {
            for (a, s) in att[p0..p0 + n].iter().zip(s0..) {
                let at = s * self.d + self.at;
                y.iter_mut()
                    .zip(&self.vals[at..at + hd])
                    .for_each(|(o, v)| *o += a * v);
            }
        }
    }

    /// The attention scores, unscaled: `att[p]` = the query · the key at window position
    /// `p` rotated to `p`. Each score sums its products in the order of the dimensions, as
    /// a key-by-key dot product would, while the positions, side by side in memory, fill
    /// the SIMD lanes.
    #[inline(always)]
    fn scores(&self, w: &StepWeights, runs: &[(usize, usize, usize)], att: &mut [f32]) {
        let (ctx, half) = (w.cfg.context, self.q.len() / 2);
        let (cos, sin, keys) = (&w.cos_t, &w.sin_t, self.keys);
        att.fill(0.0);
        for i in 0..half {
            let (qa, qb) = (self.q[i], self.q[i + half]);
            for &(p0, s0, n) in runs {
                let k1 = &keys[i * ctx + s0..][..n];
                let k2 = &keys[(i + half) * ctx + s0..][..n];
                let c = &cos[i * ctx + p0..][..n];
                let s = &sin[i * ctx + p0..][..n];
                let out = &mut att[p0..p0 + n];
                for ((((o, &a), &b), &c), &s) in out.iter_mut().zip(k1).zip(k2).zip(c).zip(s) {
                    let (r1, r2) = (a * c - b * s, a * s + b * c);
                    *o += qa * r1 + qb * r2;
                }
            }
        }
    }
}

fn add(h: &mut [f32], x: &[f32]) {
    h.iter_mut().zip(x).for_each(|(h, x)| *h += x);
}

/// In-place softmax, shifted by the maximum.
fn softmax(x: &mut [f32]) {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - m).exp();
        sum += *v;
    }
    x.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::transformer::KvCache;
    use candle_core::Device;

    fn model(mixture: usize) -> Transformer {
        headed_model(mixture, 0)
    }

    fn headed_model(mixture: usize, codebook: usize) -> Transformer {
        clocked_model(mixture, codebook, Vec::new())
    }

    fn clocked_model(mixture: usize, codebook: usize, rhythm: Vec<f32>) -> Transformer {
        let cfg = TransformerConfig {
            n_features: 10,
            d_model: 16,
            n_heads: 2,
            n_layers: 2,
            d_ff: 40,
            context: 6,
            mixture,
            codebook,
            rhythm,
            codes_by_clock: Vec::new(),
            kinds: 0,
            rhythm_kinds: Vec::new(),
            kind_labels: Vec::new(),
            kind_labelled: Vec::new(),
        };
        crate::model::transformer::seeded(&cfg, 5)
    }

    /// A codebook model's plain step gives candle's weights, and its components are the
    /// codebook's centres with `RESIDUAL_SHARE` of its spread; its tokens here also carry
    /// a beat clock (`beat_clock::INPUTS` more inputs than its 10 features).
    #[test]
    fn a_codebook_step_weighs_the_codebooks_centres() {
        let m = clocked_model(1, 5, vec![0.6; crate::dsp::beat_clock::MIN_INTERVALS]);
        let w = Arc::new(StepWeights::new(&m, Precision::F32).unwrap());
        let mut fast = Stepper::new(Arc::clone(&w));
        let mut cache = KvCache::default();
        let mut next = NextToken::default();
        for i in 0..9 {
            let n = m.config().n_inputs();
            let token: Vec<f32> = (0..n).map(|j| ((i * n + j) as f32 * 0.3).sin()).collect();
            let input = (i > 0).then_some(token.as_slice());
            let t = input.map(|v| Tensor::from_slice(v, v.len(), &Device::Cpu).unwrap());
            let d = m.step(t.as_ref(), &mut cache).unwrap();
            fast.step(input, &mut next);
            let what = format!("step {i}");
            close(
                &next.weight,
                &flat(&d.log_weight.exp().unwrap()),
                1e-4,
                &what,
            );
            assert!(next.mean.is_empty() && next.std.is_empty(), "{what}");
        }
        let mean = flat(&m.codebook.as_ref().unwrap().0);
        let spread = flat(&m.codebook.as_ref().unwrap().1);
        let share = crate::model::codebook::RESIDUAL_SHARE;
        for k in 0..5 {
            let (c, s) = w.component(&next, k);
            close(c, &mean[k * 10..(k + 1) * 10], 1e-7, "centre");
            let want: Vec<f32> = spread.iter().map(|v| v * share).collect();
            close(s, &want, 1e-7, "spread");
        }
    }

    fn flat(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        let d = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(d < tol, "{what}: differs by {d}");
    }

    /// Step after step, well past the context (the window slides three times over), the
    /// plain step predicts what candle's cached step predicts (means, stds and weights):
    /// within float rounding at f32, within bfloat16's rounding of the weights at bf16.
    #[test]
    fn steps_match_the_candle_cached_step_as_the_window_slides() {
        for (precision, tol) in [(Precision::F32, 1e-4), (Precision::Bf16, 2e-2)] {
            for k in [1, 3] {
                let m = model(k);
                let w = Arc::new(StepWeights::new(&m, precision).unwrap());
                let mut fast = Stepper::new(Arc::clone(&w));
                let mut cache = KvCache::default();
                let mut next = NextToken::default();
                let mut token = vec![0f32; 10];
                let mut worst = 0f32;
                for i in 0..20 {
                    let input = (i > 0).then_some(token.as_slice());
                    let t = input.map(|v| Tensor::from_slice(v, v.len(), &Device::Cpu).unwrap());
                    let d = m.step(t.as_ref(), &mut cache).unwrap();
                    fast.step(input, &mut next);
                    let what = format!("{precision:?} mixture {k} step {i}");
                    let mean = flat(&d.mean);
                    close(&next.mean, &mean, tol, &what);
                    close(&next.std, &flat(&d.log_std.exp().unwrap()), tol, &what);
                    close(
                        &next.weight,
                        &flat(&d.log_weight.exp().unwrap()),
                        tol,
                        &what,
                    );
                    assert_eq!(fast.len(), cache.len(), "{what}");
                    worst = next
                        .mean
                        .iter()
                        .zip(&mean)
                        .fold(worst, |m, (a, b)| m.max((a - b).abs()));
                    // The next input: candle's mean, nudged so that positions differ.
                    token.copy_from_slice(&mean[..10]);
                    token.iter_mut().for_each(|v| *v += (i as f32 * 0.37).sin());
                }
                assert_eq!(fast.len(), 6);
                if precision == Precision::Bf16 {
                    // Rounded weights do change the prediction, a little.
                    assert!(worst > 1e-5, "bf16 weights changed nothing: {worst}");
                }
            }
        }
    }

    /// Samplers of one checkpoint share one copy of its weights while any is alive; once
    /// the last is gone the next load builds them again (memory goes back).
    #[test]
    fn samplers_of_one_checkpoint_share_its_weights_while_alive() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ecg-transformer");
        let cfg = crate::model::checkpoint::load_config(&dir).unwrap();
        let key = GainKey::new(&dir, &dir.join("model.safetensors"), &cfg).with_walk("share test");
        let mut built = 0;
        let mut load = || {
            built += 1;
            Ok(StepWeights::new(&model(1), Precision::F32).unwrap())
        };
        let a = shared(&key, &mut load).unwrap();
        let b = shared(&key, &mut load).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        let _c = shared(&key, &mut load).unwrap();
        assert_eq!(built, 2);
    }

    /// The AVX2 matrix-vector product gives the baseline's floats bit for bit.
    #[test]
    fn the_avx2_product_equals_the_baseline_bit_for_bit() {
        let m = model(3);
        let w = StepWeights::new(&m, Precision::Bf16).unwrap();
        for dense in [&w.head, &w.input, &w.blocks[0].ff2] {
            let x: Vec<f32> = (0..dense.n_in).map(|i| (i as f32 * 0.61).sin()).collect();
            let (mut a, mut b) = (vec![0.0; dense.n_out()], vec![0.0; dense.n_out()]);
            dense.apply(&x, &mut a);
            dense.apply_baseline(&x, &mut b);
            assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
        }
    }

    /// The slot of window position `p` when the oldest frame sits at ring index `oldest`
    /// of `ring` frame slots, position by position: what [`window_runs`] must agree with.
    fn ring_slot(p: usize, oldest: usize, ring: usize) -> usize {
        if p == 0 {
            0
        } else {
            1 + (oldest + p - 1) % ring
        }
    }

    /// The window's runs of slots hold each position once, in order, at the ring's slot.
    #[test]
    fn window_runs_list_every_position_at_its_slot() {
        let ring = 5;
        for len in 0..=ring + 1 {
            for oldest in 0..ring {
                let got: Vec<(usize, usize)> = window_runs(len, oldest, ring)
                    .iter()
                    .flat_map(|&(p0, s0, n)| (p0..p0 + n).zip(s0..))
                    .collect();
                let want: Vec<(usize, usize)> =
                    (0..len).map(|p| (p, ring_slot(p, oldest, ring))).collect();
                assert_eq!(got, want, "len {len}, oldest {oldest}");
            }
        }
    }

    /// A head's attention, scored a dimension at a time across the positions, gives the
    /// floats of a key-by-key rotated dot product bit for bit, with AVX2 or without.
    #[test]
    fn a_heads_attention_equals_the_key_by_key_product_bit_for_bit() {
        let w = StepWeights::new(&model(1), Precision::F32).unwrap();
        let (ctx, hd, d) = (w.cfg.context, w.cfg.head_dim(), w.cfg.d_model);
        let (half, oldest) = (hd / 2, 3);
        // The second head's share (its keys and values start `hd` in), the window full
        // and its ring wrapped.
        assert!(w.cfg.n_heads >= 2 && oldest < ctx - 1);
        let wave =
            |n: usize, f: f32| -> Vec<f32> { (0..n).map(|i| (i as f32 * f).sin()).collect() };
        let (keys, vals, q) = (wave(d * ctx, 0.71), wave(ctx * d, 0.37), wave(hd, 1.3));
        let head = Head {
            q: &q,
            keys: &keys[hd * ctx..],
            vals: &vals,
            at: hd,
            d,
        };
        let runs = window_runs(ctx, oldest, ctx - 1);
        let (mut att, mut y) = (vec![0.0; ctx], vec![0.0; hd]);
        head.attend(&w, &runs, &mut att, &mut y);
        let (mut att0, mut y0) = (vec![0.0; ctx], vec![0.0; hd]);
        head.attend_baseline(&w, &runs, &mut att0, &mut y0);
        // Key by key, as the step computed it before the keys were transposed.
        let slot = |p: usize| ring_slot(p, oldest, ctx - 1);
        let mut want: Vec<f32> = (0..ctx)
            .map(|p| {
                let key = |i: usize| keys[(hd + i) * ctx + slot(p)];
                let (c, s) = (&w.cos[p * half..], &w.sin[p * half..]);
                let mut acc = 0.0;
                for i in 0..half {
                    let (k1, k2) = (key(i), key(i + half));
                    let (r1, r2) = (k1 * c[i] - k2 * s[i], k1 * s[i] + k2 * c[i]);
                    acc += q[i] * r1 + q[i + half] * r2;
                }
                acc * (1.0 / (hd as f32).sqrt())
            })
            .collect();
        softmax(&mut want);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&att), bits(&want));
        assert_eq!((bits(&att0), bits(&y0)), (bits(&att), bits(&y)));
        let mut y1 = vec![0f32; hd];
        for (p, a) in want.iter().enumerate() {
            let at = slot(p) * d + hd;
            y1.iter_mut()
                .zip(&vals[at..at + hd])
                .for_each(|(o, v)| *o += a * v);
        }
        assert_eq!(bits(&y), bits(&y1));
    }

    /// Two steppers over the same weights run independent sequences.
    #[test]
    fn steppers_sharing_weights_do_not_disturb_each_other() {
        let w = Arc::new(StepWeights::new(&model(1), Precision::Bf16).unwrap());
        let (mut a, mut b) = (Stepper::new(Arc::clone(&w)), Stepper::new(w));
        let (mut na, mut nb) = (NextToken::default(), NextToken::default());
        a.step(None, &mut na);
        a.step(Some(&[0.5; 10]), &mut na);
        b.step(None, &mut nb);
        let first_b = nb.mean.clone();
        a.step(Some(&[-0.5; 10]), &mut na);
        let mut again = Stepper::new(Arc::clone(&a.w));
        again.step(None, &mut nb);
        assert_eq!(nb.mean, first_b);
        assert_ne!(na.mean, first_b);
    }
}
