//! The render crate's one error type.

/// Image formats the renderer reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    Jpeg,
    Png,
    WebP,
}

impl Format {
    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::WebP => "image/webp",
        }
    }
}

/// Everything that can go wrong turning bytes into previews. All but `Encode` and
/// `Internal` are the input's fault (bad input, a 4xx).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The bytes are not a JPEG, PNG or WebP image.
    #[error("not a JPEG, PNG or WebP image")]
    UnsupportedFormat,

    /// The file is larger than the configured limit.
    #[error("the file is {bytes} bytes; the limit is {max} bytes")]
    FileTooLarge { bytes: u64, max: u64 },

    /// The header declares more pixels (or a longer side) than the configured limits allow.
    #[error(
        "the image is {width}×{height}; the limit is {max_pixels} pixels and {max_side} px a side"
    )]
    TooManyPixels {
        width: u64,
        height: u64,
        max_pixels: u64,
        max_side: u32,
    },

    /// The header declares a zero width or height.
    #[error("the image has no pixels ({width}×{height})")]
    Empty { width: u64, height: u64 },

    /// A JPEG the decoder could not read (truncated, corrupt Huffman tables, …).
    #[error("the JPEG cannot be decoded")]
    Jpeg(#[source] turbojpeg::Error),

    /// A PNG or WebP the decoder could not read.
    #[error("the {} cannot be decoded", format.media_type())]
    Decode {
        format: Format,
        #[source]
        source: image::ImageError,
    },

    /// A WebP libwebp could not read.
    #[error("the WebP cannot be decoded: {problem}")]
    WebP { problem: &'static str },

    /// JPEG encoding of a preview failed.
    #[error("encoding the preview failed")]
    Encode(#[source] turbojpeg::Error),

    /// Resizing failed (a bug: sizes are checked before).
    #[error("resizing failed")]
    Resize(#[from] fast_image_resize::ResizeError),

    /// A resize buffer did not match its declared size (a bug).
    #[error("resize buffer does not match the image size")]
    ResizeBuffer(#[from] fast_image_resize::ImageBufferError),

    /// Converting between sRGB and linear light failed (a bug).
    #[error("converting between sRGB and linear light failed")]
    LightMapping(#[from] fast_image_resize::MappingError),
}

impl RenderError {
    /// Whether the input is at fault (so a server answers 4xx), rather than the renderer.
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            RenderError::Encode(_)
                | RenderError::Resize(_)
                | RenderError::ResizeBuffer(_)
                | RenderError::LightMapping(_)
        )
    }
}

pub type Result<T, E = RenderError> = std::result::Result<T, E>;
