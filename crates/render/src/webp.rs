//! WebP through libwebp, whose decoder can scale while it decodes (WebP's shrink-on-load):
//! a 4096 px WebP bound for a 1000 px preview is decoded straight to 1024 px, never held at
//! full size in RGB.
//!
//! Apart from two `mallopt` calls in `allocator.rs`, this is the render crate's only
//! `unsafe`: four calls into libwebp, each with the buffer and length it is given checked
//! here first.
#![allow(unsafe_code)]

use libwebp_sys::{
    VP8StatusCode, WEBP_CSP_MODE, WEBP_DECODER_ABI_VERSION, WebPBitstreamFeatures, WebPDecode,
    WebPDecoderConfig, WebPFreeDecBuffer, WebPGetFeaturesInternal, WebPRGBABuffer,
};

use crate::error::{RenderError, Result};

/// What a WebP's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    pub has_alpha: bool,
    pub animated: bool,
}

fn check(status: VP8StatusCode) -> Result<()> {
    let problem = match status {
        VP8StatusCode::VP8_STATUS_OK => return Ok(()),
        VP8StatusCode::VP8_STATUS_OUT_OF_MEMORY => "out of memory",
        VP8StatusCode::VP8_STATUS_INVALID_PARAM => "invalid parameter",
        VP8StatusCode::VP8_STATUS_BITSTREAM_ERROR => "corrupt bitstream",
        VP8StatusCode::VP8_STATUS_UNSUPPORTED_FEATURE => "unsupported feature",
        VP8StatusCode::VP8_STATUS_SUSPENDED | VP8StatusCode::VP8_STATUS_USER_ABORT => "aborted",
        VP8StatusCode::VP8_STATUS_NOT_ENOUGH_DATA => "truncated",
    };
    Err(RenderError::WebP { problem })
}

/// Reads the header (dimensions, alpha, animation) without decoding pixels.
pub fn header(bytes: &[u8]) -> Result<Header> {
    let mut features = WebPBitstreamFeatures {
        width: 0,
        height: 0,
        has_alpha: 0,
        has_animation: 0,
        format: 0,
        pad: [0; 5],
    };
    // SAFETY: `bytes` is a live slice and its exact length is passed; `features` is a valid,
    // exclusively borrowed struct of the type libwebp writes. libwebp reads at most
    // `bytes.len()` bytes and writes only `features`.
    let status = unsafe {
        WebPGetFeaturesInternal(
            bytes.as_ptr(),
            bytes.len(),
            &mut features,
            WEBP_DECODER_ABI_VERSION as i32,
        )
    };
    check(status)?;
    Ok(Header {
        width: u32::try_from(features.width).unwrap_or(0),
        height: u32::try_from(features.height).unwrap_or(0),
        has_alpha: features.has_alpha != 0,
        animated: features.has_animation != 0,
    })
}

/// Decodes a still WebP scaled to `width × height`, as RGB (alpha composited over white).
/// The caller has checked the header's dimensions against the limits.
pub fn decode_scaled(bytes: &[u8], header: &Header, width: u32, height: u32) -> Result<Vec<u8>> {
    let channels = if header.has_alpha { 4 } else { 3 };
    let stride = width as usize * channels;
    let mut pixels = vec![0u8; stride * height as usize];
    let mut config = WebPDecoderConfig::new().map_err(|()| RenderError::WebP {
        problem: "decoder version mismatch",
    })?;
    if (width, height) != (header.width, header.height) {
        config.options.use_scaling = 1;
        config.options.scaled_width = width as i32;
        config.options.scaled_height = height as i32;
    }
    config.output.colorspace = if header.has_alpha {
        WEBP_CSP_MODE::MODE_RGBA
    } else {
        WEBP_CSP_MODE::MODE_RGB
    };
    config.output.is_external_memory = 1;
    config.output.u.RGBA = WebPRGBABuffer {
        rgba: pixels.as_mut_ptr(),
        stride: stride as i32,
        size: pixels.len(),
    };
    // SAFETY: the input is a live slice with its exact length. The output is external memory
    // we own: `pixels` is `stride * height` bytes, stride and size are declared accordingly,
    // and libwebp writes within `size` bytes at that stride for the scaled dimensions. The
    // buffer outlives the call and is not touched by Rust while libwebp runs.
    let status = unsafe { WebPDecode(bytes.as_ptr(), bytes.len(), &mut config) };
    // SAFETY: `config.output` was initialised by WebPDecoderConfig::new and used by
    // WebPDecode; with external memory this frees only libwebp's private state.
    unsafe { WebPFreeDecBuffer(&mut config.output) };
    check(status)?;
    if header.has_alpha {
        return Ok(crate::decode::composite_over_white(&pixels));
    }
    Ok(pixels)
}
