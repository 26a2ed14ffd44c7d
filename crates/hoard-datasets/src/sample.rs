//! A small sample dataset to try the datasets tour on: RAVDESS-style folders
//! (`Actor_01/03-01-EE-II-01-01-01.wav`, the emotion and intensity in the name) of short
//! 16 kHz mono WAV tones, each folder with an `actorNN_metadata.csv` naming every file's
//! emotion. `hoard datasets sample DIR` writes it.

use std::fmt::Write as _;
use std::path::Path;

/// RAVDESS's emotions, by their code (`01` to `08`) in a file name.
pub const EMOTIONS: [&str; 8] = [
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
];

/// Frames per second of the sample's WAVs.
const RATE: u32 = 16_000;

/// Writes `actors` folders of 16 WAVs each (8 emotions at two intensities, a quarter to
/// half a second long) under `root`, with their metadata CSVs; returns how many audio
/// files it wrote. Refuses a `root` that exists and is not an empty folder, so nothing of
/// the user's is overwritten.
pub fn write_sample(root: &Path, actors: usize) -> std::io::Result<usize> {
    if root.exists() && std::fs::read_dir(root)?.next().is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not empty: give a new folder",
                root.display()
            ),
        ));
    }
    let mut written = 0;
    for actor in 1..=actors.clamp(1, 24) {
        let dir = root.join(format!("Actor_{actor:02}"));
        std::fs::create_dir_all(&dir)?;
        let mut csv = String::from("filename,emotion,intensity,statement,actor,gender\n");
        for (code, emotion) in EMOTIONS.iter().enumerate() {
            for intensity in 1..=2 {
                let name = format!("03-01-{:02}-{intensity:02}-01-01-{actor:02}.wav", code + 1);
                // Lengths differ by file, so durations and sizes do too.
                let frames = RATE / 4 + (code as u32 * 500) + intensity * 250;
                std::fs::write(dir.join(&name), tone(frames, 220.0 + 55.0 * code as f64))?;
                let _ = writeln!(
                    csv,
                    "{name},{emotion},{},Kids are talking by the door,{actor},{}",
                    if intensity == 1 { "normal" } else { "strong" },
                    if actor % 2 == 0 { "female" } else { "male" },
                );
                written += 1;
            }
        }
        std::fs::write(dir.join(format!("actor{actor:02}_metadata.csv")), csv)?;
    }
    Ok(written)
}

/// A 16-bit mono PCM WAV of `frames` frames of a sine at `hz`.
fn tone(frames: u32, hz: f64) -> Vec<u8> {
    let data_len = frames * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        let t = f64::from(i) / f64::from(RATE);
        let sample = (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}
