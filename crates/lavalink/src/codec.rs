//! lavaplayer's binary track message format (the `encoded` field of a track), decoded and encoded
//! without asking a node.
//!
//! # Format
//!
//! What lavaplayer's `DefaultAudioPlayerManager.encodeTrack` writes through `MessageOutput`, and
//! Lavalink v4 sends as base64 (standard alphabet, padded):
//!
//! | part | encoding |
//! |------|----------|
//! | header | `u32` big endian: top 2 bits flags (`1` = versioned), low 30 bits the body size |
//! | version | one byte, only when the versioned flag is set (else the version is 1) |
//! | title, author | Java `writeUTF`: `u16` byte length + modified UTF-8 |
//! | length | `i64` big endian, milliseconds |
//! | identifier | `writeUTF` |
//! | isStream | one byte, 0 or 1 |
//! | uri | version >= 2: nullable text (one byte present flag + `writeUTF`) |
//! | artworkUrl, isrc | version >= 3: nullable texts |
//! | sourceName | `writeUTF` |
//! | source data | whatever the source manager writes (opaque here, kept verbatim) |
//! | position | `i64` big endian, the last 8 bytes of the body |
//!
//! Modified UTF-8 is Java's: NUL is `C0 80` and a character outside the BMP is two 3-byte
//! surrogates (CESU-8). `isSeekable` is not in the message; it is derived as `!isStream`, which is
//! what Lavalink reports for the built-in sources.
//!
//! # Strictness
//!
//! The decoder accepts exactly the canonical form that lavaplayer's encoder produces, so that
//! [`decode_track`] followed by [`encode_decoded`] gives the same bytes back. lavaplayer itself is
//! laxer in a few corners no encoder uses; those are rejected here with a typed error:
//! bytes after the declared body ([`CodecError::SizeMismatch`]), booleans other than 0 and 1
//! ([`CodecError::InvalidBoolean`]), raw NUL bytes, overlong forms, 4-byte UTF-8 sequences and
//! unpaired surrogates in strings ([`CodecError::InvalidModifiedUtf8`]; an unpaired surrogate also
//! has no Rust `String` form), the flag values 2 and 3 ([`CodecError::UnsupportedFlags`]) and a
//! versioned message that says version 1 ([`CodecError::NonCanonical`]: real version 1 messages
//! predate the flag and carry no version byte).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::model::TrackInfo;

/// The version [`encode_track`] writes (lavaplayer 2.x and Lavalink v4).
pub const CURRENT_VERSION: u8 = 3;

/// The largest body the 30-bit size field of the header can describe.
pub const MAX_BODY_SIZE: usize = 0x3FFF_FFFF;

/// The largest string, in modified UTF-8 bytes, that Java's `writeUTF` can write.
pub const MAX_UTF_LEN: usize = u16::MAX as usize;

/// Header flag: the body starts with a version byte.
const FLAG_VERSIONED: u8 = 1;

/// Standard alphabet; writes padding, accepts input with or without it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a track could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The text is not standard-alphabet base64.
    #[error("invalid base64: {0}")]
    InvalidBase64(String),
    /// The message ends before a field does.
    #[error("track message truncated: {field} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read (`header` for the 4-byte header).
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// The header's body size differs from the number of bytes after the header.
    #[error("track message header declares a {declared}-byte body but {actual} bytes follow")]
    SizeMismatch {
        /// The size in the header.
        declared: usize,
        /// The bytes actually present after the header.
        actual: usize,
    },
    /// Header flags other than 0 (unversioned) and 1 (versioned).
    #[error("unsupported track message flags {0}")]
    UnsupportedFlags(u8),
    /// A version other than 1, 2 or 3.
    #[error("unsupported track message version {0}")]
    UnsupportedVersion(u8),
    /// A form lavaplayer reads but never writes, which could not be re-encoded identically.
    #[error("non-canonical track message: {0}")]
    NonCanonical(&'static str),
    /// A string that is not canonical Java modified UTF-8.
    #[error("invalid modified UTF-8 in {field} at byte {offset}")]
    InvalidModifiedUtf8 {
        /// The field being read.
        field: &'static str,
        /// Offset of the bad sequence within the string's bytes.
        offset: usize,
    },
    /// A boolean byte other than 0 or 1.
    #[error("invalid boolean {value} in {field}")]
    InvalidBoolean {
        /// The field being read.
        field: &'static str,
        /// The byte found.
        value: u8,
    },
    /// A negative position, which [`TrackInfo`] cannot hold.
    #[error("{field} is negative ({value})")]
    NegativeValue {
        /// The field (`position`).
        field: &'static str,
        /// The value in the message.
        value: i64,
    },
    /// A length or position above `i64::MAX`, which a Java `long` cannot hold.
    #[error("{field} {value} does not fit a Java long")]
    ValueTooLarge {
        /// The field (`position`).
        field: &'static str,
        /// The value given.
        value: u64,
    },
    /// A string longer than the 65535 bytes of modified UTF-8 that `writeUTF` can write.
    #[error("{field} is {len} bytes of modified UTF-8, more than 65535")]
    StringTooLong {
        /// The field being written.
        field: &'static str,
        /// Its encoded length.
        len: usize,
    },
    /// A field set that the requested message version cannot carry.
    #[error("a version {version} track message cannot carry {field}")]
    FieldNotInVersion {
        /// The field that is set.
        field: &'static str,
        /// The requested version.
        version: u8,
    },
    /// A body larger than the header's 30-bit size field.
    #[error("track message body of {size} bytes exceeds the 30-bit size field")]
    MessageTooLarge {
        /// The body size.
        size: usize,
    },
}

/// A decoded track message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedTrack {
    /// The message version (1 to 3).
    pub version: u8,
    /// The track info, with `position` taken from the message.
    pub info: TrackInfo,
    /// Source-specific bytes between `sourceName` and `position`, kept verbatim for re-encoding.
    pub source_data: Vec<u8>,
}

/// Decodes a base64 track message.
pub fn decode_track(encoded: &str) -> Result<DecodedTrack, CodecError> {
    let mut bytes = Vec::with_capacity(base64::decoded_len_estimate(encoded.len()));
    BASE64
        .decode_vec(encoded, &mut bytes)
        .map_err(|error| CodecError::InvalidBase64(error.to_string()))?;
    decode_message(&bytes)
}

/// Encodes track info as a version 3 message with no source-specific data, base64.
///
/// `is_seekable` is not part of the message (a decoder derives it as `!is_stream`).
pub fn encode_track(info: &TrackInfo) -> Result<String, CodecError> {
    encode_parts(CURRENT_VERSION, info, &[]).map(|bytes| BASE64.encode(bytes))
}

/// Encodes a decoded message again, keeping its version and source-specific bytes.
///
/// For a message that [`decode_track`] accepted the result is the same base64 (always padded).
pub fn encode_decoded(track: &DecodedTrack) -> Result<String, CodecError> {
    encode_message(track).map(|bytes| BASE64.encode(bytes))
}

/// Decodes a raw (not base64) track message.
pub fn decode_message(bytes: &[u8]) -> Result<DecodedTrack, CodecError> {
    let mut reader = Reader { rest: bytes };
    let header: [u8; 4] = reader.array("header")?;
    let flags = header[0] >> 6;
    let declared = usize::try_from(u32::from_be_bytes(header) & 0x3FFF_FFFF).unwrap_or(usize::MAX);
    if declared != reader.rest.len() {
        return Err(CodecError::SizeMismatch {
            declared,
            actual: reader.rest.len(),
        });
    }
    let version = match flags {
        0 => 1,
        FLAG_VERSIONED => match reader.byte("version")? {
            1 => return Err(CodecError::NonCanonical("version 1 in a versioned message")),
            version @ 2..=3 => version,
            version => return Err(CodecError::UnsupportedVersion(version)),
        },
        flags => return Err(CodecError::UnsupportedFlags(flags)),
    };

    let title = reader.utf("title")?;
    let author = reader.utf("author")?;
    // A Java long: servers that do not know a length write -1.
    let length = i64::from_be_bytes(reader.array("length")?);
    let identifier = reader.utf("identifier")?;
    let is_stream = reader.boolean("isStream")?;
    let uri = if version >= 2 {
        reader.nullable_utf("uri")?
    } else {
        None
    };
    let (artwork_url, isrc) = if version >= 3 {
        (
            reader.nullable_utf("artworkUrl")?,
            reader.nullable_utf("isrc")?,
        )
    } else {
        (None, None)
    };
    let source_name = reader.utf("sourceName")?;
    let Some((source_data, position)) = reader.rest.split_last_chunk::<8>() else {
        return Err(CodecError::Truncated {
            field: "position",
            needed: 8,
            available: reader.rest.len(),
        });
    };
    let position = non_negative("position", i64::from_be_bytes(*position))?;

    Ok(DecodedTrack {
        version,
        info: TrackInfo {
            identifier,
            is_seekable: !is_stream,
            author,
            length,
            is_stream,
            position,
            title,
            uri,
            artwork_url,
            isrc,
            source_name,
        },
        source_data: source_data.to_vec(),
    })
}

/// Encodes a decoded message as raw bytes (not base64), keeping its version and source data.
pub fn encode_message(track: &DecodedTrack) -> Result<Vec<u8>, CodecError> {
    encode_parts(track.version, &track.info, &track.source_data)
}

fn encode_parts(version: u8, info: &TrackInfo, source_data: &[u8]) -> Result<Vec<u8>, CodecError> {
    if !(1..=3).contains(&version) {
        return Err(CodecError::UnsupportedVersion(version));
    }
    let absent = |field: &'static str, present: bool, since: u8| {
        if version < since && present {
            Err(CodecError::FieldNotInVersion { field, version })
        } else {
            Ok(())
        }
    };
    absent("uri", info.uri.is_some(), 2)?;
    absent("artworkUrl", info.artwork_url.is_some(), 3)?;
    absent("isrc", info.isrc.is_some(), 3)?;
    let length = info.length;
    let position = java_long("position", info.position)?;

    let texts = [
        Some(&info.title),
        Some(&info.author),
        Some(&info.identifier),
        info.uri.as_ref(),
        info.artwork_url.as_ref(),
        info.isrc.as_ref(),
        Some(&info.source_name),
    ];
    if source_data.len() > MAX_BODY_SIZE {
        return Err(CodecError::MessageTooLarge {
            size: source_data.len(),
        });
    }
    // Header, version, length, isStream, position; 2 length bytes and a presence byte per text.
    // Exact unless a text holds NUL or characters outside the BMP, or is too long (which
    // write_utf reports before writing it).
    let fixed = 4 + 1 + 8 + 1 + 8;
    let capacity = texts
        .iter()
        .flatten()
        .map(|s| s.len().min(MAX_UTF_LEN) + 3)
        .sum::<usize>()
        + source_data.len()
        + fixed;
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(&[0; 4]);
    let flags = if version >= 2 {
        out.push(version);
        FLAG_VERSIONED
    } else {
        0
    };
    write_utf(&mut out, "title", &info.title)?;
    write_utf(&mut out, "author", &info.author)?;
    out.extend_from_slice(&length.to_be_bytes());
    write_utf(&mut out, "identifier", &info.identifier)?;
    out.push(u8::from(info.is_stream));
    if version >= 2 {
        write_nullable_utf(&mut out, "uri", info.uri.as_deref())?;
    }
    if version >= 3 {
        write_nullable_utf(&mut out, "artworkUrl", info.artwork_url.as_deref())?;
        write_nullable_utf(&mut out, "isrc", info.isrc.as_deref())?;
    }
    write_utf(&mut out, "sourceName", &info.source_name)?;
    out.extend_from_slice(source_data);
    out.extend_from_slice(&position.to_be_bytes());

    let size = out.len() - 4;
    let size_field = u32::try_from(size)
        .ok()
        .filter(|&s| s <= 0x3FFF_FFFF)
        .ok_or(CodecError::MessageTooLarge { size })?;
    if let Some(header) = out.first_chunk_mut::<4>() {
        *header = ((u32::from(flags) << 30) | size_field).to_be_bytes();
    }
    Ok(out)
}

fn java_long(field: &'static str, value: u64) -> Result<i64, CodecError> {
    i64::try_from(value).map_err(|_| CodecError::ValueTooLarge { field, value })
}

fn non_negative(field: &'static str, value: i64) -> Result<u64, CodecError> {
    u64::try_from(value).map_err(|_| CodecError::NegativeValue { field, value })
}

/// A cursor over the message bytes.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, needed: usize) -> Result<&'a [u8], CodecError> {
        match self.rest.split_at_checked(needed) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(CodecError::Truncated {
                field,
                needed,
                available: self.rest.len(),
            }),
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CodecError> {
        match self.rest.split_first_chunk::<N>() {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(*head)
            }
            None => Err(CodecError::Truncated {
                field,
                needed: N,
                available: self.rest.len(),
            }),
        }
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, CodecError> {
        self.array::<1>(field).map(|[byte]| byte)
    }

    fn boolean(&mut self, field: &'static str) -> Result<bool, CodecError> {
        match self.byte(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(CodecError::InvalidBoolean { field, value }),
        }
    }

    fn utf(&mut self, field: &'static str) -> Result<String, CodecError> {
        let len = u16::from_be_bytes(self.array(field)?);
        let bytes = self.take(field, usize::from(len))?;
        decode_modified_utf8(field, bytes)
    }

    fn nullable_utf(&mut self, field: &'static str) -> Result<Option<String>, CodecError> {
        if self.boolean(field)? {
            self.utf(field).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Decodes canonical Java modified UTF-8 (what `DataOutput.writeUTF` writes).
fn decode_modified_utf8(field: &'static str, bytes: &[u8]) -> Result<String, CodecError> {
    // Without NUL bytes and 4-byte lead bytes, valid UTF-8 (which excludes overlong forms and
    // surrogates) is exactly canonical modified UTF-8 of a string without NUL and outside-BMP
    // characters: the common case, one validation and one copy.
    if !bytes.iter().any(|&b| b == 0 || b >= 0xF0)
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        return Ok(text.to_owned());
    }

    let continuation = |b: u8| b & 0xC0 == 0x80;
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        let invalid = CodecError::InvalidModifiedUtf8 { field, offset };
        let (c, tail) = match rest {
            [b0 @ 0x01..=0x7F, tail @ ..] => (char::from(*b0), tail),
            [0xC0, 0x80, tail @ ..] => ('\0', tail),
            // C0 and C1 lead bytes would be overlong (only C0 80, the NUL, is canonical).
            [b0 @ 0xC2..=0xDF, b1, tail @ ..] if continuation(*b1) => {
                let code = (u32::from(b0 & 0x1F) << 6) | u32::from(b1 & 0x3F);
                (char::from_u32(code).ok_or(invalid)?, tail)
            }
            // A surrogate pair: high D800..DBFF is ED A0..AF xx, low DC00..DFFF is ED B0..BF xx.
            [
                0xED,
                h1 @ 0xA0..=0xAF,
                h2,
                0xED,
                l1 @ 0xB0..=0xBF,
                l2,
                tail @ ..,
            ] if continuation(*h2) && continuation(*l2) => {
                let high = (u32::from(h1 & 0x0F) << 6) | u32::from(h2 & 0x3F);
                let low = (u32::from(l1 & 0x0F) << 6) | u32::from(l2 & 0x3F);
                let code = 0x1_0000 + (high << 10) + low;
                (char::from_u32(code).ok_or(invalid)?, tail)
            }
            [b0 @ 0xE0..=0xEF, b1, b2, tail @ ..] if continuation(*b1) && continuation(*b2) => {
                let code = (u32::from(b0 & 0x0F) << 12)
                    | (u32::from(b1 & 0x3F) << 6)
                    | u32::from(b2 & 0x3F);
                // Overlong (below 0x800) or an unpaired surrogate (char::from_u32 refuses those).
                if code < 0x800 {
                    return Err(invalid);
                }
                (char::from_u32(code).ok_or(invalid)?, tail)
            }
            _ => return Err(invalid),
        };
        out.push(c);
        rest = tail;
    }
    Ok(out)
}

/// Writes `text` as Java's `writeUTF` does: `u16` length, then modified UTF-8.
fn write_utf(out: &mut Vec<u8>, field: &'static str, text: &str) -> Result<(), CodecError> {
    // NUL grows from 1 to 2 bytes, a 4-byte UTF-8 character to two 3-byte surrogates.
    let (nuls, astral) = text.bytes().fold((0, 0), |(nuls, astral), b| {
        (nuls + usize::from(b == 0), astral + usize::from(b >= 0xF0))
    });
    let len = text.len() + nuls + 2 * astral;
    let len_field = u16::try_from(len).map_err(|_| CodecError::StringTooLong { field, len })?;
    out.extend_from_slice(&len_field.to_be_bytes());
    if nuls == 0 && astral == 0 {
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    for c in text.chars() {
        if c == '\0' {
            out.extend_from_slice(&[0xC0, 0x80]);
        } else if c.len_utf8() < 4 {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                let [hi, lo] = unit.to_be_bytes();
                out.extend_from_slice(&[
                    0xE0 | (hi >> 4),
                    0x80 | ((hi & 0x0F) << 2) | (lo >> 6),
                    0x80 | (lo & 0x3F),
                ]);
            }
        }
    }
    Ok(())
}

fn write_nullable_utf(
    out: &mut Vec<u8>,
    field: &'static str,
    text: Option<&str>,
) -> Result<(), CodecError> {
    out.push(u8::from(text.is_some()));
    text.map_or(Ok(()), |text| write_utf(out, field, text))
}
