//! The stable hash of a `#[cached]` call's arguments: key format `v2`.
//!
//! A call's key is `{name}:v2:{hash}`, where `hash` is 32 lowercase hex digits: the
//! XXH3-128 digest (default secret, seed 0, the canonical big-endian form `xxhsum -H2`
//! prints) of the byte stream below. The arguments are fed to the hash as serde serializes
//! them, without any text or tree in between, so a hit costs one pass over the argument
//! bytes. The stream depends only on the values (never on the process, the platform, the
//! pointer width or hoard's version): changing anything below is a new format version
//! (a new marker in the key), and `tests/cached/keys.rs` and `args/tests.rs` pin it.
//!
//! # The byte stream
//!
//! The arguments (minus `self` and the `skip`ped ones) are one sequence:
//! `SEQ arg₁ arg₂ … END`. Each value starts with a one-byte tag; lengths are `u64`
//! little-endian; every value is self-delimiting, so concatenations cannot collide
//! (`("ab", "c")` and `("a", "bc")` differ).
//!
//! | serde form | bytes |
//! |---|---|
//! | `()`, unit struct | `01` |
//! | `None` | `02` |
//! | `Some(v)` | `03` v |
//! | `false`, `true` | `04`, `05` |
//! | integer ≥ 0 (any width, signed or not) | `06` + the value as `u128` LE (16 bytes) |
//! | integer < 0 | `07` + the value as `i128` LE (16 bytes) |
//! | float (`f32` widened to `f64`) | `08` + `f64::to_bits` LE (8 bytes); every NaN as `0x7ff8000000000000`; `-0.0` stays apart from `0.0` |
//! | string, `char` | `09` + byte length + UTF-8 bytes |
//! | bytes (`serialize_bytes`) | `0a` + length + bytes |
//! | sequence, tuple, tuple struct | `0b` elements… `00` |
//! | struct | `0c` (field name as a string, value)… `00`; skipped fields are absent |
//! | map | `0d` + entry count + each entry's digest (below) as 16 bytes LE, in ascending order |
//! | unit variant | `0e` + variant name as a string |
//! | newtype variant | `0f` + name + value |
//! | tuple variant | `10` + name + elements… `00` |
//! | struct variant | `11` + name + (field name, value)… `00` |
//!
//! A newtype struct is its inner value (`UserId(7)` hashes as `7`).
//!
//! What this decides:
//! - **Integers by value**: `1u8`, `1u64` and `1i32` give the same key, so widening an
//!   argument's type keeps its entries. Floats are never integers: `1.0` and `1` differ.
//! - **Maps by content**: a map's entries are hashed one by one (the XXH3-128 of the
//!   entry's key then value, each encoded as above) and the digests sorted, so a `HashMap`
//!   gives the same key whatever its iteration order, and equals a `BTreeMap` of the same
//!   entries. Sets are sequences to serde: a `HashSet` argument keys by its iteration
//!   order, which changes between processes (use a `BTreeSet` or a sorted `Vec`).
//! - **Names, not positions**: struct fields and enum variants are hashed by name
//!   (reordering variants cannot make one variant's call find another's entry); renaming a
//!   field or variant, or reordering a struct's fields, changes the keys. Type names are
//!   not hashed.
//! - `Option` is tagged (`Some(None)` and `None` differ), and so are units.
//! - Values are serialized in their human-readable form (`is_human_readable` is true), the
//!   form their JSON has.
//!
//! Why XXH3-128: every call hashes its arguments, hit or miss, and BLAKE3 of a short
//! stream costs about as much as the whole memory lookup (hoard-bench measured the
//! `#[cached]` hit at ~3x a direct `get` with canonical JSON through BLAKE3); XXH3 on the
//! same bytes is a few nanoseconds. 128 bits because 64 are too few for a cache that may
//! hold billions of entries: with 128, a billion entries collide with probability about
//! 10⁻²¹. XXH3 is specified bit for bit across platforms and reads its input
//! little-endian, so the digest is the same everywhere.
//!
//! XXH3-128 is not a cryptographic hash: distinct honest arguments collide only by the
//! chance above, but someone who chooses arguments to collide on purpose could. Where an attacker picks the
//! arguments and a wrong hit would hand them another caller's result, give the key with
//! `key = ...`, built with [`crate::stable_hash`] (BLAKE3).

use serde::ser::{self, Serialize};
use xxhash_rust::xxh3::{xxh3_128, Xxh3Default};

/// The one-byte tags of the stream (see the module docs).
mod tag {
    pub const END: u8 = 0x00;
    pub const UNIT: u8 = 0x01;
    pub const NONE: u8 = 0x02;
    pub const SOME: u8 = 0x03;
    pub const FALSE: u8 = 0x04;
    pub const TRUE: u8 = 0x05;
    pub const UINT: u8 = 0x06;
    pub const NEG_INT: u8 = 0x07;
    pub const FLOAT: u8 = 0x08;
    pub const STR: u8 = 0x09;
    pub const BYTES: u8 = 0x0a;
    pub const SEQ: u8 = 0x0b;
    pub const STRUCT: u8 = 0x0c;
    pub const MAP: u8 = 0x0d;
    pub const UNIT_VARIANT: u8 = 0x0e;
    pub const NEWTYPE_VARIANT: u8 = 0x0f;
    pub const TUPLE_VARIANT: u8 = 0x10;
    pub const STRUCT_VARIANT: u8 = 0x11;
}

/// The bits every NaN is hashed as: `f64::NAN`'s, so NaNs of any sign or payload agree.
const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// The stream of a call's arguments, opened: they form one sequence.
#[inline(always)]
pub(crate) fn call() -> Encoder {
    let mut encoder = Encoder::new();
    encoder.tag(tag::SEQ);
    encoder
}

/// Closes the sequence [`call`] opened, after the last argument.
#[inline(always)]
pub(crate) fn close(encoder: &mut Encoder) {
    encoder.tag(tag::END);
}

/// A serialization a user's `Serialize` impl refused (the stream itself takes any value).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EncodeError(String);

impl ser::Error for EncodeError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        EncodeError(message.to_string())
    }
}

/// Bytes of a stream hashed in one shot at the end; a longer stream streams through XXH3.
const BUFFERED: usize = 256;

/// The XXH3-128 of the byte stream of the values serialized into it.
///
/// The bytes gather in a buffer on the stack and are hashed in one shot at the end, the
/// fast path for the short streams arguments make; past [`BUFFERED`] bytes they go through
/// XXH3's streaming state, which gives the same digest as one shot over the whole stream.
/// A plain array and a length rather than an `ArrayVec`, with the writes inlined: the hash
/// of a two-argument call measured about a tenth faster so (a noisy measurement, kept
/// because it was never slower).
pub(crate) struct Encoder {
    buffer: [u8; BUFFERED],
    len: usize,
    streamed: Option<Box<Xxh3Default>>,
}

impl Encoder {
    /// An empty stream.
    #[inline(always)]
    pub(crate) fn new() -> Encoder {
        Encoder {
            buffer: [0; BUFFERED],
            len: 0,
            streamed: None,
        }
    }

    /// Appends bytes to the stream.
    #[inline(always)]
    fn write(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        match self.buffer.get_mut(self.len..end) {
            Some(free) => {
                free.copy_from_slice(bytes);
                self.len = end;
            }
            None => self.spill(bytes),
        }
    }

    /// The buffer is full: its bytes, then `bytes`, go to the streaming state.
    #[cold]
    fn spill(&mut self, bytes: &[u8]) {
        let streamed = self
            .streamed
            .get_or_insert_with(|| Box::new(Xxh3Default::new()));
        streamed.update(&self.buffer[..self.len]);
        match self.buffer.get_mut(..bytes.len()) {
            Some(free) => {
                free.copy_from_slice(bytes);
                self.len = bytes.len();
            }
            None => {
                streamed.update(bytes);
                self.len = 0;
            }
        }
    }

    /// Appends one tag.
    #[inline(always)]
    fn tag(&mut self, tag: u8) {
        self.write(&[tag]);
    }

    /// Appends `value` in the stream's encoding.
    #[inline]
    pub(crate) fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        value.serialize(self)
    }

    /// The digest of everything appended so far (the stream is spent: nothing more may be
    /// appended).
    #[inline]
    pub(crate) fn digest(&mut self) -> u128 {
        let pending = &self.buffer[..self.len];
        match &mut self.streamed {
            None => xxh3_128(pending),
            Some(streamed) => {
                streamed.update(pending);
                self.len = 0;
                streamed.digest128()
            }
        }
    }

    /// A tag and 16 bytes in one write.
    #[inline]
    fn tagged16(&mut self, tag: u8, bytes: [u8; 16]) {
        let mut out = [0u8; 17];
        out[0] = tag;
        out[1..].copy_from_slice(&bytes);
        self.write(&out);
    }

    #[inline]
    fn uint(&mut self, value: u128) {
        self.tagged16(tag::UINT, value.to_le_bytes());
    }

    #[inline]
    fn int(&mut self, value: i128) {
        match u128::try_from(value) {
            Ok(non_negative) => self.uint(non_negative),
            Err(_) => self.tagged16(tag::NEG_INT, value.to_le_bytes()),
        }
    }

    /// A tag, a `u64` LE length and the bytes.
    #[inline]
    fn sized(&mut self, tag: u8, bytes: &[u8]) {
        let mut head = [0u8; 9];
        head[0] = tag;
        head[1..].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.write(&head);
        self.write(bytes);
    }

    #[inline]
    fn text(&mut self, text: &str) {
        self.sized(tag::STR, text.as_bytes());
    }
}

impl<'a> ser::Serializer for &'a mut Encoder {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = MapEncoder<'a>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), EncodeError> {
        self.tag(if v { tag::TRUE } else { tag::FALSE });
        Ok(())
    }

    #[inline]
    fn serialize_i8(self, v: i8) -> Result<(), EncodeError> {
        self.int(v.into());
        Ok(())
    }

    #[inline]
    fn serialize_i16(self, v: i16) -> Result<(), EncodeError> {
        self.int(v.into());
        Ok(())
    }

    #[inline]
    fn serialize_i32(self, v: i32) -> Result<(), EncodeError> {
        self.int(v.into());
        Ok(())
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), EncodeError> {
        self.int(v.into());
        Ok(())
    }

    #[inline]
    fn serialize_i128(self, v: i128) -> Result<(), EncodeError> {
        self.int(v);
        Ok(())
    }

    #[inline]
    fn serialize_u8(self, v: u8) -> Result<(), EncodeError> {
        self.uint(v.into());
        Ok(())
    }

    #[inline]
    fn serialize_u16(self, v: u16) -> Result<(), EncodeError> {
        self.uint(v.into());
        Ok(())
    }

    #[inline]
    fn serialize_u32(self, v: u32) -> Result<(), EncodeError> {
        self.uint(v.into());
        Ok(())
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), EncodeError> {
        self.uint(v.into());
        Ok(())
    }

    #[inline]
    fn serialize_u128(self, v: u128) -> Result<(), EncodeError> {
        self.uint(v);
        Ok(())
    }

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<(), EncodeError> {
        // Widening is exact: an f32 argument keys as the f64 of the same value.
        self.serialize_f64(v.into())
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<(), EncodeError> {
        let bits = if v.is_nan() {
            CANONICAL_NAN
        } else {
            v.to_bits()
        };
        let mut out = [0u8; 9];
        out[0] = tag::FLOAT;
        out[1..].copy_from_slice(&bits.to_le_bytes());
        self.write(&out);
        Ok(())
    }

    #[inline]
    fn serialize_char(self, v: char) -> Result<(), EncodeError> {
        self.text(v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), EncodeError> {
        self.text(v);
        Ok(())
    }

    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result<(), EncodeError> {
        self.sized(tag::BYTES, v);
        Ok(())
    }

    #[inline]
    fn serialize_none(self) -> Result<(), EncodeError> {
        self.tag(tag::NONE);
        Ok(())
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), EncodeError> {
        self.tag(tag::SOME);
        value.serialize(self)
    }

    #[inline]
    fn serialize_unit(self) -> Result<(), EncodeError> {
        self.tag(tag::UNIT);
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), EncodeError> {
        self.tag(tag::UNIT);
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), EncodeError> {
        self.tag(tag::UNIT_VARIANT);
        self.text(variant);
        Ok(())
    }

    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        self.tag(tag::NEWTYPE_VARIANT);
        self.text(variant);
        value.serialize(self)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self, EncodeError> {
        self.tag(tag::SEQ);
        Ok(self)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self, EncodeError> {
        self.tag(tag::SEQ);
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, EncodeError> {
        self.tag(tag::SEQ);
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, EncodeError> {
        self.tag(tag::TUPLE_VARIANT);
        self.text(variant);
        Ok(self)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<MapEncoder<'a>, EncodeError> {
        Ok(MapEncoder {
            parent: self,
            digests: Vec::with_capacity(len.unwrap_or(0)),
            entry: None,
        })
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, EncodeError> {
        self.tag(tag::STRUCT);
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, EncodeError> {
        self.tag(tag::STRUCT_VARIANT);
        self.text(variant);
        Ok(self)
    }
}

impl ser::SerializeSeq for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), EncodeError> {
        self.tag(tag::END);
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), EncodeError> {
        self.tag(tag::END);
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), EncodeError> {
        self.tag(tag::END);
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), EncodeError> {
        self.tag(tag::END);
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        self.text(name);
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), EncodeError> {
        self.tag(tag::END);
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        self.text(name);
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), EncodeError> {
        self.tag(tag::END);
        Ok(())
    }
}

/// A map being hashed: each entry into a stream of its own, whose digests are sorted and
/// appended to the parent's at the end, so the order entries come in does not matter.
pub(crate) struct MapEncoder<'a> {
    parent: &'a mut Encoder,
    digests: Vec<u128>,
    /// The entry whose key has been written and whose value has not.
    entry: Option<Encoder>,
}

impl ser::SerializeMap for MapEncoder<'_> {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), EncodeError> {
        let mut entry = Encoder::new();
        key.serialize(&mut entry)?;
        self.entry = Some(entry);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        let Some(mut entry) = self.entry.take() else {
            return Err(ser::Error::custom(
                "a map value was serialized before its key",
            ));
        };
        value.serialize(&mut entry)?;
        self.digests.push(entry.digest());
        Ok(())
    }

    fn end(mut self) -> Result<(), EncodeError> {
        if self.entry.is_some() {
            return Err(ser::Error::custom(
                "a map key was serialized without its value",
            ));
        }
        self.digests.sort_unstable();
        let mut head = [0u8; 9];
        head[0] = tag::MAP;
        head[1..].copy_from_slice(&(self.digests.len() as u64).to_le_bytes());
        self.parent.write(&head);
        for digest in &self.digests {
            self.parent.write(&digest.to_le_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
