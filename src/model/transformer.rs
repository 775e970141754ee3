//! A causal transformer over spectral frames (candle, in candle's style: a config struct,
//! `Transformer::new(&cfg, vb)`, `forward`).
//!
//! Tokens are whole frames: every channel's STFT bins as normalised re/im values
//! (`dsp::repr`), projected to `d_model`. A learned start token sits at position 0 and stays
//! in the context for ever (an attention sink), so training windows and the endless sliding
//! window of sampling look alike. Pre-norm blocks, rotary positions (relative, so the window
//! can slide), multi-head attention, GELU MLP. The head predicts the next frame as a mixture
//! of `mixture` diagonal Gaussians (mean, log-std per value and component, a weight per
//! component). One Gaussian draws every re/im value independently, which blurs the phase
//! coherence a QRS complex is made of (its bins share one linear phase); with several
//! components the draw first picks a whole coherent frame shape (a component mean), then
//! adds independent noise around it. The temperature scales the standard deviations.
//! With a codebook (`model::codebook`) the components are fixed: k-means centres of the
//! training frames with the training residual's spread, and the head predicts only their
//! weights (trained by the mixture's NLL); the temperature then also sharpens that choice.

use super::codebook::{self, MAX_CODEBOOK};
use crate::data::beat_kinds;
use crate::dsp::beat_clock;
use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{layer_norm, linear, ops, rotary_emb, LayerNorm, Linear, VarBuilder};

/// Hyperparameters, stored in the checkpoint's config.json.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TransformerConfig {
    /// Values per spectral frame (channels × bins × 2).
    pub n_features: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Attention heads (`d_model` must divide by it, into an even head size).
    pub n_heads: usize,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Width of the MLP inside each block.
    pub d_ff: usize,
    /// Positions of context, the start token included: the training window, and the
    /// sliding window when sampling.
    pub context: usize,
    /// Gaussian components of the next-frame distribution (1: a single diagonal
    /// Gaussian, as checkpoints before the mixture head had).
    #[serde(default = "one")]
    pub mixture: usize,
    /// Codes of a frame codebook the head chooses the next frame from (`model::codebook`);
    /// 0: the head predicts Gaussians (`mixture`) instead.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub codebook: usize,
    /// The training records' RR intervals (seconds) the sampler's beat clock replays
    /// (`dsp::beat_clock`); non-empty: every token also carries the clock of the frame it
    /// predicts, `beat_clock::INPUTS` values the model reads but does not predict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rhythm: Vec<f32>,
    /// A clocked codebook model's codes per place in the cardiac cycle
    /// (`beat_clock::SLOTS` lists, `Codebook::by_clock`): the sampler draws only these
    /// there, so that a QRS frame falls where the clock puts an R peak and nowhere else. An
    /// empty list, or none at all (checkpoints before 2026-12-05's second session), leaves
    /// the choice to the model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes_by_clock: Vec<Vec<u16>>,
    /// Kinds of beat the clock tells apart (`train --clock-kinds`; 0 or 1: one kind): the
    /// clock then ends with one-hot the kind of the frame's beat, and `codes_by_clock` holds
    /// `beat_clock::places(kinds)` lists, every slot of every kind.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kinds: usize,
    /// With kinds, the kind of the beat ending each of `rhythm`'s intervals in training:
    /// the sampler's rhythm replays them together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rhythm_kinds: Vec<u8>,
    /// With kinds, each kind's name: the MIT-BIH beat code most of its training beats
    /// carried in their records' annotations (`data::Dataset::kind_labels`), which the
    /// sampler's R peak events carry. Empty when the records had no beat labels: every
    /// beat is then `Q` (a beat of unknown type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kind_labels: Vec<String>,
    /// Per named kind, how many of its training beats carried its name (the rest another
    /// or none): how far the kind stands for the label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kind_labelled: Vec<u32>,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

fn one() -> usize {
    1
}

/// Share of a beat-clocked model's input frames hidden in training (see
/// [`Transformer::dropped`]). Teacher-forced on whole frames, a clocked codebook model
/// read the clock (its loss rose when the clock was shifted by half a beat) yet, drawing
/// on its own, put its beats off the clock (MIT-BIH 208: SDNN 240–340 ms against the
/// record's 85, with 0–50 % hidden, whatever the context length); with 0.8 hidden, its beats follow the clock
/// (models/README, "Frames with a beat clock").
pub const CLOCK_DROPOUT: f32 = 0.8;

/// Most mixture components a checkpoint may ask for (the head grows with each).
pub const MAX_MIXTURE: usize = 64;

impl TransformerConfig {
    /// Conditioning values per token beside the frame (the beat clock's, or none).
    pub fn n_cond(&self) -> usize {
        if self.rhythm.is_empty() {
            0
        } else {
            beat_clock::inputs(self.kinds)
        }
    }

    /// Values per input token: the frame, then its conditioning values.
    pub fn n_inputs(&self) -> usize {
        self.n_features + self.n_cond()
    }

    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads.max(1)
    }

    /// Checks the shape is buildable: positive sizes, heads dividing `d_model` evenly.
    pub fn check(&self) -> std::result::Result<(), String> {
        let sizes = [
            self.n_features,
            self.d_model,
            self.n_heads,
            self.n_layers,
            self.d_ff,
            self.context,
            self.mixture,
        ];
        if sizes.contains(&0) {
            return Err("every transformer size must be positive".into());
        }
        if !self.d_model.is_multiple_of(self.n_heads) || !self.head_dim().is_multiple_of(2) {
            return Err(format!(
                "d_model {} must split into {} heads of an even size",
                self.d_model, self.n_heads
            ));
        }
        if self.mixture > MAX_MIXTURE {
            return Err(format!(
                "mixture {} is more than {MAX_MIXTURE} components",
                self.mixture
            ));
        }
        if self.codebook > MAX_CODEBOOK {
            return Err(format!(
                "codebook {} is more than {MAX_CODEBOOK} codes",
                self.codebook
            ));
        }
        if self.codebook > 0 && self.mixture > 1 {
            return Err("a codebook head has no mixture of its own (mixture must be 1)".into());
        }
        if self.context < 2 {
            return Err("context must hold the start token and at least one frame".into());
        }
        if !self.rhythm.is_empty() {
            beat_clock::check_replayable(&self.rhythm).map_err(|m| format!("rhythm: {m}"))?;
        }
        beat_clock::check_kinds(&self.rhythm, &self.rhythm_kinds, self.kinds)
            .map_err(|m| format!("rhythm_kinds: {m}"))?;
        if self.kinds > 1 && (self.rhythm.is_empty() || self.rhythm_kinds.is_empty()) {
            return Err(format!(
                "kinds {}: kinds of beat need a rhythm and the kind ending each interval",
                self.kinds
            ));
        }
        self.check_kind_labels()?;
        self.check_codes_by_clock()
    }

    /// `kind_labels` is empty, or one MIT-BIH beat code for each of at most `kinds` kinds,
    /// each with its count in `kind_labelled`.
    fn check_kind_labels(&self) -> std::result::Result<(), String> {
        let labels = &self.kind_labels;
        if labels.len() > self.kinds.max(1) || (!labels.is_empty() && self.rhythm.is_empty()) {
            return Err(format!(
                "kind_labels: {} labels for a clock of {} kinds",
                labels.len(),
                self.kinds
            ));
        }
        if self.kind_labelled.len() != labels.len() {
            return Err(format!(
                "kind_labelled: {} counts for {} kind_labels",
                self.kind_labelled.len(),
                labels.len()
            ));
        }
        match labels.iter().find(|l| beat_kinds::beat_code(l).is_none()) {
            Some(l) => Err(format!(
                "kind_labels: {l:?} is not a beat code ({})",
                beat_kinds::BEAT_CODES.join(" ")
            )),
            None => Ok(()),
        }
    }

    /// `codes_by_clock` is empty, or one list per slot of a clocked codebook model's cycle,
    /// each of its codes.
    fn check_codes_by_clock(&self) -> std::result::Result<(), String> {
        let by = &self.codes_by_clock;
        if by.is_empty() {
            return Ok(());
        }
        let places = beat_clock::places(self.kinds);
        if self.rhythm.is_empty() || self.codebook == 0 || by.len() != places {
            return Err(format!(
                "codes_by_clock: {} lists; a beat-clocked codebook model has {places} or none",
                by.len(),
            ));
        }
        match by
            .iter()
            .flatten()
            .find(|&&c| usize::from(c) >= self.codebook)
        {
            Some(c) => Err(format!(
                "codes_by_clock: code {c} is not among the {} codes",
                self.codebook
            )),
            None => Ok(()),
        }
    }
}

/// One pre-norm block: attention then MLP, each around a residual.
#[derive(Clone)]
pub(super) struct Block {
    pub(super) ln1: LayerNorm,
    pub(super) qkv: Linear,
    pub(super) proj: Linear,
    pub(super) ln2: LayerNorm,
    pub(super) ff1: Linear,
    pub(super) ff2: Linear,
    heads: usize,
}

/// The model's layers, borrowed for `model::transformer_step` to copy out.
pub(super) struct Parts<'a> {
    pub start: &'a Tensor,
    pub input: &'a Linear,
    pub blocks: &'a [Block],
    pub ln_f: &'a LayerNorm,
    pub head: &'a Linear,
    pub codebook: Option<&'a (Tensor, Tensor)>,
    pub cos: &'a Tensor,
    pub sin: &'a Tensor,
}

/// Keys and values of the frames in the sliding window, per block, unrotated
/// (`[1, heads, len, head_dim]`); position 0 is always the start token.
#[derive(Default)]
pub struct KvCache {
    kv: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// Positions held (the same in every block).
    pub fn len(&self) -> usize {
        self.kv
            .first()
            .and_then(|e| e.as_ref())
            .map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }

    /// Whether nothing has been fed yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The model. Cloning shares the weights (candle tensors are reference-counted).
#[derive(Clone)]
pub struct Transformer {
    start: Tensor,
    input: Linear,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    head: Linear,
    /// Codebook centres `[k, n_features]` and spread `[n_features]`, fitted (not trained).
    pub(super) codebook: Option<(Tensor, Tensor)>,
    cos: Tensor,
    sin: Tensor,
    cfg: TransformerConfig,
}

/// Rotary tables `[context, head_dim / 2]` (base 10 000), computed once.
fn rope_tables(cfg: &TransformerConfig, dev: &Device) -> Result<(Tensor, Tensor)> {
    let half = cfg.head_dim() / 2;
    let mut cos = Vec::with_capacity(cfg.context * half);
    let mut sin = Vec::with_capacity(cfg.context * half);
    for p in 0..cfg.context {
        for i in 0..half {
            let a = p as f64 / 10_000f64.powf(2.0 * i as f64 / cfg.head_dim() as f64);
            cos.push(a.cos() as f32);
            sin.push(a.sin() as f32);
        }
    }
    Ok((
        Tensor::from_vec(cos, (cfg.context, half), dev)?,
        Tensor::from_vec(sin, (cfg.context, half), dev)?,
    ))
}

impl Block {
    fn new(cfg: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.d_model;
        Ok(Block {
            ln1: layer_norm(d, 1e-5, vb.pp("ln1"))?,
            qkv: linear(d, 3 * d, vb.pp("qkv"))?,
            proj: linear(d, d, vb.pp("proj"))?,
            ln2: layer_norm(d, 1e-5, vb.pp("ln2"))?,
            ff1: linear(d, cfg.d_ff, vb.pp("ff1"))?,
            ff2: linear(cfg.d_ff, d, vb.pp("ff2"))?,
            heads: cfg.n_heads,
        })
    }

    /// Splits `[b, t, 3d]` into q, k, v of `[b, heads, t, head_dim]`.
    fn qkv(&self, x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let (b, t, d) = x.dims3()?;
        let qkv = self.qkv.forward(&self.ln1.forward(x)?)?;
        let split = |i: usize| {
            qkv.narrow(2, i * d, d)?
                .reshape((b, t, self.heads, d / self.heads))?
                .transpose(1, 2)?
                .contiguous()
        };
        Ok((split(0)?, split(1)?, split(2)?))
    }

    /// Attention of rotated `q` over rotated `k`, then values, heads merged and projected.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, h, t, hd) = q.dims4()?;
        let mut att = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
        if let Some(m) = mask {
            att = att.broadcast_add(m)?;
        }
        let y = ops::softmax(&att, D::Minus1)?.matmul(v)?;
        self.proj
            .forward(&y.transpose(1, 2)?.reshape((b, t, h * hd))?)
    }

    fn mlp(&self, x: &Tensor) -> Result<Tensor> {
        self.ff2
            .forward(&self.ff1.forward(&self.ln2.forward(x)?)?.gelu()?)
    }

    /// Whole-window pass (training): causal mask, differentiable rotary embedding.
    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (q, k, v) = self.qkv(x)?;
        let q = rotary_emb::rope_slow(&q, cos, sin)?;
        let k = rotary_emb::rope_slow(&k, cos, sin)?;
        let x = (x + self.attend(&q, &k, &v, Some(mask))?)?;
        &x + self.mlp(&x)?
    }

    /// One new position (sampling): appends k, v to the cache (dropping the oldest frame
    /// after the start token when full), rotates by window position, attends to all.
    fn step(
        &self,
        x: &Tensor,
        slot: &mut Option<(Tensor, Tensor)>,
        cos: &Tensor,
        sin: &Tensor,
        context: usize,
    ) -> Result<Tensor> {
        let (q, k, v) = self.qkv(x)?;
        let (k, v) = match slot.take() {
            None => (k, v),
            Some((ck, cv)) => {
                let len = ck.dim(2)?;
                let (ck, cv) = if len + 1 > context {
                    let keep = |c: &Tensor| {
                        Tensor::cat(&[c.narrow(2, 0, 1)?, c.narrow(2, 2, len - 2)?], 2)
                    };
                    (keep(&ck)?, keep(&cv)?)
                } else {
                    (ck, cv)
                };
                (Tensor::cat(&[&ck, &k], 2)?, Tensor::cat(&[&cv, &v], 2)?)
            }
        };
        let len = k.dim(2)?;
        let kr = rotary_emb::rope(
            &k.contiguous()?,
            &cos.narrow(0, 0, len)?,
            &sin.narrow(0, 0, len)?,
        )?;
        let qr = rotary_emb::rope(
            &q.contiguous()?,
            &cos.narrow(0, len - 1, 1)?.contiguous()?,
            &sin.narrow(0, len - 1, 1)?.contiguous()?,
        )?;
        let y = self.attend(&qr, &kr, &v, None)?;
        *slot = Some((k, v));
        let x = (x + y)?;
        &x + self.mlp(&x)?
    }
}

/// The predicted next frames: a mixture of diagonal Gaussians per position.
pub struct FrameDistribution {
    /// Component means, `[b, t, mixture, n_features]`.
    pub mean: Tensor,
    /// Component log standard deviations (clamped to [-5, 3]), shaped as `mean`.
    pub log_std: Tensor,
    /// Log mixture weights (log-softmax), `[b, t, mixture]`.
    pub log_weight: Tensor,
}

impl Transformer {
    /// Creates (or loads, with a loaded `vb`) the layers.
    pub fn new(cfg: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        cfg.check().map_err(candle_core::Error::Msg)?;
        let d = cfg.d_model;
        let (cos, sin) = rope_tables(cfg, vb.device())?;
        Ok(Transformer {
            start: vb.get((1, d), "start")?,
            input: linear(cfg.n_inputs(), d, vb.pp("input"))?,
            blocks: (0..cfg.n_layers)
                .map(|i| Block::new(cfg, vb.pp(format!("blocks.{i}"))))
                .collect::<Result<_>>()?,
            ln_f: layer_norm(d, 1e-5, vb.pp("ln_f"))?,
            head: linear(d, head_width(cfg), vb.pp("head"))?,
            codebook: match cfg.codebook {
                0 => None,
                k => Some((
                    vb.get((k, cfg.n_features), codebook::CENTRES)?,
                    vb.get(cfg.n_features, codebook::SPREAD)?,
                )),
            },
            cos,
            sin,
            cfg: cfg.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TransformerConfig {
        &self.cfg
    }

    /// The layers and rotary tables, for the plain CPU step to copy.
    pub(super) fn parts(&self) -> Parts<'_> {
        Parts {
            start: &self.start,
            input: &self.input,
            blocks: &self.blocks,
            ln_f: &self.ln_f,
            head: &self.head,
            codebook: self.codebook.as_ref(),
            cos: &self.cos,
            sin: &self.sin,
        }
    }

    /// Splits the head's output `[b, t, head_width]` into the mixture's parts; a single
    /// Gaussian has no weight outputs (its log weight is 0). A codebook's components are its
    /// centres and spread, broadcast (views, not copies) to every position.
    fn distribution(&self, h: &Tensor) -> Result<FrameDistribution> {
        let (f, k) = (self.cfg.n_features, self.cfg.mixture);
        let out = self.head.forward(&self.ln_f.forward(h)?)?;
        let (b, t, _) = out.dims3()?;
        if let Some((centres, spread)) = &self.codebook {
            let n = centres.dim(0)?;
            return Ok(FrameDistribution {
                mean: centres.reshape((1, 1, n, f))?.broadcast_as((b, t, n, f))?,
                log_std: spread
                    .log()?
                    .reshape((1, 1, 1, f))?
                    .broadcast_as((b, t, n, f))?,
                log_weight: ops::log_softmax(&out, D::Minus1)?,
            });
        }
        let log_weight = if k == 1 {
            Tensor::zeros((b, t, 1), out.dtype(), out.device())?
        } else {
            ops::log_softmax(&out.narrow(D::Minus1, 2 * k * f, k)?, D::Minus1)?
        };
        Ok(FrameDistribution {
            mean: out.narrow(D::Minus1, 0, k * f)?.reshape((b, t, k, f))?,
            log_std: out
                .narrow(D::Minus1, k * f, k * f)?
                .reshape((b, t, k, f))?
                .clamp(-5f32, 3f32)?,
            log_weight,
        })
    }

    /// The frames of tokens `[b, t, n_inputs]`: what the model predicts, without the
    /// conditioning values.
    pub fn targets(&self, tokens: &Tensor) -> Result<Tensor> {
        match self.cfg.n_cond() {
            0 => Ok(tokens.clone()),
            _ => tokens.narrow(D::Minus1, 0, self.cfg.n_features),
        }
    }

    /// `tokens` with the frames of a random [`CLOCK_DROPOUT`] share of them set to the
    /// training mean (0), their conditioning values kept: trained so, a clocked model
    /// cannot predict the next frame from the frames before it alone and learns to read
    /// the clock.
    pub fn dropped(&self, tokens: &Tensor, rng: &mut rand_chacha::ChaCha8Rng) -> Result<Tensor> {
        use rand::Rng;
        let (b, t, _) = tokens.dims3()?;
        let (f, c) = (self.cfg.n_features, self.cfg.n_cond());
        let keep: Vec<f32> = (0..b * t)
            .map(|_| {
                if rng.random::<f32>() < CLOCK_DROPOUT {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        let mask = Tensor::from_vec(keep, (b, t, 1), tokens.device())?;
        let frames = tokens.narrow(D::Minus1, 0, f)?.broadcast_mul(&mask)?;
        Tensor::cat(&[&frames, &tokens.narrow(D::Minus1, f, c)?], D::Minus1)
    }

    /// Teacher forcing: for tokens `[b, t, n_inputs]` (t ≤ context), the distribution of
    /// frame i given the start token and tokens before i, for every i.
    pub fn forward(&self, frames: &Tensor) -> Result<FrameDistribution> {
        let (b, t, _) = frames.dims3()?;
        let d = self.cfg.d_model;
        let start = self.start.unsqueeze(0)?.broadcast_as((b, 1, d))?;
        let mut h = if t > 1 {
            let x = self.input.forward(&frames.narrow(1, 0, t - 1)?)?;
            Tensor::cat(&[&start.contiguous()?, &x], 1)?
        } else {
            start.contiguous()?
        };
        let mask = causal_mask(t, frames.device())?;
        let (cos, sin) = (self.cos.narrow(0, 0, t)?, self.sin.narrow(0, 0, t)?);
        for blk in &self.blocks {
            h = blk.forward(&h, &cos, &sin, &mask)?;
        }
        self.distribution(&h)
    }

    /// Feeds one token (`[n_inputs]`: a normalised frame and its conditioning values), or
    /// the start token when `frame` is `None`, and returns the distribution of the frame
    /// after it. Cost and memory are
    /// bounded by `context`, however long it runs. With tensors on any device; the
    /// samplers use `model::transformer_step`, the same step without a tensor per
    /// operation, which is checked against this one.
    pub fn step(&self, frame: Option<&Tensor>, cache: &mut KvCache) -> Result<FrameDistribution> {
        let x = match frame {
            None => self.start.unsqueeze(0)?,
            Some(f) => self
                .input
                .forward(&f.reshape((1, 1, self.cfg.n_inputs()))?)?,
        };
        cache.kv.resize_with(self.blocks.len(), || None);
        let mut h = x;
        for (blk, slot) in self.blocks.iter().zip(cache.kv.iter_mut()) {
            h = blk.step(&h, slot, &self.cos, &self.sin, self.cfg.context)?;
        }
        self.distribution(&h)
    }
}

/// Outputs of the head: means and log-stds of every component, then (with more than one
/// component) the weights' logits.
fn head_width(cfg: &TransformerConfig) -> usize {
    if cfg.codebook > 0 {
        return cfg.codebook;
    }
    let k = cfg.mixture;
    2 * k * cfg.n_features + if k > 1 { k } else { 0 }
}

/// `[t, t]` additive mask: 0 on and below the diagonal, a large negative number above.
fn causal_mask(t: usize, dev: &Device) -> Result<Tensor> {
    let m: Vec<f32> = (0..t * t)
        .map(|i| if i % t > i / t { -1e9 } else { 0.0 })
        .collect();
    Tensor::from_vec(m, (t, t), dev)?.to_dtype(DType::F32)
}

/// Negative log-likelihood of `target` frames `[b, t, n_features]`, per value (without the
/// constant ½·ln 2π): −log Σ_k w_k N(x; μ_k, σ_k), averaged over positions and divided by
/// `n_features` (with one component, the mean Gaussian NLL per value).
pub fn nll(target: &Tensor, d: &FrameDistribution) -> Result<Tensor> {
    let f = d.mean.dim(D::Minus1)?;
    let z = (target.unsqueeze(2)?.broadcast_sub(&d.mean)? * d.log_std.neg()?.exp()?)?;
    let per_component = ((z.sqr()? * -0.5)? - &d.log_std)?.sum(D::Minus1)?;
    log_sum_exp(&(per_component + &d.log_weight)?)?.mean_all()? * (-1.0 / f as f64)
}

/// log Σ exp over the last axis (kept), shifted by the maximum (a constant for the gradient).
fn log_sum_exp(a: &Tensor) -> Result<Tensor> {
    let m = a.max_keepdim(D::Minus1)?.detach();
    a.broadcast_sub(&m)?.exp()?.sum_keepdim(D::Minus1)?.log()? + m
}

/// A codebook model's training loss: the mixture NLL of [`nll`] with the codebook's fixed
/// components, per frame, less what the weights cannot change: −log Σ_k w_k r_k(x), with
/// r_k(x) the responsibility of code k for frame x (0 only when one code owns the frame and
/// the head gives it all the weight). From distances `[b·t, k]`, never `[b, t, k, n_features]`.
pub fn code_nll(
    target: &Tensor,
    d: &FrameDistribution,
    centres: &Tensor,
    spread: &Tensor,
) -> Result<Tensor> {
    let (b, t, f) = target.dims3()?;
    let k = d.log_weight.dim(D::Minus1)?;
    let inv = spread.detach().recip()?;
    let x = target.reshape((b * t, f))?.detach().broadcast_mul(&inv)?;
    let c = centres.detach().broadcast_mul(&inv)?;
    let d2 = ((x.matmul(&c.t()?)? * -2.0)?.broadcast_add(&c.sqr()?.sum(D::Minus1)?)?)
        .broadcast_add(&x.sqr()?.sum_keepdim(D::Minus1)?)?;
    let ll = (d2 * -0.5)?;
    let joint = log_sum_exp(&(d.log_weight.reshape((b * t, k))? + &ll)?)?;
    (joint - log_sum_exp(&ll)?)?.mean_all()?.neg()
}

/// How the channels of `model`'s standardised prediction errors `(x − μ)/σ` correlate in
/// each bin, over every teacher-forced frame of `data`'s training windows (the most
/// probable component's, with a mixture; the nearest centre's, with a codebook): what
/// `train` saves as `draw_coupling`, so that draws keep the channels' coupling the
/// predicted means leave out. `None` for one channel.
pub fn draw_coupling(
    model: &Transformer,
    data: &crate::data::Dataset,
    dev: &Device,
) -> Result<Option<Vec<f32>>> {
    let f = model.cfg.n_features;
    let n_bins = data.config.spectral.n_bins();
    let mut sums = super::coupling::CouplingSums::new(n_bins, f / (2 * n_bins).max(1));
    let book = match &model.codebook {
        Some((c, s)) => Some((c.to_vec2::<f32>()?, s.to_vec1::<f32>()?)),
        None => None,
    };
    let mut z = vec![0f32; f];
    for b in data.batches(crate::data::Part::Train, 16, 0) {
        let Some((centres, spread)) = &book else {
            let x = Tensor::from_vec(b.data, (b.shape[0], b.shape[1], b.shape[2]), dev)?;
            prediction_errors(model, &x, &mut z, &mut sums)?;
            continue;
        };
        for token in b.data.chunks_exact(model.cfg.n_inputs()) {
            let frame = &token[..f];
            let c = &centres[super::kmeans::nearest(frame, centres)];
            for (i, zi) in z.iter_mut().enumerate() {
                *zi = (frame[i] - c[i]) / spread[i];
            }
            sums.add(&z, |_| 1.0);
        }
    }
    Ok(sums.finish())
}

/// Adds the standardised errors of the most probable component's prediction of every
/// frame of `x` to `sums` (`z`: one frame's scratch).
fn prediction_errors(
    model: &Transformer,
    x: &Tensor,
    z: &mut [f32],
    sums: &mut super::coupling::CouplingSums,
) -> Result<()> {
    let (f, k) = (model.cfg.n_features, model.cfg.mixture);
    let d = model.forward(x)?;
    let flat = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
    let (x, mean, log_std, log_w) = (
        flat(&model.targets(x)?)?,
        flat(&d.mean)?,
        flat(&d.log_std)?,
        flat(&d.log_weight)?,
    );
    for (pos, frame) in x.chunks_exact(f).enumerate() {
        let w = &log_w[pos * k..(pos + 1) * k];
        let best = (0..k).fold(0, |a, c| if w[c] > w[a] { c } else { a });
        let at = (pos * k + best) * f;
        for (i, zi) in z.iter_mut().enumerate() {
            *zi = (frame[i] - mean[at + i]) * (-log_std[at + i]).exp();
        }
        sums.add(z, |_| 1.0);
    }
    Ok(())
}

/// The transformer's training objective: teacher-forced NLL of every frame (of its nearest
/// code, with a codebook).
pub struct TransformerObjective<'a> {
    /// The model being trained.
    pub model: &'a Transformer,
}

impl super::train::Objective for TransformerObjective<'_> {
    fn term_names(&self) -> &'static [&'static str] {
        match self.model.codebook {
            Some(_) => &["code_nll"],
            None => &["nll"],
        }
    }

    fn losses(
        &self,
        x: &Tensor,
        _step: u64,
        noise: Option<&mut rand_chacha::ChaCha8Rng>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let d = match (noise, self.model.cfg.n_cond()) {
            (Some(rng), c) if c > 0 => self.model.forward(&self.model.dropped(x, rng)?)?,
            _ => self.model.forward(x)?,
        };
        let target = self.model.targets(x)?;
        let loss = match &self.model.codebook {
            Some((centres, spread)) => code_nll(&target, &d, centres, spread)?,
            None => nll(&target, &d)?,
        };
        Ok((loss.clone(), vec![loss]))
    }
}

/// A small `cfg` model with seeded weights (`train::seed_weights`) and, with a codebook, a
/// fixed one: the unit tests' stand-in for a trained checkpoint.
#[cfg(test)]
pub(crate) fn seeded(cfg: &TransformerConfig, seed: u64) -> Transformer {
    use candle_nn::VarMap;
    let vm = VarMap::new();
    let m = Transformer::new(cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    crate::model::train::seed_weights(&vm, seed).unwrap();
    if cfg.codebook > 0 {
        let f = cfg.n_features;
        let book = crate::model::codebook::Codebook {
            centres: (0..cfg.codebook * f)
                .map(|i| ((i * 37) % 11) as f32 / 5.0 - 1.0)
                .collect(),
            spread: (0..f).map(|i| 0.3 + 0.1 * i as f32).collect(),
            by_clock: Vec::new(),
        };
        book.store(&vm).unwrap();
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::max_abs_diff;

    fn model(context: usize) -> Transformer {
        mixture_model(context, 1)
    }

    fn mixture_model(context: usize, mixture: usize) -> Transformer {
        headed_model(context, mixture, 0)
    }

    /// A model whose head chooses among `k` codes: fixed centres and spread.
    fn codebook_model(context: usize, k: usize) -> Transformer {
        headed_model(context, 1, k)
    }

    /// A codebook model whose tokens also carry a beat clock (`beat_clock::INPUTS` inputs
    /// it does not predict).
    fn clocked_model(context: usize, k: usize) -> Transformer {
        clocked_headed_model(context, 1, k, vec![0.5; beat_clock::MIN_INTERVALS])
    }

    fn headed_model(context: usize, mixture: usize, codebook: usize) -> Transformer {
        clocked_headed_model(context, mixture, codebook, Vec::new())
    }

    fn clocked_headed_model(
        context: usize,
        mixture: usize,
        codebook: usize,
        rhythm: Vec<f32>,
    ) -> Transformer {
        let cfg = TransformerConfig {
            n_features: 6,
            d_model: 16,
            n_heads: 2,
            n_layers: 2,
            d_ff: 32,
            context,
            mixture,
            codebook,
            rhythm,
            codes_by_clock: Vec::new(),
            kinds: 0,
            rhythm_kinds: Vec::new(),
            kind_labels: Vec::new(),
            kind_labelled: Vec::new(),
        };
        seeded(&cfg, 3)
    }

    fn frames(t: usize) -> Tensor {
        tokens(t, 6)
    }

    fn tokens(t: usize, width: usize) -> Tensor {
        let v: Vec<f32> = (0..t * width)
            .map(|i| ((i * 7919) % 13) as f32 / 6.0 - 1.0)
            .collect();
        Tensor::from_vec(v, (1, t, width), &Device::Cpu).unwrap()
    }

    /// Stepping through the KV cache gives what the teacher-forced pass gives, for a
    /// single Gaussian, a mixture, a codebook and a codebook with a beat clock (means and
    /// weights).
    #[test]
    fn cached_steps_match_the_full_pass() {
        for (k, m) in [
            (1, mixture_model(8, 1)),
            (3, mixture_model(8, 3)),
            (4, codebook_model(8, 4)),
            (4, clocked_model(8, 4)),
        ] {
            let x = tokens(8, m.cfg.n_inputs());
            let full = m.forward(&x).unwrap();
            let mut cache = KvCache::default();
            for i in 0..8 {
                let input = (i > 0).then(|| x.get(0).unwrap().get(i - 1).unwrap());
                let d = m.step(input.as_ref(), &mut cache).unwrap();
                let at = |t: &Tensor| t.get(0).unwrap().get(i).unwrap();
                let dm = max_abs_diff(&d.mean, &at(&full.mean));
                let dw = max_abs_diff(&d.log_weight, &at(&full.log_weight));
                assert!(dm < 1e-4 && dw < 1e-4, "k {k} position {i}: {dm} {dw}");
            }
        }
    }

    /// A codebook model's loss is the mixture NLL ([`nll`], per frame) with the codebook's
    /// components, less the part no weights can change: what equal weights score, less ln k.
    /// So its gradient is the mixture NLL's, without a `[b, t, k, n_features]` tensor.
    #[test]
    fn code_nll_is_the_mixture_nll_less_what_the_weights_cannot_change() {
        let (k, f) = (5, 6.0);
        let m = codebook_model(8, k);
        let x = frames(8);
        let d = m.forward(&x).unwrap();
        let (centres, spread) = m.codebook.as_ref().unwrap();
        let got = code_nll(&x, &d, centres, spread)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let scalar = |t: Tensor| t.to_scalar::<f32>().unwrap();
        let full = scalar(nll(&x, &d).unwrap()) * f;
        let equal = FrameDistribution {
            mean: d.mean.clone(),
            log_std: d.log_std.clone(),
            log_weight: (d.log_weight.zeros_like().unwrap() - (k as f64).ln()).unwrap(),
        };
        let base = scalar(nll(&x, &equal).unwrap()) * f;
        let want = full + (k as f32).ln() - base;
        assert!((got - want).abs() < 1e-3, "{got} vs {want}");
        assert!(got > 0.0, "a head this untrained cannot be sure: {got}");
    }

    /// The mixture NLL is −log Σ w_k N(x; μ_k, σ_k) per value, computed here directly.
    #[test]
    fn mixture_nll_is_the_negative_log_of_the_weighted_density() {
        let dev = Device::Cpu;
        let t = |v: &[f32], s: &[usize]| Tensor::from_slice(v, s, &dev).unwrap();
        let (mu, ls, w) = (
            [0.0, 1.0, 2.0, -1.0],
            [0.0, -0.5, 0.3, 0.1],
            [0.25f64, 0.75],
        );
        let d = FrameDistribution {
            mean: t(&mu, &[1, 1, 2, 2]),
            log_std: t(&ls, &[1, 1, 2, 2]),
            log_weight: t(&[w[0].ln() as f32, w[1].ln() as f32], &[1, 1, 2]),
        };
        let x = [0.5f64, 0.2];
        let got = nll(&t(&[0.5, 0.2], &[1, 1, 2]), &d)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let density: f64 = (0..2)
            .map(|k| {
                let log_n: f64 = (0..2)
                    .map(|f| {
                        let (m, l) = (f64::from(mu[2 * k + f]), f64::from(ls[2 * k + f]));
                        -0.5 * ((x[f] - m) / l.exp()).powi(2) - l
                    })
                    .sum();
                w[k] * log_n.exp()
            })
            .sum();
        let want = -density.ln() / 2.0;
        assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
    }

    /// The window slides: memory stays at `context` positions however long it runs, and
    /// the start token stays at position 0.
    #[test]
    fn the_cache_never_outgrows_the_context() {
        let m = model(5);
        let x = frames(1);
        let mut cache = KvCache::default();
        m.step(None, &mut cache).unwrap();
        for _ in 0..40 {
            let d = m.step(Some(&x.flatten_all().unwrap()), &mut cache).unwrap();
            assert!(cache.len() <= 5);
            assert!(d
                .mean
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .all(|v| v.is_finite()));
        }
        assert_eq!(cache.len(), 5);
    }

    #[test]
    fn shapes_that_cannot_split_into_heads_are_refused() {
        let mut cfg = model(4).config().clone();
        cfg.n_heads = 3;
        assert!(cfg.check().unwrap_err().contains("heads"));
        cfg.n_heads = 2;
        cfg.mixture = MAX_MIXTURE + 1;
        assert!(cfg.check().unwrap_err().contains("mixture"));
        cfg.mixture = 1;
        cfg.context = 1;
        assert!(cfg.check().is_err());
    }
}
