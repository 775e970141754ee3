//! Long linear-phase FIR filters applied to streams by FFT overlap-save, one kernel per
//! channel: a 1000-tap equaliser costs two FFTs per few thousand samples instead of a
//! thousand multiply-adds per sample. Planned once; buffers reused, no allocation per block.
//! A chunk is thousands of samples (seconds of signal), so a real-time caller takes its
//! input in through [`FirStream::pull_through`], which reads ahead a little every block
//! instead of a whole chunk in the block that runs out.

use super::splice::Ready;
use crate::{Error, Result};
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Designs a linear-phase kernel of `gain.len() * 2 - 1` taps whose amplitude response
/// follows `gain` (one value per bin `k · fs / (2 (gain.len() − 1))`, 0 to Nyquist): the
/// zero-phase impulse response of `gain`, centred and Hann-windowed (frequency sampling).
pub fn design(gain: &[f32]) -> Vec<f32> {
    let n = 2 * gain.len().saturating_sub(1);
    if n == 0 {
        return vec![1.0];
    }
    let mut planner = RealFftPlanner::<f32>::new();
    let c2r = planner.plan_fft_inverse(n);
    let mut spec: Vec<Complex32> = gain.iter().map(|&g| Complex32::new(g, 0.0)).collect();
    let mut h = vec![0f32; n];
    // Lengths come from the plan itself, so processing cannot fail.
    let _ = c2r.process(&mut spec, &mut h);
    let taps = n + 1;
    (0..taps)
        .map(|i| {
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos();
            let lag = (i + n - n / 2) % n;
            h[lag] / n as f32 * w as f32
        })
        .collect()
}

/// Filters channel-major chunks of `chunk_len()` samples per channel and queues the
/// results; the first `taps − 1` outputs (the kernel filling) are dropped, so output `i`
/// is input `i + (taps − 1) / 2` filtered, with the whole kernel's history behind it.
pub struct FirStream {
    taps: usize,
    size: usize,
    kernels: Vec<Vec<Complex32>>,
    history: Vec<Vec<f32>>,
    /// The chunk being gathered, channel-major, `chunk_len()` per channel.
    pending: Vec<f32>,
    /// Samples per channel in `pending` so far.
    gathered: usize,
    r2c: Arc<dyn RealToComplex<f32>>,
    c2r: Arc<dyn ComplexToReal<f32>>,
    time: Vec<f32>,
    freq: Vec<Complex32>,
    ready: Ready,
    discard: usize,
}

impl FirStream {
    /// A stream filtering each channel by its kernel (all of one odd length).
    pub fn new(kernels: &[Vec<f32>]) -> Result<Self> {
        let taps = kernels.first().map_or(0, Vec::len);
        if taps == 0 || taps.is_multiple_of(2) || kernels.iter().any(|k| k.len() != taps) {
            return Err(Error::BadInput(
                "FIR: kernels must share one odd, non-zero length".into(),
            ));
        }
        let size = (4 * taps).next_power_of_two();
        let mut planner = RealFftPlanner::<f32>::new();
        let (r2c, c2r) = (
            planner.plan_fft_forward(size),
            planner.plan_fft_inverse(size),
        );
        let mut freq = r2c.make_output_vec();
        let spectra = kernels
            .iter()
            .map(|k| {
                let mut time = vec![0f32; size];
                time[..taps].copy_from_slice(k);
                let _ = r2c.process(&mut time, &mut freq);
                freq.iter().map(|v| v / size as f32).collect()
            })
            .collect();
        let chunk = size - taps + 1;
        Ok(FirStream {
            taps,
            size,
            kernels: spectra,
            history: vec![vec![0.0; taps - 1]; kernels.len()],
            pending: vec![0.0; chunk * kernels.len()],
            gathered: 0,
            time: vec![0.0; size],
            freq,
            r2c,
            c2r,
            ready: Ready::new(kernels.len(), 2 * chunk),
            discard: taps - 1,
        })
    }

    /// How many samples output `i` lags behind the input it is centred on: input `i + delay`
    /// comes out as output `i`, so a time marked on the input moves `delay` samples earlier.
    pub fn delay(&self) -> usize {
        (self.taps - 1) / 2
    }

    /// New samples per channel each [`FirStream::push`] takes.
    pub fn chunk_len(&self) -> usize {
        self.size - self.taps + 1
    }

    /// Filtered samples ready in every channel.
    pub fn available(&self) -> usize {
        self.ready.available()
    }

    /// Filters `x`, `chunk_len()` samples of each channel, channel-major.
    pub fn push(&mut self, x: &[f32]) {
        self.push_some(x, self.chunk_len());
    }

    /// Input samples per channel still missing from the chunk being gathered.
    pub fn room(&self) -> usize {
        self.chunk_len() - self.gathered
    }

    /// Adds `m` samples of each channel (channel-major `x`) to the chunk being gathered,
    /// filtering each chunk as it becomes whole.
    pub fn push_some(&mut self, x: &[f32], m: usize) {
        let len = self.chunk_len();
        let mut from = 0;
        while from < m {
            let (at, k) = (self.gathered, (m - from).min(len - self.gathered));
            for (c, x) in x.chunks_exact(m).take(self.history.len()).enumerate() {
                self.pending[c * len + at..c * len + at + k].copy_from_slice(&x[from..from + k]);
            }
            (self.gathered, from) = (at + k, from + k);
            if self.gathered == len {
                self.filter_pending();
                self.gathered = 0;
            }
        }
    }

    /// Moves `n` filtered samples per channel into the channel-major `out`, taking input
    /// from `source(buffer, m)` (`m` samples per channel, channel-major) as it needs and
    /// `scratch` to hold it. While no more than a chunk is ready it also takes in twice what
    /// it hands out, so the next chunk is whole before the ready samples run out: a model's
    /// work is spread over the blocks instead of a whole chunk's (seconds of signal) falling
    /// in the one block that runs out.
    pub fn pull_through(
        &mut self,
        out: &mut [f32],
        n: usize,
        scratch: &mut Vec<f32>,
        mut source: impl FnMut(&mut [f32], usize) -> Result<()>,
    ) -> Result<()> {
        while self.available() < n {
            self.take_in(self.room(), scratch, &mut source)?;
        }
        if !self.pull(out, n) {
            return Err(Error::BadInput(format!(
                "{n} filtered samples per channel were not ready"
            )));
        }
        if self.available() <= self.chunk_len() {
            self.take_in((2 * n).min(self.room()), scratch, &mut source)?;
        }
        Ok(())
    }

    /// Takes `m` samples per channel from `source` into the chunk being gathered.
    fn take_in(
        &mut self,
        m: usize,
        scratch: &mut Vec<f32>,
        source: &mut impl FnMut(&mut [f32], usize) -> Result<()>,
    ) -> Result<()> {
        if m == 0 {
            return Ok(());
        }
        scratch.resize(m * self.history.len(), 0.0);
        source(scratch, m)?;
        self.push_some(scratch, m);
        Ok(())
    }

    /// Filters the whole chunk in `pending` and queues its outputs.
    fn filter_pending(&mut self) {
        let (m, h) = (self.chunk_len(), self.taps - 1);
        let drop = self.discard.min(m);
        for (c, x) in self.pending.chunks_exact(m).enumerate() {
            self.time[..h].copy_from_slice(&self.history[c]);
            self.time[h..].copy_from_slice(x);
            self.history[c].copy_from_slice(&self.time[self.size - h..]);
            let _ = self.r2c.process(&mut self.time, &mut self.freq);
            for (f, k) in self.freq.iter_mut().zip(&self.kernels[c]) {
                *f *= k;
            }
            let _ = self.c2r.process(&mut self.freq, &mut self.time);
            // Circular convolution: outputs before index `h` wrapped around; the rest are
            // the linear convolution of the new samples with their history.
            self.ready.lane(c).extend(&self.time[h + drop..]);
        }
        self.discard -= drop;
    }

    /// Moves `len` filtered samples per channel into the channel-major `out`.
    pub fn pull(&mut self, out: &mut [f32], len: usize) -> bool {
        self.ready.pull(out, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Overlap-save equals direct convolution, delayed by half the kernel, across chunks.
    #[test]
    fn matches_direct_convolution_across_chunks() {
        let gain: Vec<f32> = (0..33).map(|k| 1.0 + (k as f32 / 8.0).sin()).collect();
        let h = design(&gain);
        assert_eq!(h.len(), 65);
        let mut f = FirStream::new(std::slice::from_ref(&h)).unwrap();
        let m = f.chunk_len();
        let x: Vec<f32> = (0..3 * m)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        for c in x.chunks_exact(m) {
            f.push(c);
        }
        let n = f.available();
        assert_eq!(n, 3 * m - 64);
        let mut y = vec![0f32; n];
        assert!(f.pull(&mut y, n));
        for (i, &v) in y.iter().enumerate().step_by(37) {
            let t = i + 64;
            let direct: f32 = (0..65).map(|k| h[k] * x[t - k]).sum();
            assert!((v - direct).abs() < 1e-4, "sample {i}: {v} vs {direct}");
        }
    }

    /// Input pushed in pieces of any size, or pulled through a source block by block, comes
    /// out as whole chunks do; pulled through, no block takes in more than twice its own
    /// length once the first chunk is in, and the ready samples never run out.
    #[test]
    fn pieces_and_pulls_through_match_whole_chunks() {
        let gain: Vec<f32> = (0..33).map(|k| 1.0 + (k as f32 / 8.0).sin()).collect();
        let h = design(&gain);
        let kernels = [h.clone(), h];
        let mut whole = FirStream::new(&kernels).unwrap();
        let m = whole.chunk_len();
        let signal = |c: usize, i: usize| ((i * 7919 + c * 31) % 101) as f32 / 50.0 - 1.0;
        let x: Vec<f32> = (0..2)
            .flat_map(|c| (0..4 * m).map(move |i| signal(c, i)))
            .collect();
        for k in 0..4 {
            let chunk: Vec<f32> = (0..2)
                .flat_map(|c| x[c * 4 * m + k * m..c * 4 * m + (k + 1) * m].to_vec())
                .collect();
            whole.push(&chunk);
        }
        let n = whole.available();
        let mut want = vec![0f32; 2 * n];
        assert!(whole.pull(&mut want, n));

        let mut pieces = FirStream::new(&kernels).unwrap();
        let mut at = 0;
        for k in [1, 97, m - 5, 2 * m, 13].iter().cycle() {
            let k = (*k).min(4 * m - at);
            let piece: Vec<f32> = (0..2)
                .flat_map(|c| x[c * 4 * m + at..c * 4 * m + at + k].to_vec())
                .collect();
            pieces.push_some(&piece, k);
            at += k;
            if at == 4 * m {
                break;
            }
        }
        let mut got = vec![0f32; 2 * n];
        assert!(pieces.pull(&mut got, n));
        assert_eq!(got, want);

        let mut pulled = FirStream::new(&kernels).unwrap();
        let (block, mut fed, mut scratch) = (7, 0usize, Vec::new());
        let mut out = vec![0f32; 2 * block];
        let mut first = true;
        for b in 0..n / block {
            let before = fed;
            pulled
                .pull_through(&mut out, block, &mut scratch, |buf, k| {
                    for c in 0..2 {
                        for i in 0..k {
                            buf[c * k + i] = signal(c, fed + i);
                        }
                    }
                    fed += k;
                    Ok(())
                })
                .unwrap();
            assert!(
                first || fed - before <= 2 * block,
                "block {b} took {}",
                fed - before
            );
            first = false;
            for c in 0..2 {
                let w = &want[c * n + b * block..c * n + (b + 1) * block];
                assert_eq!(&out[c * block..(c + 1) * block], w, "block {b}");
            }
        }
    }

    /// The designed response follows the gains (flat 2 → 2; a step is reached a few bins on).
    #[test]
    fn designed_kernels_follow_their_gains() {
        let dc: f32 = design(&[2.0; 65]).iter().sum();
        assert!((dc - 2.0).abs() < 1e-3, "{dc}");
        let step: Vec<f32> = (0..65).map(|k| if k < 32 { 1.0 } else { 0.25 }).collect();
        let h = design(&step);
        let response = |f: f64| -> f64 {
            let (re, im) = h.iter().enumerate().fold((0.0, 0.0), |(re, im), (i, &v)| {
                let a = std::f64::consts::TAU * f * i as f64;
                (re + f64::from(v) * a.cos(), im - f64::from(v) * a.sin())
            });
            (re * re + im * im).sqrt()
        };
        assert!((response(10.0 / 128.0) - 1.0).abs() < 0.02);
        assert!((response(50.0 / 128.0) - 0.25).abs() < 0.02);
        assert!(FirStream::new(&[vec![1.0; 4]]).is_err());
    }
}
