//! Audio probing: duration, sample rate and channels, without decoding samples.
//!
//! WAV is parsed here from its chunk headers (one small read for the common layout).
//! MP3, FLAC and Ogg Vorbis go through symphonia's demuxers: the stream headers give the
//! rate and channels, and the frame count comes from the container (FLAC STREAMINFO, the
//! last Ogg page's granule position) or, for MP3, from walking the frame headers, which is
//! exact for CBR and VBR alike and notices a truncated file.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// What a probe learns about one audio file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioInfo {
    /// Length in seconds (encoder delay and padding excluded where the file says them).
    pub duration: f64,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
}

/// The audio formats a dataset may hold, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RIFF WAVE (`.wav`, `.wave`).
    Wav,
    /// MPEG-1/2 Layer III (`.mp3`).
    Mp3,
    /// FLAC (`.flac`).
    Flac,
    /// Ogg Vorbis (`.ogg`, `.oga`).
    Ogg,
}

impl Format {
    /// The format a file name's extension names, if it is one of ours (case-insensitive).
    pub fn from_name(name: &str) -> Option<Format> {
        let (_, extension) = name.rsplit_once('.')?;
        // Lowercased on the stack: this runs for every file of every walk.
        let mut lower = [0u8; 4];
        if extension.len() > lower.len() {
            return None;
        }
        let lower = &mut lower[..extension.len()];
        lower.copy_from_slice(extension.as_bytes());
        lower.make_ascii_lowercase();
        match &*lower {
            b"wav" | b"wave" => Some(Format::Wav),
            b"mp3" => Some(Format::Mp3),
            b"flac" => Some(Format::Flac),
            b"ogg" | b"oga" => Some(Format::Ogg),
            _ => None,
        }
    }

    /// The HTTP `Content-Type` of files in this format.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Wav => "audio/wav",
            Format::Mp3 => "audio/mpeg",
            Format::Flac => "audio/flac",
            Format::Ogg => "audio/ogg",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Wav => "wav",
            Format::Mp3 => "mp3",
            Format::Flac => "flac",
            Format::Ogg => "ogg",
        }
    }
}

/// Reads the header of the file at `path` as `format`. The error is a sentence for the
/// manifest entry's `error` field.
pub fn probe(path: &Path, format: Format) -> Result<AudioInfo, String> {
    match format {
        Format::Wav => probe_wav(path),
        other => {
            // symphonia can panic on some malformed inputs (arithmetic on header fields);
            // a bad file must become an error entry, never take the scan down.
            let path = path.to_path_buf();
            std::panic::catch_unwind(move || probe_with_symphonia(&path, other))
                .unwrap_or_else(|_| Err("the decoder failed on a malformed stream".into()))
        }
    }
}

fn probe_wav(path: &Path) -> Result<AudioInfo, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let file_len = file.metadata().map_err(|e| e.to_string())?.len();
    parse_wav(BufReader::with_capacity(4096, file), file_len)
}

/// Parses RIFF/RF64 WAVE chunk headers from `reader` (`file_len` bytes long).
fn parse_wav(mut reader: impl Read + Seek, file_len: u64) -> Result<AudioInfo, String> {
    let mut riff = [0u8; 12];
    reader
        .read_exact(&mut riff)
        .map_err(|_| "not a WAV file: shorter than a RIFF header".to_owned())?;
    if !(&riff[0..4] == b"RIFF" || &riff[0..4] == b"RF64") || &riff[8..12] != b"WAVE" {
        return Err("not a WAV file: no RIFF/WAVE header".into());
    }
    let mut position = 12u64;
    let mut fmt: Option<WavFormat> = None;
    let mut fact_frames: Option<u64> = None;
    let mut ds64_data_len: Option<u64> = None;
    loop {
        let mut header = [0u8; 8];
        if reader.read_exact(&mut header).is_err() {
            return Err("truncated: no data chunk".into());
        }
        position += 8;
        let id = [header[0], header[1], header[2], header[3]];
        let len = u64::from(u32::from_le_bytes([
            header[4], header[5], header[6], header[7],
        ]));
        match &id {
            b"fmt " => {
                let mut body = [0u8; 16];
                if len < 16 || reader.read_exact(&mut body).is_err() {
                    return Err("corrupt: fmt chunk is too short".into());
                }
                fmt = Some(WavFormat::parse(&body)?);
                skip(&mut reader, len - 16 + (len & 1))?;
            }
            b"fact" if len >= 4 => {
                let mut body = [0u8; 4];
                reader
                    .read_exact(&mut body)
                    .map_err(|_| "truncated: fact chunk")?;
                fact_frames = Some(u64::from(u32::from_le_bytes(body)));
                skip(&mut reader, len - 4 + (len & 1))?;
            }
            b"ds64" if len >= 16 => {
                // RF64: the real data length is a 64-bit field here.
                let mut body = [0u8; 16];
                reader
                    .read_exact(&mut body)
                    .map_err(|_| "truncated: ds64 chunk")?;
                let mut data_len = [0u8; 8];
                data_len.copy_from_slice(&body[8..16]);
                ds64_data_len = Some(u64::from_le_bytes(data_len));
                skip(&mut reader, len - 16 + (len & 1))?;
            }
            b"data" => {
                let fmt = fmt.ok_or("corrupt: data chunk before fmt chunk")?;
                let available = file_len.saturating_sub(position);
                let riff_len = u32::from_le_bytes([riff[4], riff[5], riff[6], riff[7]]);
                let data_len = match (len, ds64_data_len) {
                    (0xFFFF_FFFF, Some(real)) => real,
                    // Streaming writers leave u32::MAX, or 0 in both the RIFF and the data
                    // length: the data runs to the end. A 0 data length in a finished file
                    // is an empty recording, whatever chunks follow it.
                    (0xFFFF_FFFF, None) => available,
                    (0, None) if riff_len == 0 || riff_len == 0xFFFF_FFFF => available,
                    (len, _) => len,
                };
                if data_len > available {
                    return Err(format!(
                        "truncated: data chunk declares {data_len} bytes, the file holds {available}"
                    ));
                }
                return fmt.info(data_len, fact_frames);
            }
            _ => skip(&mut reader, len + (len & 1))?,
        }
        position += len + (len & 1);
    }
}

fn skip(reader: &mut impl Seek, bytes: u64) -> Result<(), String> {
    let bytes = i64::try_from(bytes).map_err(|_| "corrupt: chunk length".to_owned())?;
    reader
        .seek(SeekFrom::Current(bytes))
        .map(drop)
        .map_err(|e| format!("cannot read: {e}"))
}

#[derive(Debug, Clone, Copy)]
struct WavFormat {
    tag: u16,
    channels: u16,
    sample_rate: u32,
    block_align: u16,
}

impl WavFormat {
    fn parse(body: &[u8; 16]) -> Result<WavFormat, String> {
        let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
        let format = WavFormat {
            tag: u16_at(0),
            channels: u16_at(2),
            sample_rate: u32::from_le_bytes([body[4], body[5], body[6], body[7]]),
            block_align: u16_at(12),
        };
        if format.channels == 0 || format.sample_rate == 0 || format.block_align == 0 {
            return Err("corrupt: fmt chunk has zero channels, rate or block size".into());
        }
        Ok(format)
    }

    fn info(self, data_len: u64, fact_frames: Option<u64>) -> Result<AudioInfo, String> {
        // PCM, IEEE float, A-law, mu-law and EXTENSIBLE store whole frames of block_align
        // bytes; compressed encodings need the fact chunk's frame count.
        let frames = match (self.tag, fact_frames) {
            (1 | 3 | 6 | 7 | 0xFFFE, _) => data_len / u64::from(self.block_align),
            (_, Some(frames)) => frames,
            (tag, None) => {
                return Err(format!(
                    "unsupported WAV encoding 0x{tag:04x} without a fact chunk"
                ))
            }
        };
        Ok(AudioInfo {
            duration: frames as f64 / f64::from(self.sample_rate),
            sample_rate: self.sample_rate,
            channels: self.channels,
        })
    }
}

fn probe_with_symphonia(path: &Path, format: Format) -> Result<AudioInfo, String> {
    use symphonia::core::errors::Error as SymphoniaError;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(format.extension());
    // Gapless trimming stays off for MP3: symphonia trims packets against the declared
    // length, which without a Xing/Info frame count is a guess from the first frames; the
    // delay and padding a LAME tag records are taken off below instead. Ogg needs it on:
    // the last page's granule position is what ends the stream early.
    let options = FormatOptions {
        enable_gapless: format != Format::Mp3,
        ..FormatOptions::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, stream, &options, &MetadataOptions::default())
        .map_err(|e| format!("not a readable {} file: {e}", format.extension()))?;
    let mut reader = probed.format;
    let track = reader
        .default_track()
        .ok_or_else(|| "no audio track".to_owned())?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let sample_rate = params
        .sample_rate
        .filter(|rate| *rate > 0)
        .ok_or_else(|| "no sample rate in the stream header".to_owned())?;
    let channels = params
        .channels
        .map(|c| c.count() as u16)
        .ok_or_else(|| "no channel layout in the stream header".to_owned())?;
    // The time base is 1/sample_rate for all three formats; use it when it says otherwise.
    let seconds = |frames: u64| match params.time_base {
        Some(base) => {
            let time = base.calc_time(frames);
            time.seconds as f64 + time.frac
        }
        None => frames as f64 / f64::from(sample_rate),
    };
    let frames = match (format, params.n_frames) {
        (Format::Mp3, declared) => {
            let mut counted = 0u64;
            loop {
                match reader.next_packet() {
                    Ok(packet) if packet.track_id() == track_id => counted += packet.dur(),
                    Ok(_) => {}
                    Err(SymphoniaError::IoError(e))
                        if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                    {
                        break
                    }
                    Err(e) => return Err(format!("corrupt mp3 frame: {e}")),
                }
            }
            match (params.delay, params.padding, declared) {
                // A LAME tag: the Info frame's count is exact, so fewer frames is a cut
                // file, and the encoder's delay and padding are not audio.
                (Some(delay), Some(padding), Some(declared)) => {
                    // Without gapless trimming, the declared count includes both.
                    let trim = u64::from(delay) + u64::from(padding);
                    let frame = params.max_frames_per_packet.unwrap_or(1152);
                    if counted + frame < declared {
                        return Err(format!(
                            "truncated: the header declares {:.3} s, the frames hold {:.3} s",
                            seconds(declared.saturating_sub(trim)),
                            seconds(counted.saturating_sub(trim))
                        ));
                    }
                    counted.saturating_sub(trim)
                }
                // No tag: every frame counts; nothing says how long the file should be.
                _ => counted,
            }
        }
        (_, Some(frames)) => frames,
        (_, None) => return Err("the stream does not say its length".into()),
    };
    if frames == 0 {
        return Err("no audio frames".into());
    }
    Ok(AudioInfo {
        duration: seconds(frames),
        sample_rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn wav_bytes(
        tag: u16,
        channels: u16,
        rate: u32,
        block: u16,
        data: u32,
        body: usize,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&data.wrapping_add(36).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        out.extend_from_slice(&block.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data.to_le_bytes());
        out.resize(out.len() + body, 0);
        out
    }

    fn parse(bytes: &[u8]) -> Result<AudioInfo, String> {
        parse_wav(Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn pcm_duration_is_frames_over_rate() {
        let info = parse(&wav_bytes(1, 2, 8000, 4, 32_000, 32_000)).unwrap();
        assert_eq!(info.sample_rate, 8000);
        assert_eq!(info.channels, 2);
        assert!((info.duration - 1.0).abs() < 1e-9);
    }

    #[test]
    fn streaming_length_runs_to_the_end_of_the_file() {
        let info = parse(&wav_bytes(1, 1, 1000, 2, 0xFFFF_FFFF, 500)).unwrap();
        assert!((info.duration - 0.25).abs() < 1e-9);
    }

    #[test]
    fn an_empty_data_chunk_is_empty_whatever_follows_it() {
        let mut bytes = wav_bytes(1, 1, 1000, 2, 0, 0);
        bytes.extend_from_slice(b"LIST");
        bytes.extend_from_slice(&100u32.to_le_bytes());
        bytes.resize(bytes.len() + 100, b'x');
        let riff_len = (bytes.len() - 8) as u32;
        bytes[4..8].copy_from_slice(&riff_len.to_le_bytes());
        assert_eq!(parse(&bytes).unwrap().duration, 0.0);
    }

    #[test]
    fn damaged_headers_are_errors() {
        assert!(parse(b"RIFF").unwrap_err().contains("not a WAV"));
        assert!(parse(b"RIFF\0\0\0\0AVIxxxxxxxx")
            .unwrap_err()
            .contains("not a WAV"));
        let cut = wav_bytes(1, 1, 8000, 2, 16_000, 100);
        assert!(parse(&cut).unwrap_err().contains("truncated"));
        let zero_rate = wav_bytes(1, 1, 0, 2, 4, 4);
        assert!(parse(&zero_rate).unwrap_err().contains("corrupt"));
        let adpcm = wav_bytes(0x11, 1, 8000, 256, 512, 512);
        assert!(parse(&adpcm).unwrap_err().contains("unsupported"));
        let header_only = &wav_bytes(1, 1, 8000, 2, 4, 4)[..36];
        assert!(parse(header_only).unwrap_err().contains("no data chunk"));
    }

    #[test]
    fn extensions_name_formats() {
        assert_eq!(Format::from_name("a/B.WAV"), Some(Format::Wav));
        assert_eq!(Format::from_name("x.mp3"), Some(Format::Mp3));
        assert_eq!(Format::from_name("x.oga"), Some(Format::Ogg));
        assert_eq!(Format::from_name("notes.txt"), None);
        assert_eq!(Format::from_name("wav"), None);
    }
}
