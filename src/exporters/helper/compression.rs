//! Compressing a request body as the OTLP exporters send it: gzip through flate2
//! (whose backend is zlib-rs, see Cargo.toml) and zstd, at the configured level.

use std::io::Write;

use super::settings::{Compression, CompressionParams};

/// `body` compressed with `compression` at the level of `params` (with
/// [`Compression::None`], a copy).
pub fn compress(compression: Compression, params: &CompressionParams, body: &[u8]) -> std::io::Result<Vec<u8>> {
    compress_after(Vec::new(), compression, params, body)
}

/// `body` compressed onto the end of `out`: what is already in `out` (a gRPC
/// message header's place) stays in front, so the frame is one allocation.
pub fn compress_after(
    mut out: Vec<u8>,
    compression: Compression,
    params: &CompressionParams,
    body: &[u8],
) -> std::io::Result<Vec<u8>> {
    match compression {
        Compression::None => {
            out.extend_from_slice(body);
            Ok(out)
        }
        Compression::Gzip => {
            // OTLP batches compress to well under a quarter (15% at gzip level 1).
            out.reserve(body.len() / 4 + 64);
            let level = flate2::Compression::new(params.gzip_level());
            let mut encoder = flate2::write::GzEncoder::new(out, level);
            encoder.write_all(body)?;
            encoder.finish()
        }
        Compression::Zstd => {
            out.reserve(body.len() / 4 + 64);
            let mut encoder = zstd::stream::write::Encoder::new(out, params.zstd_level())?;
            // The size in the frame header lets zstd pick a window no larger than
            // the body, and tells the receiver how much memory decoding takes.
            encoder.set_pledged_src_size(Some(body.len() as u64))?;
            encoder.include_contentsize(true)?;
            encoder.write_all(body)?;
            encoder.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn body() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| format!("span-{} GET /api/items/{} 200 ", i % 97, i % 13).into_bytes())
            .collect()
    }

    fn level(level: i32) -> CompressionParams {
        CompressionParams { level: Some(level) }
    }

    #[test]
    fn the_gzip_level_reaches_the_compressor() {
        let body = body();
        let fast = compress(Compression::Gzip, &level(1), &body).unwrap();
        let small = compress(Compression::Gzip, &level(9), &body).unwrap();
        assert!(small.len() < fast.len(), "{} vs {}", small.len(), fast.len());
        for compressed in [fast, small] {
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&compressed[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, body);
        }
        // The default is level 1.
        assert_eq!(
            compress(Compression::Gzip, &CompressionParams::default(), &body)
                .unwrap()
                .len(),
            compress(Compression::Gzip, &level(1), &body).unwrap().len()
        );
    }

    #[test]
    fn the_zstd_level_reaches_the_compressor_and_the_size_is_in_the_frame() {
        let body = body();
        let fast = compress(Compression::Zstd, &level(1), &body).unwrap();
        let small = compress(Compression::Zstd, &level(19), &body).unwrap();
        assert!(small.len() < fast.len(), "{} vs {}", small.len(), fast.len());
        for compressed in [fast, small] {
            assert_eq!(
                zstd::zstd_safe::get_frame_content_size(&compressed).ok().flatten(),
                Some(body.len() as u64)
            );
            assert_eq!(zstd::decode_all(&compressed[..]).unwrap(), body);
        }
    }

    #[test]
    fn what_is_in_front_stays_in_front() {
        let out = compress_after(vec![1, 2, 3], Compression::None, &CompressionParams::default(), b"abc").unwrap();
        assert_eq!(out, b"\x01\x02\x03abc");
    }
}
