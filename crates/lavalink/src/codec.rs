//! lavaplayer's binary track message format (the `encoded` field of a track), decoded and encoded
//! without asking a node.
//!
//! STUB: the real implementation is being written; the public signatures below are fixed.

use crate::model::TrackInfo;

/// Why a track could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Placeholder until the codec lands.
    #[error("track codec not implemented yet")]
    NotImplemented,
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
pub fn decode_track(_encoded: &str) -> Result<DecodedTrack, CodecError> {
    Err(CodecError::NotImplemented)
}

/// Encodes track info as a version 3 message with no source-specific data, base64.
pub fn encode_track(_info: &TrackInfo) -> Result<String, CodecError> {
    Err(CodecError::NotImplemented)
}

/// Encodes a decoded message again, keeping its version and source-specific bytes.
pub fn encode_decoded(_track: &DecodedTrack) -> Result<String, CodecError> {
    Err(CodecError::NotImplemented)
}
