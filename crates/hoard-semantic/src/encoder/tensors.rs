//! Reading a BERT model's `config.json` and `model.safetensors` into plain `f32` arrays.

use std::collections::HashMap;

use super::ops::Activation;

/// The parts of a Hugging Face BERT `config.json` the encoder needs.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) vocab_size: usize,
    pub(crate) hidden_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) intermediate_size: usize,
    pub(crate) activation: Activation,
    pub(crate) max_position_embeddings: usize,
    pub(crate) type_vocab_size: usize,
    pub(crate) layer_norm_eps: f32,
}

#[derive(serde::Deserialize)]
struct RawConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_act")]
    hidden_act: String,
    max_position_embeddings: usize,
    #[serde(default = "default_types")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_positions")]
    position_embedding_type: String,
}

fn default_act() -> String {
    "gelu".to_owned()
}
fn default_types() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_positions() -> String {
    "absolute".to_owned()
}

impl Config {
    /// Reads a BERT config, refusing what this encoder does not compute (another
    /// activation, relative positions, heads that do not divide the hidden size).
    pub(crate) fn from_json(value: serde_json::Value) -> Result<Config, String> {
        let raw: RawConfig = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let activation = match raw.hidden_act.as_str() {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => {
                return Err(format!(
                    "hidden_act {other:?} is not supported (gelu, gelu_new, relu)"
                ))
            }
        };
        if raw.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type {:?} is not supported (only absolute)",
                raw.position_embedding_type
            ));
        }
        if raw.num_attention_heads == 0 || !raw.hidden_size.is_multiple_of(raw.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                raw.hidden_size, raw.num_attention_heads
            ));
        }
        Ok(Config {
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            intermediate_size: raw.intermediate_size,
            activation,
            max_position_embeddings: raw.max_position_embeddings,
            type_vocab_size: raw.type_vocab_size,
            layer_norm_eps: raw.layer_norm_eps as f32,
        })
    }
}

/// One tensor: its shape and its numbers, row-major.
#[derive(Debug, Clone)]
pub(crate) struct Tensor {
    pub(crate) shape: Vec<usize>,
    pub(crate) data: Vec<f32>,
}

/// The tensors of a safetensors file by name, converted to `f32`.
#[derive(Debug, Default)]
pub(crate) struct Tensors(HashMap<String, Tensor>);

impl Tensors {
    /// Parses a safetensors file (`F32`, `F16` or `BF16` tensors).
    pub(crate) fn read(bytes: &[u8]) -> Result<Tensors, String> {
        let file = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
        let mut out = HashMap::new();
        for (name, view) in file.iter() {
            let raw = view.data();
            let data: Vec<f32> = match view.dtype() {
                safetensors::Dtype::F32 => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                safetensors::Dtype::F16 => raw
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                safetensors::Dtype::BF16 => raw
                    .chunks_exact(2)
                    .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                // Integer buffers (position_ids in some exports) are not weights.
                safetensors::Dtype::I64 | safetensors::Dtype::I32 => continue,
                other => {
                    return Err(format!(
                        "tensor {name} has dtype {other:?} (F32, F16 or BF16 expected)"
                    ))
                }
            };
            out.insert(
                name.to_owned(),
                Tensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(Tensors(out))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Tensor> {
        self.0.get(name)
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub(crate) fn insert(&mut self, name: String, tensor: Tensor) {
        self.0.insert(name, tensor);
    }

    /// Every tensor by name.
    pub(crate) fn into_map(self) -> HashMap<String, Tensor> {
        self.0
    }

    /// Takes the tensor `name` out, checking its shape.
    pub(crate) fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        let tensor = self
            .0
            .remove(name)
            .ok_or_else(|| format!("no tensor {name}"))?;
        if tensor.shape != shape {
            return Err(format!(
                "{name} has shape {:?}, expected {shape:?}",
                tensor.shape
            ));
        }
        Ok(tensor.data)
    }
}
