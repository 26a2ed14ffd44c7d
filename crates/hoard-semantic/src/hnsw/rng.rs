//! The random stream behind node levels and synthetic data: xorshift64*, seeded through
//! splitmix64's finaliser. Tiny, fast, dependency-free and identical on every platform,
//! so a seed always builds the same graph.

/// Spreads a user seed over the state so that seeds like 0, 1, 2 give unrelated streams
/// (splitmix64's finaliser), and keeps the state non-zero, which xorshift requires.
pub(super) fn seed_state(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) | 1
}

/// Advances `state` and returns the next 64 random bits (xorshift64*).
pub(super) fn next_u64(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}
