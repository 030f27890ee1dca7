//! Gateway transport compression, as the `compress` query parameter asks for it.
//!
//! Discord keeps one compression context for the whole connection and flushes it after every
//! message, so each WebSocket binary message decodes on its own given everything before it:
//! `zlib-stream` is one zlib stream flushed with `Z_SYNC_FLUSH` (every message ends in
//! `00 00 ff ff`), `zstd-stream` is one zstd frame flushed per message. Without `compress`, or
//! with a value the stand-in does not know, messages go out as uncompressed text frames.

use flate2::{Compress, Compression, FlushCompress};
use zstd::zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd::zstd_safe::{CCtx, InBuffer, OutBuffer};

/// The transport compression of one connection.
pub(crate) enum Compressor {
    /// Text frames.
    None,
    /// `compress=zlib-stream`.
    Zlib(Box<Compress>),
    /// `compress=zstd-stream`.
    Zstd(Box<CCtx<'static>>),
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "Compressor::None",
            Self::Zlib(_) => "Compressor::Zlib",
            Self::Zstd(_) => "Compressor::Zstd",
        })
    }
}

/// Compression failed (an internal error of the compression library).
#[derive(Debug, thiserror::Error)]
#[error("compression failed: {0}")]
pub(crate) struct CompressError(String);

impl Compressor {
    /// The compressor the `compress` query value asks for.
    pub(crate) fn for_query(compress: Option<&str>) -> Self {
        match compress {
            Some("zlib-stream") => {
                Self::Zlib(Box::new(Compress::new(Compression::default(), true)))
            }
            Some("zstd-stream") => Self::Zstd(Box::new(CCtx::create())),
            _ => Self::None,
        }
    }

    /// The name of the transport compression, as the query spells it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Zlib(_) => "zlib-stream",
            Self::Zstd(_) => "zstd-stream",
        }
    }

    /// Whether messages go out as binary frames.
    pub(crate) fn is_binary(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// Compresses one message and flushes, continuing the connection's stream.
    pub(crate) fn compress(&mut self, message: &[u8]) -> Result<Vec<u8>, CompressError> {
        match self {
            Self::None => Ok(message.to_vec()),
            Self::Zlib(zlib) => zlib_sync_flush(zlib, message),
            Self::Zstd(zstd) => zstd_flush(zstd, message),
        }
    }
}

fn zlib_sync_flush(zlib: &mut Compress, message: &[u8]) -> Result<Vec<u8>, CompressError> {
    let mut out = Vec::with_capacity(message.len() / 2 + 64);
    let start = zlib.total_in();
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        let consumed = usize::try_from(zlib.total_in() - start).unwrap_or(message.len());
        zlib.compress_vec(&message[consumed..], &mut out, FlushCompress::Sync)
            .map_err(|error| CompressError(error.to_string()))?;
        let consumed = usize::try_from(zlib.total_in() - start).unwrap_or(message.len());
        // The flush is complete once all input is in and the output buffer was not filled.
        if consumed == message.len() && out.len() < out.capacity() {
            return Ok(out);
        }
    }
}

fn zstd_flush(zstd: &mut CCtx<'static>, message: &[u8]) -> Result<Vec<u8>, CompressError> {
    let mut out = Vec::with_capacity(message.len() / 2 + 64);
    let mut input = InBuffer::around(message);
    let mut chunk = vec![0_u8; 16 * 1024];
    loop {
        let mut output = OutBuffer::around(chunk.as_mut_slice());
        let remaining = zstd
            .compress_stream2(&mut output, &mut input, ZSTD_EndDirective::ZSTD_e_flush)
            .map_err(|code| CompressError(zstd::zstd_safe::get_error_name(code).to_owned()))?;
        let written = output.pos();
        out.extend_from_slice(&chunk[..written]);
        if remaining == 0 && input.pos == message.len() {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};
    use zstd::zstd_safe::DCtx;

    const MESSAGES: [&str; 3] = [
        r#"{"op":10,"d":{"heartbeat_interval":41250}}"#,
        r#"{"op":11}"#,
        r#"{"op":0,"t":"READY","s":1,"d":{"v":10}}"#,
    ];

    #[test]
    fn zlib_messages_end_in_sync_marker_and_decode_in_one_stream() {
        let mut compressor = Compressor::for_query(Some("zlib-stream"));
        let mut inflate = Decompress::new(true);
        for message in MESSAGES {
            let frame = compressor.compress(message.as_bytes()).expect("compress");
            assert!(frame.ends_with(&[0, 0, 0xff, 0xff]), "{frame:?}");
            let mut out = Vec::with_capacity(4096);
            inflate
                .decompress_vec(&frame, &mut out, FlushDecompress::Sync)
                .expect("inflate");
            assert_eq!(String::from_utf8(out).expect("utf-8"), message);
        }
    }

    #[test]
    fn zstd_messages_decode_in_one_stream() {
        let mut compressor = Compressor::for_query(Some("zstd-stream"));
        let mut dctx = DCtx::create();
        for message in MESSAGES {
            let frame = compressor.compress(message.as_bytes()).expect("compress");
            let mut buffer = vec![0_u8; 4096];
            let mut output = OutBuffer::around(buffer.as_mut_slice());
            let mut input = InBuffer::around(&frame);
            dctx.decompress_stream(&mut output, &mut input)
                .expect("decompress");
            let len = output.pos();
            assert_eq!(std::str::from_utf8(&buffer[..len]).expect("utf-8"), message);
        }
    }

    #[test]
    fn unknown_compression_is_text() {
        assert!(!Compressor::for_query(Some("brotli")).is_binary());
        assert!(!Compressor::for_query(None).is_binary());
    }
}
