//! The render crate's one error type.

/// Image formats the renderer reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// JPEG (JFIF or EXIF).
    Jpeg,
    /// PNG.
    Png,
    /// WebP (lossy or lossless).
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
    FileTooLarge {
        /// The file's size.
        bytes: u64,
        /// The limit.
        max: u64,
    },

    /// The header declares more pixels (or a longer side) than the configured limits allow.
    #[error(
        "the image is {width}×{height}; the limit is {max_pixels} pixels and {max_side} px a side"
    )]
    TooManyPixels {
        /// The declared width.
        width: u64,
        /// The declared height.
        height: u64,
        /// The most pixels allowed.
        max_pixels: u64,
        /// The longest side allowed.
        max_side: u32,
    },

    /// The header declares a zero width or height.
    #[error("the image has no pixels ({width}×{height})")]
    Empty {
        /// The declared width.
        width: u64,
        /// The declared height.
        height: u64,
    },

    /// A JPEG the decoder could not read (truncated, corrupt Huffman tables, …).
    #[error("the JPEG cannot be decoded")]
    Jpeg(#[source] turbojpeg::Error),

    /// A PNG or WebP the decoder could not read.
    #[error("the {} cannot be decoded", format.media_type())]
    Decode {
        /// Which format it claimed to be.
        format: Format,
        /// The decoder's complaint.
        #[source]
        source: image::ImageError,
    },

    /// A WebP libwebp could not read.
    #[error("the WebP cannot be decoded: {problem}")]
    WebP {
        /// libwebp's complaint.
        problem: &'static str,
    },

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

/// The render crate's results.
pub type Result<T, E = RenderError> = std::result::Result<T, E>;
