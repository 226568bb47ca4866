//! The kernel paths a refinement can run on, and how a caller chooses among them. What
//! each path is, and when it is chosen, is `crate::plan`.

use std::fmt;
use std::str::FromStr;

use crate::kernels::constants::TILE_CHAINS;

/// The kernel path a refinement runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelPath {
    /// One chain per invocation (shaders/chain.wgsl).
    Chain,
    /// `chains` chains per workgroup, every step in one dispatch (shaders/tile.wgsl).
    Tile {
        /// Chains per workgroup: 4, 8, 16 or 32.
        chains: u32,
    },
    /// One dispatch per layer and step (shaders/layered.wgsl).
    Layered,
}

impl fmt::Display for KernelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelPath::Chain => write!(f, "chain"),
            KernelPath::Tile { chains } => write!(f, "tile{chains}"),
            KernelPath::Layered => write!(f, "layered"),
        }
    }
}

/// Which path to run: chosen per call from the model, batch and adapter, or forced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PathChoice {
    /// Let `ebm` choose (the default).
    #[default]
    Auto,
    /// The tile path, at the tile size `ebm` would choose for the batch (`--kernel tile`).
    AnyTile,
    /// Exactly this path.
    Exactly(KernelPath),
}

/// The name `--kernel` takes for this choice: `auto`, `tile`, or the path's own name.
impl fmt::Display for PathChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathChoice::Auto => write!(f, "auto"),
            PathChoice::AnyTile => write!(f, "tile"),
            PathChoice::Exactly(path) => path.fmt(f),
        }
    }
}

impl FromStr for PathChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "auto" => PathChoice::Auto,
            "chain" => PathChoice::Exactly(KernelPath::Chain),
            "tile" => PathChoice::AnyTile,
            "layered" => PathChoice::Exactly(KernelPath::Layered),
            _ => match s.strip_prefix("tile").and_then(|c| c.parse::<u32>().ok()) {
                Some(chains) if TILE_CHAINS.contains(&chains) => {
                    PathChoice::Exactly(KernelPath::Tile { chains })
                }
                _ => {
                    return Err(format!(
                        "unknown kernel path {s:?}; expected auto, chain, tile, tile4, tile8, tile16, tile32 or layered"
                    ))
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_name_parses_and_prints_back() {
        let mut names = vec!["auto", "chain", "tile", "layered"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        names.extend(TILE_CHAINS.iter().map(|c| format!("tile{c}")));
        for name in names {
            let choice: PathChoice = name.parse().unwrap();
            assert_eq!(choice.to_string(), name);
        }
        assert!("tile3".parse::<PathChoice>().is_err());
    }
}
