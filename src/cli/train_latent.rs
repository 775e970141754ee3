//! `biowave train --model transformer --codec VAE --data FILE... --out NAME`: a transformer
//! over a VAE's latents (`model::latent_walk`), one token per window the VAE's generator
//! plays (per beat for a beat-aligned VAE).

use super::train::{
    device, fingerprints, new_checkpoint, out_dir, report, train_config, validate_and_resume, Args,
};
use super::train_data::sources;
use crate::data::{split_records, Dataset, NormStats, Prepared};
use crate::model::checkpoint::{self, CheckpointConfig};
use crate::model::latent_walk::{check_codec, token_sequences, CODEC_DIR};
use crate::model::train;
use crate::model::transformer::{Transformer, TransformerConfig, TransformerObjective};
use crate::model::vae::Vae;
use crate::{Error, Result};
use std::path::Path;

/// Trains the latent transformer and writes its checkpoint, the codec copied in.
pub fn run(args: &Args, codec: &str) -> Result<()> {
    refuse_frame_flags(args)?;
    let cdir = checkpoint::find(codec)?;
    let ccfg = checkpoint::load_config(&cdir)?;
    checkpoint::check_weights(&cdir, &ccfg)?;
    let latent = ccfg.vae.as_ref().map_or(0, |v| v.latent);
    check_codec(&cdir.join("config.json"), &ccfg, latent)?;
    let vc = ccfg.vae.clone().expect("checked by check_codec");
    let dev = device();
    let vae = train::load_frozen(|vb| Vae::new(&vc, vb), &dev, &cdir)?;
    let out = out_dir(args);
    if super::same_file(&out, &cdir) {
        return Err(Error::bad_path(
            &out,
            "--out is the codec's own checkpoint: it would be overwritten (choose another name)",
        ));
    }
    let data = tokens(args, &vae, &ccfg, latent, &dev)?;
    let (spec, dc, norm) = (ccfg.spec.clone(), ccfg.data.clone(), ccfg.norm.clone());
    let mut ckpt = new_checkpoint(args, fingerprints(args)?, spec, dc, norm);
    ckpt.transformer = Some(TransformerConfig {
        n_features: latent,
        d_model: args.hidden.unwrap_or(128),
        n_heads: args.heads(),
        n_layers: args.layers(),
        d_ff: 4 * args.hidden.unwrap_or(128),
        context: args.context(),
        mixture: args.mixture(),
        codebook: 0,
        rhythm: Vec::new(),
        codes_by_clock: Vec::new(),
        kinds: 0,
        rhythm_kinds: Vec::new(),
        kind_labels: Vec::new(),
        kind_labelled: Vec::new(),
    });
    ckpt.codec = Some(CODEC_DIR.into());
    let resume = validate_and_resume(args, &out, &mut ckpt)?;
    copy_codec(&cdir, &out.join(CODEC_DIR))?;
    let c = ckpt.transformer.clone().expect("set above");
    let weights = resume.then_some(out.as_path());
    let (model, varmap) = train::build(|vb| Transformer::new(&c, vb), &dev, weights)?;
    if !resume {
        train::seed_weights(&varmap, args.seed)?;
    }
    let t0 = std::time::Instant::now();
    let tc = train_config(args)?;
    let obj = TransformerObjective { model: &model };
    let done = train::train(&obj, &varmap, &data, &tc, ckpt, &out, &dev)?;
    super::train::stopped(&tc, &done, &out)?;
    report(&out, t0, &done);
    Ok(())
}

/// The codec fixes windows, spectra, rate and channels; flags that would set them are
/// refused rather than ignored.
fn refuse_frame_flags(args: &Args) -> Result<()> {
    if args.model != "transformer" {
        return Err(Error::BadInput(format!(
            "--codec applies to --model transformer, not {}",
            args.model
        )));
    }
    let set = [
        ("--beats", args.beats),
        ("--n-fft", args.n_fft.is_some()),
        ("--hop", args.hop.is_some()),
        ("--window-s", args.window_s.is_some()),
        ("--stride-s", args.stride_s.is_some()),
        ("--fs", args.fs.is_some()),
        ("--channels", args.channels.is_some()),
        ("--states", args.states.is_some()),
    ];
    match set.iter().find(|(_, on)| *on) {
        Some((flag, _)) => Err(Error::BadInput(format!(
            "{flag}: with --codec the codec's own windows, spectra, rate and channels are used"
        ))),
        None => Ok(()),
    }
}

/// Token sequences of every training piece, split by piece into training and validation
/// (all jitter views of a piece on one side), as a dataset of `context`-token windows.
fn tokens(
    args: &Args,
    vae: &Vae,
    codec: &CheckpointConfig,
    latent: usize,
    dev: &candle_core::Device,
) -> Result<Dataset> {
    let src = sources(args, true)?;
    let mut pieces = Vec::with_capacity(src.len());
    for s in &src {
        let seqs = token_sequences(vae, codec, s, dev)?;
        if let Some(short) = seqs.iter().find(|r| r.n_frames < args.context()) {
            return Err(Error::BadInput(format!(
                "{}: {} tokens (beats or windows), fewer than --context {} (give more data or \
                 a shorter context)",
                s.name,
                short.n_frames,
                args.context()
            )));
        }
        pieces.push(
            seqs.into_iter()
                .map(|rep| Prepared::new(s.name.clone(), rep))
                .collect::<Vec<_>>(),
        );
    }
    let (tr, va) = split_records(pieces.len(), codec.data.val_fraction, args.seed);
    let take = |idx: &[usize]| idx.iter().flat_map(|&i| pieces[i].clone()).collect();
    Ok(Dataset {
        config: codec.data.clone(),
        stats: NormStats {
            mean: vec![0.0; latent],
            std: vec![1.0; latent],
        },
        train: take(&tr),
        validation: take(&va),
        window_frames: args.context(),
        stride_frames: 1,
        kind_labels: Vec::new(),
        kind_labelled: Vec::new(),
    })
}

/// Copies the codec checkpoint (config and weights) into `to`, unless it is already there.
fn copy_codec(from: &Path, to: &Path) -> Result<()> {
    if super::same_file(from, to) {
        return Ok(());
    }
    std::fs::create_dir_all(to).map_err(|e| Error::bad_path(to, e))?;
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(from.join(f), to.join(f)).map_err(|e| Error::bad_path(&from.join(f), e))?;
    }
    Ok(())
}
