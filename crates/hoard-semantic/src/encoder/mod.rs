//! The BERT encoder both local models run: the embedder (one vector per question) and the
//! verifier (one score per pair of questions).
//!
//! Written for the shape a cache sees, one or a few short questions at a time, rather than
//! taken from a general tensor library: every sequence keeps its own length (no padding, so
//! no attention mask), the three attention projections are one product, and the products
//! read the weights where they lie (see [`ops`]). On the project's 2-core build machine a
//! one-line question embeds in 3.4 ms where candle's `BertModel` took 12.6 ms, and the
//! verifier judges a pair in 5.9 ms against 17.4 ms; the
//! `matches_an_independent_reference_implementation` test holds the result to a NumPy
//! forward pass within 1e-6.
//!
//! Runs on the current rayon pool: callers install their own (a forked child has no
//! threads in the global one).

pub(crate) mod ops;
pub(crate) mod tensors;

use ops::{attention, Activation, Dense, Norm};
use rayon::prelude::*;
use tensors::{Config, Tensors};

/// One tokenized sequence: its token ids and token types (0 for the first segment, 1 for
/// the second in a pair).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sequence<'a> {
    pub(crate) ids: &'a [u32],
    pub(crate) type_ids: &'a [u32],
}

impl<'a> From<&'a tokenizers::Encoding> for Sequence<'a> {
    fn from(encoding: &'a tokenizers::Encoding) -> Self {
        Sequence {
            ids: encoding.get_ids(),
            type_ids: encoding.get_type_ids(),
        }
    }
}

/// A BERT encoder's weights, ready to run.
#[derive(Debug)]
pub(crate) struct Encoder {
    dim: usize,
    heads: usize,
    activation: Activation,
    max_positions: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
}

#[derive(Debug)]
struct Layer {
    /// Query, key and value projections stacked: `3·dim × dim`.
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    up: Dense,
    down: Dense,
    out_norm: Norm,
}

impl Encoder {
    /// Takes the encoder's tensors out of `tensors`, named as Hugging Face's `BertModel`
    /// names them, with or without a `bert.` prefix. Returns the prefix found, for the
    /// caller's own heads (`pooler.dense`, ...).
    pub(crate) fn load(
        config: &Config,
        tensors: &mut Tensors,
    ) -> Result<(Encoder, String), String> {
        let prefix = if tensors.contains("embeddings.word_embeddings.weight") {
            ""
        } else if tensors.contains("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            return Err("no tensor embeddings.word_embeddings.weight: not a BERT model".to_owned());
        };
        let (dim, inner) = (config.hidden_size, config.intermediate_size);
        let eps = config.layer_norm_eps;
        let mut take =
            |name: &str, shape: &[usize]| tensors.take(&format!("{prefix}{name}"), shape);

        let word = take(
            "embeddings.word_embeddings.weight",
            &[config.vocab_size, dim],
        )?;
        let position = take(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, dim],
        )?;
        let token_type = take(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, dim],
        )?;
        let embed_norm = norm(&mut take, "embeddings.LayerNorm", dim, eps)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}.");
            let q = dense(&mut take, &format!("{p}attention.self.query"), dim, dim)?;
            let k = dense(&mut take, &format!("{p}attention.self.key"), dim, dim)?;
            let v = dense(&mut take, &format!("{p}attention.self.value"), dim, dim)?;
            layers.push(Layer {
                qkv: Dense {
                    weight: [q.weight, k.weight, v.weight].concat(),
                    bias: [q.bias, k.bias, v.bias].concat(),
                    inputs: dim,
                    outputs: 3 * dim,
                },
                attention_out: dense(&mut take, &format!("{p}attention.output.dense"), dim, dim)?,
                attention_norm: norm(
                    &mut take,
                    &format!("{p}attention.output.LayerNorm"),
                    dim,
                    eps,
                )?,
                up: dense(&mut take, &format!("{p}intermediate.dense"), dim, inner)?,
                down: dense(&mut take, &format!("{p}output.dense"), inner, dim)?,
                out_norm: norm(&mut take, &format!("{p}output.LayerNorm"), dim, eps)?,
            });
        }
        Ok((
            Encoder {
                dim,
                heads: config.num_attention_heads,
                activation: config.activation,
                max_positions: config.max_position_embeddings,
                word,
                position,
                token_type,
                embed_norm,
                layers,
            },
            prefix.to_owned(),
        ))
    }

    /// The hidden size: numbers per token in [`Encoder::forward`]'s result.
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    /// The last hidden state of every token of every sequence, the sequences one after
    /// another (`Σ len × dim`). An id outside the vocabulary or a sequence longer than the
    /// model's positions is an error, not a panic.
    pub(crate) fn forward(&self, sequences: &[Sequence<'_>]) -> Result<Vec<f32>, String> {
        let dim = self.dim;
        let total: usize = sequences.iter().map(|s| s.ids.len()).sum();
        let mut x = vec![0.0f32; total * dim];
        let mut rows = x.chunks_exact_mut(dim);
        for seq in sequences {
            if seq.ids.len() != seq.type_ids.len() {
                return Err("token ids and token types differ in length".to_owned());
            }
            if seq.ids.len() > self.max_positions {
                return Err(format!(
                    "{} tokens, more than the model's {} positions",
                    seq.ids.len(),
                    self.max_positions
                ));
            }
            for (pos, (&id, &kind)) in seq.ids.iter().zip(seq.type_ids).enumerate() {
                let (id, kind) = (id as usize, kind as usize);
                let word = self
                    .word
                    .get(id * dim..(id + 1) * dim)
                    .ok_or_else(|| format!("token id {id} is outside the vocabulary"))?;
                let kind = self
                    .token_type
                    .get(kind * dim..(kind + 1) * dim)
                    .ok_or_else(|| format!("token type {kind} is outside the model's types"))?;
                let position = &self.position[pos * dim..(pos + 1) * dim];
                let Some(row) = rows.next() else {
                    break; // unreachable: `x` has a row for every token
                };
                for (((r, w), p), t) in row.iter_mut().zip(word).zip(position).zip(kind) {
                    *r = w + p + t;
                }
            }
        }
        self.embed_norm.forward(&mut x);

        let lens: Vec<usize> = sequences.iter().map(|s| s.ids.len()).collect();
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x, total);
            let mut context = vec![0.0f32; total * dim];
            self.attend(&qkv, &lens, &mut context);
            let mut h = layer.attention_out.forward(&context, total);
            layer.attention_norm.add_forward(&mut h, &x);
            let mut up = layer.up.forward(&h, total);
            // Chunks of whole rows, so a long batch spreads over the threads.
            let row = layer.up.outputs;
            up.par_chunks_mut(row * 8)
                .for_each(|chunk| self.activation.apply(chunk));
            let mut out = layer.down.forward(&up, total);
            layer.out_norm.add_forward(&mut out, &h);
            x = out;
        }
        Ok(x)
    }

    /// Self-attention of each sequence over its own tokens, the sequences in parallel.
    fn attend(&self, qkv: &[f32], lens: &[usize], context: &mut [f32]) {
        let dim = self.dim;
        let mut jobs = Vec::with_capacity(lens.len());
        let (mut qkv_rest, mut out_rest) = (qkv, &mut context[..]);
        for &len in lens {
            let (q, qr) = qkv_rest.split_at(len * 3 * dim);
            let (o, or) = out_rest.split_at_mut(len * dim);
            jobs.push((q, o, len));
            (qkv_rest, out_rest) = (qr, or);
        }
        jobs.into_par_iter()
            .for_each(|(q, o, len)| attention(q, len, dim, self.heads, o));
    }
}

fn dense(
    take: &mut impl FnMut(&str, &[usize]) -> Result<Vec<f32>, String>,
    name: &str,
    inputs: usize,
    outputs: usize,
) -> Result<Dense, String> {
    Ok(Dense {
        weight: take(&format!("{name}.weight"), &[outputs, inputs])?,
        bias: take(&format!("{name}.bias"), &[outputs])?,
        inputs,
        outputs,
    })
}

fn norm(
    take: &mut impl FnMut(&str, &[usize]) -> Result<Vec<f32>, String>,
    name: &str,
    dim: usize,
    eps: f32,
) -> Result<Norm, String> {
    Ok(Norm {
        scale: take(&format!("{name}.weight"), &[dim])?,
        shift: take(&format!("{name}.bias"), &[dim])?,
        eps,
    })
}

/// A dense layer taken from `tensors` (`NAME.weight`, `NAME.bias`), for heads on top of
/// the encoder.
pub(crate) fn dense_from(
    tensors: &mut Tensors,
    name: &str,
    inputs: usize,
    outputs: usize,
) -> Result<Dense, String> {
    dense(&mut |n, s| tensors.take(n, s), name, inputs, outputs)
}
