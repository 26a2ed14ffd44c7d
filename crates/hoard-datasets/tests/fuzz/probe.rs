//! The audio probes on arbitrary bytes: an `AudioInfo` with a positive rate and channel
//! count and a finite, non-negative duration, or an error sentence; never a panic. A panic
//! inside symphonia is caught by `probe` (by design) and counted here, to be reported.
//! WAVs that hound writes probe to exactly the rate, channels and length written.

use hoard_datasets::probe::{probe, Format};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, Once};

thread_local! {
    static PROBING: Cell<Option<Format>> = const { Cell::new(None) };
}

/// Panics raised (and caught) inside a probe: where, and how many times.
pub static CAUGHT: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

/// Records panics raised while this thread probes, instead of printing them.
fn record_caught_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(format) = PROBING.with(Cell::get) {
                let place = info
                    .location()
                    .map_or_else(String::new, |l| format!("{}:{}", l.file(), l.line()));
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                *CAUGHT
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(format!("{format:?} {place}: {message}"))
                    .or_default() += 1;
            } else {
                previous(info);
            }
        }));
    });
}

/// Probes `bytes` written to `path` as `format`.
pub fn probe_bytes(path: &Path, bytes: &[u8], format: Format) {
    record_caught_panics();
    std::fs::write(path, bytes).unwrap();
    PROBING.with(|p| p.set(Some(format)));
    let result = probe(path, format);
    PROBING.with(|p| p.set(None));
    if let Ok(info) = result {
        assert!(info.sample_rate > 0, "{format:?}: rate 0 in {info:?}");
        assert!(info.channels > 0, "{format:?}: no channels in {info:?}");
        assert!(
            info.duration.is_finite() && info.duration >= 0.0,
            "{format:?}: duration {info:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoard_testkit::fuzz::proptest::prelude::*;
    use hoard_testkit::fuzz::{self, Input};
    use std::io::Cursor;

    const DIR: &str = env!("CARGO_MANIFEST_DIR");

    fn fixture(name: &str, head: usize) -> Vec<u8> {
        let bytes = std::fs::read(Path::new(DIR).join("tests/fixtures").join(name)).unwrap();
        bytes[..head.min(bytes.len())].to_vec()
    }

    fn le16(v: u16) -> [u8; 2] {
        v.to_le_bytes()
    }
    fn le32(v: u32) -> [u8; 4] {
        v.to_le_bytes()
    }

    /// A RIFF WAVE file: `fmt ` with `(tag, channels, rate, block)`, then `extra` chunks,
    /// then `data_len` declared and `body` bytes of data.
    fn wav(
        riff: &[u8; 4],
        (tag, channels, rate, block): (u16, u16, u32, u16),
        extra: &[u8],
        data_len: u32,
        body: usize,
    ) -> Vec<u8> {
        let mut out = riff.to_vec();
        out.extend_from_slice(&le32(0)); // patched below
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&le32(16));
        out.extend_from_slice(&le16(tag));
        out.extend_from_slice(&le16(channels));
        out.extend_from_slice(&le32(rate));
        out.extend_from_slice(&le32(rate * u32::from(block)));
        out.extend_from_slice(&le16(block));
        out.extend_from_slice(&le16(block / channels.max(1) * 8));
        out.extend_from_slice(extra);
        out.extend_from_slice(b"data");
        out.extend_from_slice(&le32(data_len));
        out.resize(out.len() + body, 0x55);
        let riff_len = (out.len() - 8) as u32;
        out[4..8].copy_from_slice(&le32(riff_len));
        out
    }

    fn wav_seeds() -> Vec<(&'static str, Vec<u8>)> {
        let mut fact = b"fact".to_vec();
        fact.extend_from_slice(&le32(4));
        fact.extend_from_slice(&le32(8000));
        let mut list = b"LIST".to_vec();
        list.extend_from_slice(&le32(5));
        list.extend_from_slice(b"INFOx\0");
        let mut ds64 = b"ds64".to_vec();
        ds64.extend_from_slice(&le32(28));
        ds64.extend_from_slice(&[0; 8]);
        ds64.extend_from_slice(&64u64.to_le_bytes());
        ds64.extend_from_slice(&[0; 12]);
        vec![
            ("pcm16-mono", wav(b"RIFF", (1, 1, 8000, 2), &[], 64, 64)),
            ("float-stereo", wav(b"RIFF", (3, 2, 48000, 8), &[], 96, 96)),
            (
                "extensible",
                wav(b"RIFF", (0xFFFE, 6, 44100, 12), &[], 120, 120),
            ),
            (
                "adpcm-fact",
                wav(b"RIFF", (0x11, 1, 8000, 256), &fact, 256, 256),
            ),
            ("list-first", wav(b"RIFF", (1, 2, 16000, 4), &list, 40, 40)),
            (
                "streaming",
                wav(b"RIFF", (1, 1, 1000, 2), &[], u32::MAX, 50),
            ),
            ("rf64", wav(b"RF64", (1, 1, 8000, 2), &ds64, u32::MAX, 64)),
            ("empty-data", wav(b"RIFF", (1, 1, 8000, 2), &[], 0, 0)),
        ]
    }

    /// MPEG-1 Layer III frames of 417 bytes (128 kbit/s, 44.1 kHz), payload zero.
    fn mp3_frames(count: usize, mono: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..count {
            let start = out.len();
            out.extend_from_slice(&[0xFF, 0xFB, 0x90, if mono { 0xC4 } else { 0x44 }]);
            out.resize(start + 417, 0);
        }
        out
    }

    fn mp3_seeds() -> Vec<(&'static str, Vec<u8>)> {
        let mut id3 = b"ID3\x04\x00\x00\x00\x00\x00\x0a".to_vec();
        id3.extend_from_slice(&[0; 10]);
        id3.extend_from_slice(&mp3_frames(2, false));
        vec![
            ("cbr-mono", mp3_frames(4, true)),
            ("cbr-stereo", mp3_frames(3, false)),
            ("id3-then-frames", id3),
            ("lame-head", fixture("tone_48k_mono_1500ms.mp3", 2400)),
            ("vbr-head", fixture("vbr_1500ms_no_tag.mp3", 1600)),
        ]
    }

    /// `fLaC` and a last STREAMINFO block: 4096-sample blocks, `rate`, `channels`, 16 bits,
    /// `total` samples.
    fn flac(rate: u64, channels: u64, total: u64) -> Vec<u8> {
        let mut out = b"fLaC".to_vec();
        out.extend_from_slice(&[0x80, 0, 0, 34]);
        out.extend_from_slice(&4096u16.to_be_bytes());
        out.extend_from_slice(&4096u16.to_be_bytes());
        out.extend_from_slice(&[0; 6]); // frame sizes unknown
        let packed = rate << 44 | (channels - 1) << 41 | 15 << 36 | total;
        out.extend_from_slice(&packed.to_be_bytes());
        out.extend_from_slice(&[0; 16]); // MD5 unknown
        out
    }

    fn flac_seeds() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("streaminfo-mono", flac(16000, 1, 32000)),
            ("streaminfo-stereo", flac(44100, 2, 44100)),
            ("streaminfo-unknown-length", flac(48000, 1, 0)),
            ("encoded-head", fixture("tone_16k_mono_2000ms.flac", 2048)),
        ]
    }

    fn ogg_seeds() -> Vec<(&'static str, Vec<u8>)> {
        vec![("vorbis", fixture("tone_44k1_stereo_1250ms.ogg", usize::MAX))]
    }

    const TOKENS: &[&[u8]] = &[
        b"RIFF",
        b"RF64",
        b"WAVE",
        b"fmt ",
        b"data",
        b"fact",
        b"ds64",
        b"LIST",
        b"\xff\xfb",
        b"\xff\xfa",
        b"\xff\xf3",
        b"Xing",
        b"Info",
        b"LAME",
        b"ID3",
        b"fLaC",
        b"\xff\xf8",
        b"OggS",
        b"\x01vorbis",
        b"\x03vorbis",
        b"\x05vorbis",
    ];

    fn run(
        target: &str,
        format: Format,
        extension: &str,
        seeds: Vec<(&'static str, Vec<u8>)>,
        cases: u32,
    ) {
        fuzz::bless(DIR, target, &seeds);
        let corpus = fuzz::corpus(DIR, target);
        let bytes: Vec<Vec<u8>> = corpus.iter().map(|(_, b)| b.clone()).collect();
        let dir = hoard_testkit::temp_dir();
        let path = dir.path().join(format!("input.{extension}"));
        fuzz::check(
            target,
            &corpus,
            fuzz::cases(cases),
            fuzz::mutated(bytes, TOKENS),
            |input: Input| {
                probe_bytes(&path, &input, format);
                Ok(())
            },
            |bytes| Input(bytes.to_vec()),
        );
        let caught = CAUGHT.lock().unwrap();
        let mine = caught
            .iter()
            .filter(|(place, _)| place.starts_with(&format!("{format:?} ")));
        for (place, count) in mine {
            eprintln!("fuzz {target}: the decoder panicked (caught by probe) {count}x at {place}");
        }
    }

    #[test]
    fn wav_probe_never_panics() {
        run("probe-wav", Format::Wav, "wav", wav_seeds(), 1000);
    }

    #[test]
    fn mp3_probe_never_panics() {
        run("probe-mp3", Format::Mp3, "mp3", mp3_seeds(), 600);
    }

    #[test]
    fn flac_probe_never_panics() {
        run("probe-flac", Format::Flac, "flac", flac_seeds(), 600);
    }

    #[test]
    fn ogg_probe_never_panics() {
        run("probe-ogg", Format::Ogg, "ogg", ogg_seeds(), 300);
    }

    #[test]
    fn written_wavs_probe_to_what_was_written() {
        let spec = (
            1u16..=8,
            prop::sample::select(&[1u32, 8000, 22050, 44100, 48000, 192_000, 384_000][..]),
            prop::sample::select(
                &[
                    (8u16, false),
                    (16, false),
                    (24, false),
                    (32, false),
                    (32, true),
                ][..],
            ),
            0u32..2000,
        );
        let dir = hoard_testkit::temp_dir();
        let path = dir.path().join("written.wav");
        fuzz::check(
            "probe-wav-written",
            &[],
            fuzz::cases(300),
            spec,
            |(channels, sample_rate, (bits, float), frames)| {
                let spec = hound::WavSpec {
                    channels,
                    sample_rate,
                    bits_per_sample: bits,
                    sample_format: if float {
                        hound::SampleFormat::Float
                    } else {
                        hound::SampleFormat::Int
                    },
                };
                let mut bytes = Cursor::new(Vec::new());
                let mut writer = hound::WavWriter::new(&mut bytes, spec).unwrap();
                for _ in 0..frames * u32::from(channels) {
                    if float {
                        writer.write_sample(0.25f32).unwrap();
                    } else {
                        writer.write_sample(1i32).unwrap();
                    }
                }
                writer.finalize().unwrap();
                std::fs::write(&path, bytes.get_ref()).unwrap();
                let info = probe(&path, Format::Wav).map_err(TestCaseError::fail)?;
                prop_assert_eq!((info.channels, info.sample_rate), (channels, sample_rate));
                let expected = f64::from(frames) / f64::from(sample_rate);
                prop_assert!(
                    (info.duration - expected).abs() < 1e-9,
                    "{} s, wrote {} s",
                    info.duration,
                    expected
                );
                Ok(())
            },
            |_| (1, 8000, (16, false), 0),
        );
    }
}
