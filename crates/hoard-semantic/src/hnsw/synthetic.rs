//! Seeded synthetic unit vectors for tests and benchmarks of vector indexes.

/// A tiny seeded generator (xorshift64*), so data sets are reproducible without a
/// dependency and identical across platforms.
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    /// A generator whose stream depends only on `seed`.
    pub fn new(seed: u64) -> SeededRng {
        SeededRng(super::rng::seed_state(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        super::rng::next_u64(&mut self.0)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller). Gaussian coordinates make the direction of a
    /// vector uniform on the sphere, which uniform coordinates would not.
    pub fn gaussian(&mut self) -> f32 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: ln stays finite
        let u2 = self.uniform();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// A random unit vector, uniform on the sphere.
    pub fn unit_vector(&mut self, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim).map(|_| self.gaussian()).collect();
        crate::embed::normalize(&mut v);
        v
    }
}

/// `n` unit vectors uniform on the sphere: the hardest case for any graph index
/// (no structure to exploit), and far less structured than real embeddings.
pub fn random_unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SeededRng::new(seed);
    (0..n).map(|_| rng.unit_vector(dim)).collect()
}

/// `n` unit vectors around `clusters` random centres (chosen by `centre_seed`), each
/// the normalised sum of its centre and Gaussian noise of total length about `spread`
/// (0.5: cosine to the centre near 0.9; 1.0: near 0.7). Closer to sentence embeddings,
/// which bunch by topic. Draw queries from the same distribution with the same
/// `centre_seed` and another `sample_seed`.
pub fn clustered_unit_vectors(
    n: usize,
    dim: usize,
    clusters: usize,
    spread: f32,
    centre_seed: u64,
    sample_seed: u64,
) -> Vec<Vec<f32>> {
    let centres = random_unit_vectors(clusters.max(1), dim, centre_seed);
    let mut rng = SeededRng::new(sample_seed);
    let scale = spread / (dim as f32).sqrt();
    (0..n)
        .map(|_| {
            let centre = &centres[(rng.next_u64() % centres.len() as u64) as usize];
            let mut v: Vec<f32> = centre.iter().map(|c| c + scale * rng.gaussian()).collect();
            crate::embed::normalize(&mut v);
            v
        })
        .collect()
}

/// `n` queries, each a stored vector (picked at random from `base`) plus Gaussian
/// noise of total length about `noise`: a cache lookup for a paraphrase of something
/// stored. `noise` 0.3 gives cosine about 0.96 to the original, 0.6 about 0.86.
pub fn perturbed_queries(base: &[Vec<f32>], n: usize, noise: f32, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SeededRng::new(seed);
    if base.is_empty() {
        return Vec::new();
    }
    (0..n)
        .map(|_| {
            let original = &base[(rng.next_u64() % base.len() as u64) as usize];
            let scale = noise / (original.len() as f32).sqrt();
            let mut v: Vec<f32> = original
                .iter()
                .map(|x| x + scale * rng.gaussian())
                .collect();
            crate::embed::normalize(&mut v);
            v
        })
        .collect()
}
