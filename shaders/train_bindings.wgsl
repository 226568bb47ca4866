// Group 2 of the training kernels (train.wgsl, weight_grad.wgsl), beside the chains' group 0
// and the energy's group 1 (bindings.wgsl). The host twins are `TrainParams` and `TRAIN_BINDINGS` in
// src/kernels/train.rs (a test compares them with these declarations).
//
// A training step's batch: chains 0 .. batch are the negatives, batch .. 2 batch the
// positives, each negative with its positive's x.

#import bindings.wgsl

struct TrainParams {
    batch: u32,          // B: positives, and negatives, per step
    objective: u32,      // OBJECTIVE_CD or OBJECTIVE_NCE
    replay_size: u32,    // slots of the replay buffer (0: every negative starts from noise)
    replay_offset: u32,  // this step's first slot: negative c uses (replay_offset + c) mod size
    reinit: f32,         // the share of negatives restarted from noise instead of their slot
    alpha: f32,          // CD: weight of the energy-square regulariser
    step: u32,           // the training step (keys the draws of the negatives' start)
    row: u32,            // the statistics row of this step
    seed_lo: u32,        // the training seed
    seed_hi: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(2) @binding(0) var<uniform> train: TrainParams;
// Per chain of the step, the weight of its energy in the loss's gradient (dLoss/dE_c).
@group(2) @binding(1) var<storage, read_write> chain_weights: array<f32>;
// Per parameter, sum over chains of chain_weights[c] dE_c/dtheta.
@group(2) @binding(2) var<storage, read_write> param_grads: array<f32>;
// The replay buffer of negatives, [replay_size, y_dim].
@group(2) @binding(3) var<storage, read_write> replay: array<f32>;
// The noise distribution of y: per coordinate its mean, then its standard deviation.
@group(2) @binding(4) var<storage, read> noise: array<f32>;
// The statistics: STATS_HEADER words (HALTED_AT, HALTED_FLAGS, CLIP_SCALE), then one row of
// STATS_ROW words per step (ROW_LOSS, ROW_ENERGY_POS, ...), floats as bits.
@group(2) @binding(5) var<storage, read_write> train_stats: array<u32>;
