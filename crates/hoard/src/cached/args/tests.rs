use super::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use xxhash_rust::xxh3::xxh3_128;

fn digest<T: Serialize + ?Sized>(value: &T) -> u128 {
    let mut encoder = Encoder::new();
    encoder.value(value).expect("plain values serialize");
    encoder.digest()
}

/// The stream as the module docs define it, written out by hand.
struct Stream(Vec<u8>);

impl Stream {
    fn new() -> Stream {
        Stream(Vec::new())
    }
    fn tag(mut self, tag: u8) -> Stream {
        self.0.push(tag);
        self
    }
    fn uint(self, v: u128) -> Stream {
        let mut s = self.tag(0x06);
        s.0.extend_from_slice(&v.to_le_bytes());
        s
    }
    fn text(self, text: &str) -> Stream {
        let mut s = self.tag(0x09);
        s.0.extend_from_slice(&(text.len() as u64).to_le_bytes());
        s.0.extend_from_slice(text.as_bytes());
        s
    }
    fn hash(&self) -> u128 {
        xxh3_128(&self.0)
    }
}

#[test]
fn the_stream_is_the_documented_bytes() {
    // (12u64, "emotion-v2") as the arguments of a call.
    let mut call = call();
    call.value(&12u64).unwrap();
    call.value("emotion-v2").unwrap();
    close(&mut call);
    let expected = Stream::new()
        .tag(0x0b)
        .uint(12)
        .text("emotion-v2")
        .tag(0x00);
    assert_eq!(call.digest(), expected.hash());

    #[derive(Serialize)]
    struct Query {
        top_n: u32,
        lang: Option<&'static str>,
    }
    let expected = Stream::new()
        .tag(0x0c)
        .text("top_n")
        .uint(10)
        .text("lang")
        .tag(0x03)
        .text("en")
        .tag(0x00);
    let query = Query {
        top_n: 10,
        lang: Some("en"),
    };
    assert_eq!(digest(&query), expected.hash());

    let mut negative = vec![0x07];
    negative.extend_from_slice(&(-5i128).to_le_bytes());
    assert_eq!(digest(&-5i8), xxh3_128(&negative));
    let mut float = vec![0x08];
    float.extend_from_slice(&1.5f64.to_bits().to_le_bytes());
    assert_eq!(digest(&1.5f32), xxh3_128(&float));
}

#[test]
fn a_map_is_its_sorted_entry_digests() {
    let map: BTreeMap<&str, u32> = [("b", 2), ("a", 1)].into();
    let entry = |k: &str, v: u128| Stream::new().text(k).uint(v).hash();
    let mut digests = [entry("a", 1), entry("b", 2)];
    digests.sort_unstable();
    let mut expected = vec![0x0d];
    expected.extend_from_slice(&2u64.to_le_bytes());
    for d in digests {
        expected.extend_from_slice(&d.to_le_bytes());
    }
    assert_eq!(digest(&map), xxh3_128(&expected));
}

#[test]
fn long_values_stream_to_the_same_digest_as_one_shot() {
    // Past XXH3's 256-byte buffer and its 240-byte short-input path.
    for len in [200, 239, 240, 241, 256, 300, 10_000] {
        let text = "é".repeat(len);
        assert_eq!(digest(&text), Stream::new().text(&text).hash(), "{len}");
    }
}

#[test]
fn integers_key_by_value_whatever_their_type() {
    let one = digest(&1u64);
    assert_eq!(digest(&1u8), one);
    assert_eq!(digest(&1i32), one);
    assert_eq!(digest(&1u128), one);
    assert_ne!(digest(&-1i64), digest(&u128::MAX));
    assert_eq!(digest(&-1i8), digest(&-1i128));
    assert_ne!(digest(&1.0f64), one, "a float is not an integer");
    assert_eq!(digest(&u64::MAX), digest(&u128::from(u64::MAX)));
}

#[test]
fn floats_key_by_their_bits_with_one_nan() {
    assert_ne!(digest(&0.0f64), digest(&-0.0f64));
    assert_eq!(digest(&f64::NAN), digest(&-f64::NAN));
    assert_eq!(
        digest(&f64::NAN),
        digest(&f64::from_bits(0x7ff0_0000_0000_0001))
    );
    assert_eq!(digest(&f32::NAN), digest(&f64::NAN));
    assert_ne!(digest(&f64::INFINITY), digest(&f64::NEG_INFINITY));
    assert_ne!(digest(&f64::INFINITY), digest(&f64::NAN));
    assert_eq!(digest(&0.1f32), digest(&f64::from(0.1f32)));
    assert_ne!(digest(&0.1f32), digest(&0.1f64));
}

#[test]
fn concatenations_and_nestings_do_not_collide() {
    assert_ne!(digest(&("ab", "c")), digest(&("a", "bc")));
    assert_ne!(digest(&(vec!["a"], "b")), digest(&(vec!["a", "b"],)));
    assert_ne!(digest(&Some(None::<u8>)), digest(&None::<Option<u8>>));
    assert_ne!(digest(&()), digest(&None::<u8>));
    assert_ne!(digest(&Vec::<u8>::new()), digest(&()));
    assert_ne!(digest("1"), digest(&1u8));
    assert_ne!(digest(&true), digest(&1u8));
    assert_ne!(digest(&'a'), digest(&97u32));
    assert_eq!(digest(&'é'), digest("é"));
    assert_ne!(
        digest(&[1u8, 2]),
        digest(&[2u8, 1]),
        "a list's order counts"
    );
}

#[test]
fn maps_key_by_content_not_order() {
    let pairs = [
        ("lang", "en"),
        ("emotion", "happy"),
        ("split", "dev"),
        ("speaker", "03"),
    ];
    let mut forward = HashMap::new();
    let mut backward = HashMap::with_capacity(64);
    for (k, v) in pairs {
        forward.insert(k, v);
    }
    for (k, v) in pairs.iter().rev() {
        backward.insert(*k, *v);
    }
    let sorted: BTreeMap<_, _> = pairs.into_iter().collect();
    assert_eq!(digest(&forward), digest(&backward));
    assert_eq!(digest(&forward), digest(&sorted));
    let mut changed = forward.clone();
    changed.insert("split", "test");
    assert_ne!(digest(&changed), digest(&forward));
    // A key and a value do not trade places, and entries do not merge.
    let swapped: BTreeMap<_, _> = [("en", "lang")].into();
    let original: BTreeMap<_, _> = [("lang", "en")].into();
    assert_ne!(digest(&swapped), digest(&original));
    let one: BTreeMap<_, _> = [("ab", "c")].into();
    let other: BTreeMap<_, _> = [("a", "bc")].into();
    assert_ne!(digest(&one), digest(&other));
    // Non-string keys are fine (JSON could not take them).
    let by_id: HashMap<u64, &str> = [(1, "a"), (2, "b")].into();
    let by_id_again: HashMap<u64, &str> = [(2, "b"), (1, "a")].into();
    assert_eq!(digest(&by_id), digest(&by_id_again));
}

#[test]
fn structs_and_enums_key_by_names() {
    #[derive(Serialize)]
    struct A {
        x: u8,
        y: u8,
    }
    #[derive(Serialize)]
    struct B {
        y: u8,
        x: u8,
    }
    #[derive(Serialize)]
    struct Renamed {
        x: u8,
        z: u8,
    }
    #[derive(Serialize)]
    struct Id(u64);
    #[derive(Serialize)]
    enum Split {
        Train,
        Dev,
        Named(String),
        Pair(u8, u8),
        Range { from: u8, to: u8 },
    }
    #[derive(Serialize)]
    enum Reordered {
        Dev,
        Train,
    }
    assert_ne!(digest(&A { x: 1, y: 2 }), digest(&B { x: 1, y: 2 }));
    assert_ne!(digest(&A { x: 1, y: 2 }), digest(&Renamed { x: 1, z: 2 }));
    assert_eq!(digest(&Id(7)), digest(&7u64), "a newtype is its value");
    assert_eq!(
        digest(&Split::Dev),
        digest(&Reordered::Dev),
        "by name, not index"
    );
    assert_eq!(digest(&Split::Train), digest(&Reordered::Train));
    assert_ne!(digest(&Split::Train), digest(&Split::Dev));
    assert_ne!(digest(&Split::Dev), digest("Dev"));
    assert_ne!(
        digest(&Split::Named("dev".into())),
        digest(&Split::Named("train".into()))
    );
    assert_ne!(digest(&Split::Pair(1, 2)), digest(&Split::Pair(2, 1)));
    assert_ne!(
        digest(&Split::Range { from: 1, to: 2 }),
        digest(&Split::Range { from: 2, to: 1 })
    );
}

#[test]
fn a_failing_impl_is_an_error_not_a_panic() {
    struct Refuses;
    impl Serialize for Refuses {
        fn serialize<S: ser::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(ser::Error::custom("refused"))
        }
    }
    let mut encoder = Encoder::new();
    let error = encoder.value(&vec![Refuses]).unwrap_err();
    assert_eq!(error.to_string(), "refused");
    let map: BTreeMap<u8, Refuses> = [(1, Refuses)].into();
    assert!(Encoder::new().value(&map).is_err());
}
